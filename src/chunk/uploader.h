// Uploader: the write side of the block store. Internal to chunk/.
//
// Design note.
//
// Moving parts:
// - Foreground (Write): each block of a slice becomes a task of the upload
//   pool, which uploads it (then, write-through, caches it) or, with
//   write-back, stages it in the cache. The writer waits for its tasks; the
//   blocks are the writer's memory, not copies.
// - Deferral (write-through): a block the store failed for its whole retry
//   budget is staged in the cache after all and joins the background
//   uploads, so that an outage longer than the budget loses nothing; the
//   writer is told (WriteSlice's `deferred`).
// - Background (write-back): a scheduler thread hands staged keys to a
//   pool of its own, at most upload_concurrency at once. A task
//   reads the staged block back from the cache, PUTs it and calls
//   Uploaded(); a failed PUT is retried after a delay that doubles per
//   failure. Staged keys also come from RecoverStaged (a crash's leftovers).
//
// Invariants:
// - A staged key is in `entries_` from Stage (or recovery) until its upload
//   succeeds or its slice is deleted; nothing is dropped on failure. Keys are
//   small; the blocks stay in the cache, which never evicts staged blocks and
//   refuses to stage past its limit (the writer then uploads directly).
// - Forget (slice deletion) waits for a running upload of the key, so that
//   an upload never lands after the delete that should remove it.
//
// Back-pressure: a writer blocks while upload_buffer_bytes of blocks are in
// the pool, queued or running (always letting one block through, so that a
// block larger than the budget still goes). In write-back mode the same
// budget bounds stagings; the backlog of uploads is bounded by the cache's
// staging room, and when that is full Stage fails and writers upload
// directly, at the store's speed.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cache/cache.h"
#include "chunk/chunk.h"
#include "chunk/task_pool.h"
#include "common/status.h"
#include "object/object_store.h"

namespace shoal::chunk {

class Uploader {
 public:
  struct Block {
    std::string key;
    std::string_view data;  // owned by the caller of Write
    uint32_t index = 0;     // in the slice, for messages
  };

  // `cache` may be null (no write-through, no write-back). `pool` runs the
  // writers' blocks, `background_pool` the uploads of staged blocks: apart,
  // so that a slow store holding every background upload never keeps a
  // writer's staging waiting for a thread.
  Uploader(object::ObjectStore& store, cache::BlockCache* cache, TaskPool& pool,
           TaskPool& background_pool, const BlockStoreOptions& options);
  // Stop() must have been called, and the pool drained, before.
  ~Uploader();

  // Stores the blocks of slice `slice_id`; see BlockStore::WriteSlice.
  Status Write(uint64_t slice_id, const std::vector<Block>& blocks, Status* deferred);
  // The block's slice is being deleted: drops it from the upload queue,
  // waiting for its upload if one is running.
  void Forget(const std::string& key);
  Status Flush();
  size_t Recover();
  // Stops the scheduler; queued background uploads then end at once, and
  // their blocks stay staged.
  void Stop();
  void FillStats(BlockStoreStats* stats) const;

 private:
  using Clock = std::chrono::steady_clock;

  // A staged key this process is to upload.
  struct Entry {
    bool uploading = false;   // a task has it
    bool forgotten = false;   // its slice was deleted while it was uploading
    bool unreadable = false;  // the cache could not give its bytes back: not retried
    int failures = 0;         // consecutive failed attempts (reset by Flush)
    Status last_error;
  };

  // `deferred`: set when the block was staged after the store failed it.
  Status StoreBlock(uint64_t slice_id, const Block& b, Status* deferred);
  Status Upload(uint64_t slice_id, const Block& b);
  void AcquireBudget(uint64_t bytes);
  void ReleaseBudget(uint64_t bytes);

  // Adds a staged key for background upload. False when no scheduler can be
  // started: the caller uploads the block itself.
  bool Enqueue(const std::string& key);
  // With mu_ held: starts the scheduler thread unless it runs. False on failure.
  bool StartLocked();
  void Schedule();
  void UploadStaged(const std::string& key);
  std::chrono::milliseconds Backoff(int failures) const;

  object::ObjectStore& store_;
  cache::BlockCache* const cache_;
  TaskPool& pool_;
  TaskPool& background_pool_;
  const BlockStoreOptions& options_;  // writeback is set only with a cache (BlockStore)

  // Foreground budget.
  mutable std::mutex budget_mu_;
  std::condition_variable budget_cv_;
  uint64_t in_flight_bytes_ = 0;   // guarded by budget_mu_
  uint64_t in_flight_blocks_ = 0;  // guarded by budget_mu_

  // Background uploads.
  mutable std::mutex mu_;
  std::condition_variable wake_;                    // the scheduler has something to do
  std::condition_variable changed_;                 // an upload ended (Flush, Forget wait on it)
  std::unordered_map<std::string, Entry> entries_;  // guarded by mu_
  std::deque<std::string> ready_;                   // guarded by mu_
  std::multimap<Clock::time_point, std::string> retry_;  // guarded by mu_
  int active_ = 0;                                       // tasks in the pool; guarded by mu_
  bool stop_ = false;                                    // guarded by mu_
  std::thread scheduler_;                                // guarded by mu_

  std::atomic<uint64_t> uploads_{0}, uploaded_bytes_{0}, upload_errors_{0}, staged_{0},
      stage_fallbacks_{0}, deferrals_{0};
};

}  // namespace shoal::chunk
