// BlockCache: local copies of block objects, in front of the object store.
//
// Blocks are immutable objects named by their object key (chunk/chunk.h), so
// a key always names the same bytes: a cache never has to invalidate, only to
// forget. The block store asks the cache first and falls back to the object
// store on a miss, then offers the block it fetched back with Put.
//
// A cache also stages blocks for write-back: Stage keeps a block that is not
// yet in the object store, durably, until the uploader says Uploaded. Staged
// blocks are never evicted, and ListStaged finds them again after a crash.
//
// Implementations: MemCache (mem_cache.h; bounded memory, for tests and as a
// small in-process cache) and DiskCache (disk_cache.h; local directories,
// survives a restart).
//
// Threading: every method may be called from many threads at once.
// Failures: a cache is an optimisation, so reading and caching never fail in
// a way the reader must handle: a broken or corrupt cached copy is a miss, a
// full disk or an I/O error on Put is counted in Stats() and otherwise
// ignored. Only Stage returns a Status: its caller must then upload directly.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace shoal::cache {

struct CacheStats {
  // Counters since the cache was opened.
  uint64_t hits = 0;       // Gets answered from the cache
  uint64_t misses = 0;     // Gets not answered (including corrupt copies and errors)
  uint64_t inserts = 0;    // blocks cached by Put or Stage
  uint64_t rejected = 0;   // Puts refused: too large, no room, or the disk below its floor
  uint64_t evictions = 0;  // blocks dropped to make room (not counting Remove)
  uint64_t corrupt = 0;    // cached copies that failed verification (then dropped)
  uint64_t errors = 0;     // I/O errors other than corruption (reads, writes, scans)

  // State now.
  uint64_t blocks = 0;         // blocks cached, staged ones included
  uint64_t bytes = 0;          // bytes charged against the limit, staged ones included
  uint64_t staged_blocks = 0;  // blocks staged and not yet Uploaded
  uint64_t staged_bytes = 0;
  uint64_t limit_bytes = 0;  // 0: the cache is disabled
  // DiskCache only: the index of blocks left by an earlier run is still
  // being rebuilt, so blocks/bytes do not count them all yet.
  bool scanning = false;
};

class BlockCache {
 public:
  // Length meaning "to the end of the block" in a ranged Get.
  static constexpr uint64_t kToEnd = std::numeric_limits<uint64_t>::max();

  virtual ~BlockCache() = default;

  // For logs: the kind of cache and where it lives.
  virtual std::string Describe() const = 0;

  // Bytes [offset, offset+length) of the cached block `key`, cut short at the
  // block's end (an offset at or past the end gives an empty string), or
  // nullopt on a miss. A cached copy that fails verification is a miss, is
  // counted as corrupt and is dropped (unless staged: that copy is kept for
  // the uploader to report); a Get never returns bytes the block did not hold.
  virtual std::optional<std::string> Get(std::string_view key, uint64_t offset,
                                         uint64_t length) = 0;
  std::optional<std::string> Get(std::string_view key) { return Get(key, 0, kToEnd); }

  // Whether block `key` is cached or staged, from the cache's index alone (no
  // I/O, not counted as a hit or a miss): a probe for readahead. May say no
  // for a block on disk that a restart's index scan has not reached yet.
  virtual bool Contains(std::string_view key) = 0;

  // Caches a copy of block `key`, best effort: a block too large for the
  // cache, no room, or an I/O error is counted in Stats() and not reported.
  // Blocks are immutable, so a Put for a key already cached or staged does
  // nothing. A Get sees the block only once the whole copy is in place.
  virtual void Put(std::string_view key, std::string_view data) = 0;

  // Forgets block `key`, staged or not (a staged block whose slice was deleted
  // before upload need not be uploaded). A missing key is fine.
  virtual void Remove(std::string_view key) = 0;

  virtual CacheStats Stats() const = 0;

  // Write-back staging. Stage keeps `data` as block `key`, which is not yet
  // in the object store. On OK it is durable (DiskCache: fsynced, file and
  // directory), readable with Get, never evicted, and listed by ListStaged
  // (after a restart too) until Uploaded(key) or Remove(key). Staging a key
  // already staged is OK and does nothing. Fails (the caller must then upload
  // the block itself) with kUnsupported when the cache is disabled, kNoSpace
  // when staged blocks fill the limit or the disk is below its free-space
  // floor, kInvalid for a block too large, or kIo.
  virtual Status Stage(std::string_view key, std::string_view data) = 0;
  // Whether a staged block survives a crash of this process (DiskCache);
  // a MemCache stages in memory only.
  virtual bool StagesDurably() const { return false; }

  // The staged block `key` is now in the object store: it becomes an
  // ordinary cached block (evictable, most recently used). Not staged: no-op.
  virtual void Uploaded(std::string_view key) = 0;

  // Keys of all staged blocks, sorted. After a restart these are the blocks a
  // crash left before their upload finished: upload each, then Uploaded().
  virtual std::vector<std::string> ListStaged() = 0;
};

}  // namespace shoal::cache
