// chunk: the bytes of slices, kept as immutable block objects.
//
// A slice of `size` bytes is stored as ceil(size / block_size) objects, block
// i holding bytes [i*block_size, min(size, (i+1)*block_size)). Object names
// (see docs/format.md):
//
//   <volume>/chunks/<hh>/<id / 1000000>/<id>_<index>_<length>
//
// where hh is two hex digits of a hash of the id, spreading keys over 256
// prefixes. This layer knows nothing of inodes or of the metadata engine: vfs
// gets slice lists from meta and asks this layer for their bytes.
//
// Speed and memory (design notes in fetcher.h, uploader.h, read_stream.cc):
// reads go through a block cache (a BlockCache given in the options, or a
// small in-memory one) and fetch whole blocks, one request per block however
// many readers want it; a ReadStream per open file adds readahead; uploads
// and downloads run on two bounded worker pools owned by the BlockStore; and
// with write-back, blocks are staged in the disk cache and uploaded in the
// background. Memory is bounded by the options below: the in-memory cache,
// the readahead budget, and the upload budget (a writer blocks when it is
// full: that is the back-pressure).
//
// Threading: BlockStore and ReadStream are thread-safe. WriteBuffer is not
// (vfs guards it).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "cache/cache.h"
#include "chunk/pages.h"
#include "common/slice.h"
#include "common/status.h"
#include "object/object_store.h"

namespace shoal::chunk {

class Fetcher;
class Uploader;
class TaskPool;
class ReadStream;
struct Piece;

// The smallest memory cache (BlockStoreOptions::memory_cache_bytes, with no
// disk cache) that keeps blocks read ahead until the reader gets to them:
// the cache ranks a block by its arrival, and until it is read the reader
// touches up to a window of older blocks while a window of newer ones
// arrives. Smaller, and a sequential read fetches most blocks twice.
constexpr uint64_t MemoryCacheForReadahead(uint64_t readahead_bytes, uint32_t block_size) {
  return 2 * readahead_bytes + 4ull * block_size;
}

struct BlockStoreOptions {
  // Where blocks are cached: normally a DiskCache (cache/disk_cache.h). When
  // null, the store makes a MemCache of memory_cache_bytes for itself, so
  // that many small reads of one block still cost one request.
  std::shared_ptr<cache::BlockCache> cache;
  // Size of that in-memory cache. 0 (with no `cache`): no caching at all,
  // reads fetch only the bytes asked for, and there is no readahead.
  uint64_t memory_cache_bytes = 128ull << 20;

  // Worker threads, i.e. object-store requests running at once, for uploads
  // and for downloads (readers run fetches in their own threads too, and
  // write-back uploads have a pool of upload_concurrency of their own).
  // 8 GETs reach about 4x the throughput of one on a local S3 server.
  int upload_concurrency = 8;
  int download_concurrency = 8;

  // Bytes of blocks handed to the upload pool and not yet stored: WriteSlice
  // blocks when more would be in flight. At least one block is always let
  // through.
  uint64_t upload_buffer_bytes = 64ull << 20;
  // Write-through: a block just uploaded is also put into the cache, since
  // it is likely to be read soon.
  bool cache_writes = true;

  // Write-back: WriteSlice stages blocks in the cache (durable in a
  // DiskCache) and returns; a background uploader stores them. Needs a
  // `cache` that can stage; a block that cannot be staged is uploaded
  // directly. Ignored without a `cache`.
  bool writeback = false;
  // Failed background uploads are retried after this delay, doubling up to
  // the maximum. Flush gives up (the block stays staged and is retried)
  // once a block has failed flush_attempts times in a row.
  std::chrono::milliseconds upload_retry_initial{200};
  std::chrono::milliseconds upload_retry_max{30000};
  int flush_attempts = 3;

  // Readahead: bytes of blocks being fetched ahead of readers, over all
  // streams (beyond it readahead is skipped, never waited for), and the
  // largest window of one stream. Window 0 turns readahead off.
  uint64_t readahead_bytes = 64ull << 20;
  uint64_t readahead_max_window = 32ull << 20;
};

// Counters since the store was made, and state now. For `shoal stats`.
struct BlockStoreStats {
  // Reads, counted per block range a read needs.
  uint64_t read_hits = 0;    // served by the cache
  uint64_t read_misses = 0;  // needed a fetch (or joined one)
  uint64_t joined = 0;       // misses that waited for a fetch already running (single flight)
  uint64_t fetches = 0;      // GETs sent to the object store
  uint64_t fetched_bytes = 0;
  uint64_t fetch_errors = 0;
  uint64_t gets_in_flight = 0;  // now
  // Readahead, in blocks.
  uint64_t readahead_issued = 0;           // fetches started ahead of a reader
  uint64_t readahead_used = 0;             // of those, later read by the stream
  uint64_t readahead_wasted = 0;           // given up unread (random access, stream closed)
  uint64_t readahead_skipped = 0;          // not started: over the readahead budget
  uint64_t readahead_bytes_in_flight = 0;  // now
  // Writes.
  uint64_t uploads = 0;  // PUTs that succeeded
  uint64_t uploaded_bytes = 0;
  uint64_t upload_errors = 0;           // PUTs that failed (retried ones included)
  uint64_t uploads_in_flight = 0;       // now: blocks being uploaded or staged, both pools
  uint64_t upload_bytes_in_flight = 0;  // now: of writers' blocks (the budget's measure)
  uint64_t staged = 0;                  // blocks staged for write-back
  uint64_t stage_fallbacks = 0;    // blocks that could not be staged and were uploaded directly
  uint64_t upload_deferrals = 0;   // blocks staged because the store failed them for a whole budget
  uint64_t staged_pending = 0;     // now: staged blocks not yet uploaded by this process
  uint64_t staged_unreadable = 0;  // now: staged blocks the uploader could not read back
  cache::CacheStats cache;         // the cache's own counters
};

class BlockStore {
 public:
  // block_size is the volume's, fixed at format; it must not be 0 (every call
  // then fails with kInternal). Threads are started on first use.
  BlockStore(std::shared_ptr<object::ObjectStore> store, std::string volume, uint32_t block_size,
             BlockStoreOptions options = {});
  // Blocks staged and not yet uploaded stay staged (RecoverStaged uploads
  // them on the next start); call Flush first to upload them now. No other
  // call may be running, and every ReadStream must be gone.
  ~BlockStore();

  BlockStore(const BlockStore&) = delete;
  BlockStore& operator=(const BlockStore&) = delete;

  uint32_t block_size() const { return block_size_; }
  object::ObjectStore& store() { return *store_; }
  // The cache reads go through; null when caching is off.
  cache::BlockCache* cache() const { return cache_.get(); }

  // The object key of block `index` of slice `id` whose whole size is `size`.
  std::string BlockKey(uint64_t id, uint32_t size, uint32_t index) const;
  // Every object key of a slice.
  std::vector<std::string> SliceKeys(uint64_t id, uint32_t size) const;
  // Objects of a slice of `size` bytes, and the length of block `index`.
  uint32_t BlockCount(uint32_t size) const;
  uint32_t BlockLength(uint32_t size, uint32_t index) const;

  // Stores `data` as slice `id` (size = data.size(), at most kChunkSize).
  // Returns once every block is stored (uploaded, or with write-back staged),
  // blocks going up in parallel through the upload pool; blocks while the
  // upload budget is full. On failure some blocks may already be stored: the
  // caller deletes them with DeleteSlice or leaves them to gc (ids are never
  // reused).
  //
  // A block the store refused for its whole retry budget (kUnavailable or
  // kIo) is, when the cache can stage it (a disk cache), kept there instead
  // and uploaded in the background when the store is back, like a write-back
  // block: the slice counts as stored, and `deferred` (may be null) gets the
  // store's error, for the caller to report.
  Status WriteSlice(uint64_t id, std::string_view data, Status* deferred = nullptr);
  // The same for bytes held in pages: blocks that lie in one page are
  // uploaded from it, without a copy.
  Status WriteSlice(uint64_t id, const Pages& data, Status* deferred = nullptr);

  // Reads bytes [pos, pos+len) of a chunk whose slice list is `slices` into
  // out (resized to len); uncovered bytes and holes are zeros. A missing
  // block or one shorter than its name says is kIo naming the object. The
  // blocks of one call are fetched in parallel. No readahead: see OpenStream.
  Status ReadChunk(const std::vector<Slice>& slices, uint32_t pos, uint32_t len, std::string* out);

  // A reader of one file that gets readahead (see ReadStream). `lister`
  // gives the slice list of a chunk of that file, so that readahead can run
  // into the next chunk; it is called from the reading thread, at most once
  // per chunk. Null: readahead stays within the chunk being read. The stream
  // must not outlive this store.
  using SliceLister = std::function<Result<std::vector<Slice>>(uint32_t chunk_index)>;
  std::unique_ptr<ReadStream> OpenStream(SliceLister lister = nullptr);

  // Deletes every object of a slice (id 0 has none) and forgets its cached
  // and staged blocks; waits for an upload of them that is running. Missing
  // objects are fine.
  Status DeleteSlice(uint64_t id, uint32_t size);

  // Write-back: waits until every staged block is uploaded. Fails when a
  // block could not be uploaded after Options::flush_attempts tries or could
  // not be read back from the cache; such blocks stay staged, and uploads go
  // on in the background.
  Status Flush();
  // At mount: queues every block the cache holds staged (left by a crash or
  // an unmount without Flush) for upload in the background and returns how
  // many. Reads of them are served by the staged copies meanwhile; Flush
  // waits for them. Works with and without `writeback`.
  size_t RecoverStaged();

  BlockStoreStats Stats() const;

 private:
  friend class ReadStream;

  // The block ranges that bytes [pos, pos+len) of a chunk come from; holes
  // have none. kCorrupt when a slice record asks for bytes past its slice.
  Result<std::vector<Piece>> PiecesOf(const std::vector<Slice>& slices, uint32_t pos,
                                      uint32_t len) const;
  Status ReadPieces(const std::vector<Piece>& pieces, uint32_t len, std::string* out);
  // WriteSlice of `size` bytes whose block [off, off+len) is view(off, len,
  // scratch): a view of the caller's bytes, or of *scratch after a copy.
  using BlockView =
      std::function<std::string_view(uint64_t off, uint64_t len, std::string* scratch)>;
  Status WriteBlocks(uint64_t id, uint64_t size, const BlockView& view, Status* deferred);
  // Checks block size and range, common to every read.
  Status CheckRead(uint32_t pos, uint32_t len) const;

  std::shared_ptr<object::ObjectStore> store_;
  std::string volume_;
  uint32_t block_size_;
  BlockStoreOptions options_;
  std::shared_ptr<cache::BlockCache> cache_;  // options_.cache, our own MemCache, or null
  // Declared before the pools' users so that they are destroyed after them
  // (the destructor also stops them explicitly first).
  std::unique_ptr<TaskPool> download_pool_;
  std::unique_ptr<TaskPool> upload_pool_;
  std::unique_ptr<TaskPool> writeback_pool_;  // background uploads of staged blocks
  std::unique_ptr<TaskPool> fill_pool_;       // cache writes of fetched blocks
  std::unique_ptr<Fetcher> fetcher_;
  std::unique_ptr<Uploader> uploader_;
  std::atomic<uint64_t> readahead_used_{0}, readahead_wasted_{0};
};

// The reads of one open file, in the order its reader makes them. It
// detects sequential reading and fetches the blocks ahead of the reader into
// the cache, in the background, so that the reader finds them there:
//
// - A read that starts where the previous one ended (within a small slack,
//   for the kernel's parallel reads), or at offset 0, is sequential. The
//   first opens a window of one block ahead of the block being read; each
//   time the reader moves into a new block the window doubles, up to
//   Options::readahead_max_window, and blocks up to the window's end are
//   prefetched.
// - Any other read is random: the window halves (to nothing below one
//   block) and nothing is prefetched until reads are sequential again.
// - Prefetching never blocks the reader: blocks beyond the global readahead
//   budget are skipped and tried again on a later read.
//
// vfs keeps one per file handle and reads through it instead of
// BlockStore::ReadChunk. Thread-safe (concurrent reads are fine, they only
// make the pattern look less sequential).
class ReadStream {
 public:
  // Counts blocks prefetched and never read as wasted.
  ~ReadStream();
  ReadStream(const ReadStream&) = delete;
  ReadStream& operator=(const ReadStream&) = delete;

  // As BlockStore::ReadChunk, for chunk `chunk_index` of the file.
  Status Read(uint32_t chunk_index, const std::vector<Slice>& slices, uint32_t pos, uint32_t len,
              std::string* out);

  // The readahead window now, in bytes (0: none). For tests and stats.
  uint64_t window() const;

 private:
  friend class BlockStore;
  ReadStream(BlockStore& blocks, BlockStore::SliceLister lister);

  // With mu_ held: prefetches the blocks under file bytes [from, to), except
  // those in `current` (the read in progress fetches them itself). Returns
  // where it stopped: `to`, or the start of the block that did not fit the
  // budget.
  uint64_t PrefetchLocked(uint32_t chunk_index, const std::vector<Slice>& slices, uint64_t from,
                          uint64_t to, const std::vector<Piece>& current);
  // With mu_ held: the slice list of chunk `index` for readahead, or null.
  const std::vector<Slice>* SlicesLocked(uint32_t index, uint32_t chunk_index,
                                         const std::vector<Slice>& slices);
  void DropPrefetchedLocked();

  BlockStore& blocks_;
  const BlockStore::SliceLister lister_;
  mutable std::mutex mu_;
  bool started_ = false;  // a read was seen
  uint64_t next_ = 0;     // file offset where the last sequential read ended
  uint64_t window_ = 0;   // bytes to prefetch past the block being read
  uint64_t ra_end_ = 0;   // file offset up to which blocks were prefetched
  // Keys prefetched and not yet read, to count readahead used and wasted.
  std::unordered_set<std::string> prefetched_;
  // The slice list of the chunk after the one being read, from lister_.
  bool ahead_valid_ = false;
  uint32_t ahead_index_ = 0;
  std::vector<Slice> ahead_slices_;
};

// Bytes written to a file but not yet stored: disjoint extents by file
// offset, merged as writes touch or overlap. vfs keeps one per inode with
// dirty data, overlays it on reads, and drains it on flush/fsync/close.
class WriteBuffer {
 public:
  // Pages come from `pool` (null: plain allocations).
  explicit WriteBuffer(PagePool* pool = nullptr) : pool_(pool) {}

  // Buffers `data` at file offset `off` over whatever was buffered there.
  // Appending right after an extent grows it in place: O(1) per byte, and
  // the bytes already buffered never move.
  void Write(uint64_t off, std::string_view data);
  // Overlays buffered bytes onto out, which holds file bytes [off, off+out->size()).
  void Overlay(uint64_t off, std::string* out) const;
  // Drops everything at or past `length` (truncate).
  void Truncate(uint64_t length);
  // For punch hole / zero range: forgets the buffered bytes in [off, off+len),
  // so that Overlay leaves the range alone and Drain does not write them back.
  // The range reads as zeros only because the caller also records a hole for
  // it in the metadata (the buffer does not hold zeros for it).
  void Zero(uint64_t off, uint64_t len);
  uint64_t bytes() const { return bytes_; }
  bool empty() const { return extents_.empty(); }
  uint64_t End() const;  // one past the last buffered byte, 0 when empty

  // One piece of the buffer that lies within a single chunk.
  struct Piece {
    uint32_t chunk_index;
    uint32_t pos;  // offset in the chunk
    Pages data;
  };
  // Takes everything out, cut at chunk boundaries, in file order.
  std::vector<Piece> Drain();

 private:
  // Removes buffered bytes in [lo, hi), splitting extents that straddle it.
  void Cut(uint64_t lo, uint64_t hi);

  // Invariant: extents neither overlap nor touch (touching ones are merged).
  PagePool* pool_;
  std::map<uint64_t, Pages> extents_;  // file offset -> bytes
  uint64_t bytes_ = 0;
};

}  // namespace shoal::chunk
