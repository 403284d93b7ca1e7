// Fetcher: the read side of the block store. Internal to chunk/.
//
// Design note.
//
// Moving parts: a read is cut into pieces, one per block it touches. Each
// piece is served by the block cache (a ranged Get) or, on a miss, by a
// flight: one fetch of the WHOLE block from the object store (so that the
// rest of a partially read block is there for the next read), which puts the
// block into the cache when it lands. Flights of blocks are registered by key,
// so that every reader of a block being fetched waits for that one fetch
// (single flight) instead of issuing its own. Readahead (ReadStream) creates
// flights ahead of a reader at low priority.
//
// Who runs a flight: whoever claims it first, either a worker of the
// download pool or a reader that needs it. A reader claims and runs the
// flights it waits for that no worker has started yet, so a reader never
// waits behind queued readahead and never waits for a pool that has no free
// thread; the pool adds parallelism across the blocks of one request. At
// most download_concurrency + (number of readers) GETs run at once.
//
// Invariants:
// - At most one registered flight per key. A flight stays registered until
//   its block is in the cache (or the cache refused it), and only then is it
//   unregistered; so a reader that misses the cache and finds no flight can
//   tell, by `generation_`, whether a flight ended in between, and then looks
//   in the cache again instead of fetching a second time.
// - A flight's data never changes once it is done; waiters copy from it.
// - Without any cache (Options::memory_cache_bytes 0 and no BlockCache) a
//   read fetches only the bytes asked for, through private flights that are
//   not registered: there is nowhere to keep the rest of the block.
//
// Cache fills: a landed block is written to a disk cache by a task of the
// fill pool, not by the thread that fetched it, which is often the reader: a
// disk cache's file creation would otherwise sit between every cold read and
// its reply. The flight stays registered until its fill is done. A memory
// cache is filled at once (a copy costs less than the hand-off).
//
// Bounds (memory): foreground flights hold at most the blocks of the
// requests being served. Blocks waiting for their cache fill are bounded by
// kMaxPendingFill; past it the fetching thread fills the cache itself. Readahead flights are
// charged to a budget (readahead_bytes) from creation until unregistered; a Prefetch that would
// exceed it is skipped, never waited for.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "cache/cache.h"
#include "chunk/chunk.h"
#include "chunk/task_pool.h"
#include "common/status.h"
#include "object/object_store.h"

namespace shoal::chunk {

// One contiguous range of one block that a read needs.
struct Piece {
  std::string key;         // the block's object key
  uint64_t slice_id = 0;   // for messages
  uint32_t index = 0;      // block index in the slice, for messages
  uint32_t block_len = 0;  // the whole block's length (its name says so)
  uint32_t off = 0;        // start of the range within the block
  uint32_t len = 0;        // bytes wanted (> 0)
  uint64_t dst = 0;        // where they go in the caller's buffer
};

class Fetcher {
 public:
  // Bytes of landed blocks that may wait for their cache fill at once.
  static constexpr uint64_t kMaxPendingFill = 64ull << 20;

  // `cache` may be null: then reads go straight to the store, ranged.
  // `fill_pool` writes landed blocks into the cache (see the design note);
  // null: the fetching thread does (a memory cache, where a hand-off costs
  // more than the copy).
  Fetcher(object::ObjectStore& store, cache::BlockCache* cache, TaskPool& pool, TaskPool* fill_pool,
          uint64_t readahead_budget);

  // Fills dst[p.dst, p.dst + p.len) for every piece. On failure some pieces
  // may be filled; the Status names the block that failed.
  Status Read(const std::vector<Piece>& pieces, char* dst);

  enum class PrefetchResult { kIssued, kPresent, kNoBudget };
  // Starts fetching block `key` (whole, `block_len` bytes) in the background
  // unless it is cached or already being fetched. Never blocks on the store;
  // asks the cache (Contains: its index, no I/O). Without a cache: kPresent.
  PrefetchResult Prefetch(const std::string& key, uint64_t slice_id, uint32_t index,
                          uint32_t block_len);

  // Makes queued flights fail fast instead of fetching; for shutdown.
  void Stop() { stopping_ = true; }

  bool caching() const { return cache_ != nullptr; }
  void FillStats(BlockStoreStats* stats) const;

 private:
  struct Flight;
  using FlightPtr = std::shared_ptr<Flight>;

  // Serves piece `p` from the cache into dst (nullptr), or gives the flight
  // to wait for: one already registered, or one made here (*made), which
  // the caller must see run.
  FlightPtr Lookup(const Piece& p, char* dst, bool* made);
  // The registered flight of `key`, a new one (*created) or, when a flight
  // ended since `generation` was read, nullptr: look in the cache again.
  // kAnyGeneration: never nullptr.
  static constexpr uint64_t kAnyGeneration = ~uint64_t{0};
  FlightPtr Join(const Piece& p, uint64_t generation, bool* created);
  // Runs `f` if nobody has claimed it yet.
  void RunIfUnclaimed(const FlightPtr& f);
  void Run(const FlightPtr& f);
  Result<std::string> FetchFromStore(const Flight& f);
  void Finish(const FlightPtr& f, Status status, std::string data);
  // Hands a landed flight's cache fill (then its unregistering) to the fill
  // pool; false when over kMaxPendingFill or the pool has no thread.
  bool QueueFill(const FlightPtr& f);
  static Status Wait(const FlightPtr& f);
  void Unregister(const FlightPtr& f);

  object::ObjectStore& store_;
  cache::BlockCache* const cache_;
  TaskPool& pool_;
  TaskPool* const fill_pool_;
  const uint64_t readahead_budget_;
  std::atomic<uint64_t> pending_fill_{0};
  std::atomic<bool> stopping_{false};

  std::mutex mu_;
  std::unordered_map<std::string, FlightPtr> flights_;  // guarded by mu_
  std::atomic<uint64_t> generation_{0};  // bumped (under mu_) whenever a flight is unregistered

  std::atomic<uint64_t> readahead_in_flight_{0};
  std::atomic<uint64_t> fetches_{0}, fetched_bytes_{0}, fetch_errors_{0}, hits_{0}, misses_{0},
      joined_{0}, readahead_issued_{0}, readahead_skipped_{0}, gets_in_flight_{0};
};

}  // namespace shoal::chunk
