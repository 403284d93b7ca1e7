// DiskCache: a BlockCache in local directories that survives a restart.
//
// Layout, under each directory given (a block goes to the directory that a
// hash of its key picks, so several disks share the load):
//
//   <dir>/shoal-cache/<name>/lock              flock()ed while open: one process per cache
//   <dir>/shoal-cache/<name>/blocks/<hh>/<h>   cached blocks
//   <dir>/shoal-cache/<name>/staging/<hh>/<h>  staged blocks (write-back, not yet uploaded)
//   <dir>/shoal-cache/<name>/tmp/              files being written; emptied at open
//
// where <h> is the 32 hex digits of the XXH3-128 of the block key and <hh>
// the first two of them. Each file is a header with the key and per-segment
// checksums, then the data (block_file.h). Names are hashes rather than
// escaped keys so that the index need not keep keys to find a file (about 40
// bytes of memory per block; block_index.h) and so that no key can exceed a
// file name's length limit.
//
// Writing: a block is written to tmp/ and renamed into place, so a file under
// its real name is always complete; a Get cannot see a block before its rename
// and index entry are in place. Cached blocks are not fsynced (a crash may leave a
// short or zeroed file, which its checksums catch); staged blocks are fsynced
// with their directory before Stage returns.
//
// Eviction: exact LRU over the blocks used since open (every Get moves its
// block to the front). Blocks found by the restart scan enter at the cold
// end ordered by file mtime, i.e. by when they were cached, not last read:
// after a restart, recency is approximate until blocks are read again.
// Charges: a block costs its file size rounded up to 4 KiB, the allocation
// unit of common file systems. The limit covers staged blocks too; they are
// never evicted. Each directory also keeps `min_free_ratio` of its file
// system free: a Put or Stage that would go below evicts that directory's
// coldest blocks and is refused if the floor is still not met.
//
// Restart: staged blocks are scanned synchronously by Open (there are few,
// and ListStaged must be complete). Cached blocks are scanned on a
// background thread; until it finishes, a Get for a block not yet indexed
// opens its file directly (and indexes it when it verifies), so reads hit at
// once. A Remove for a block not yet indexed deletes its file directly.
//
// Threading: all methods may be called from any thread. One mutex guards the
// index and is never held across file I/O; an entry being written, moved or
// deleted is marked so that its path has one owner at a time.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cache/block_index.h"
#include "cache/cache.h"
#include "common/status.h"

namespace shoal::cache {

struct DiskSpace {
  uint64_t total_bytes = 0;
  uint64_t available_bytes = 0;  // to an unprivileged user (statvfs f_bavail)
};

struct DiskCacheOptions {
  // Absolute paths of the directories to cache in; each is created if
  // missing. Use one per disk. At most 255.
  std::vector<std::string> dirs;
  // Names this cache inside <dir>/shoal-cache/, so that volumes sharing a
  // directory keep separate caches: normally the volume's uuid. Letters,
  // digits, '.', '_' and '-'; not "." or "..".
  std::string name;
  // Bytes of blocks to keep over all directories, staged blocks included.
  // 0 disables the cache: nothing is created, every Get misses, Put does
  // nothing and Stage is kUnsupported.
  uint64_t limit_bytes = 0;
  // Keep at least this fraction of each directory's file system free, in
  // [0, 1). 10% leaves room for the rest of the machine.
  double min_free_ratio = 0.1;

  // Test seams. Free space of a directory's file system; statvfs when empty.
  std::function<Result<DiskSpace>(const std::string& dir)> disk_space;
  // Runs on the scan thread before it scans: a test can hold the scan back.
  std::function<void()> before_scan;
};

class DiskCache : public BlockCache {
 public:
  // Opens (creating what is missing) the cache described by `options`.
  // kInvalid for bad options; kBusy when another process (or another
  // DiskCache in this one) has the same directory and name open; kIo,
  // kAccess, kReadOnly, kNoSpace naming the directory that cannot be used.
  // Returns before the restart scan of cached blocks is done (see above).
  static Result<std::unique_ptr<DiskCache>> Open(DiskCacheOptions options);

  // Stops the restart scan if it still runs. No other call may be running.
  ~DiskCache() override;

  DiskCache(const DiskCache&) = delete;
  DiskCache& operator=(const DiskCache&) = delete;

  using BlockCache::Get;
  std::string Describe() const override;
  std::optional<std::string> Get(std::string_view key, uint64_t offset, uint64_t length) override;
  bool Contains(std::string_view key) override;
  void Put(std::string_view key, std::string_view data) override;
  void Remove(std::string_view key) override;
  CacheStats Stats() const override;
  Status Stage(std::string_view key, std::string_view data) override;
  bool StagesDurably() const override { return true; }
  void Uploaded(std::string_view key) override;
  std::vector<std::string> ListStaged() override;

  // Waits until the restart scan is done (at once when disabled).
  void WaitForScan();

  // Where block `key` lives when cached, and when staged (whether or not it
  // is there). Empty when the cache is disabled. For tests and tools.
  std::string CachedPath(std::string_view key) const;
  std::string StagedPath(std::string_view key) const;

  // What a block of this key and data size is charged against the limit.
  static uint64_t Charge(size_t key_size, uint64_t data_size);

  // Heap bytes held by the index, for reporting the memory cost per block.
  size_t IndexMemoryBytes() const;

 private:
  // One of the cache's directories: <dir>/shoal-cache/<name>.
  struct Dir {
    std::string user_dir;  // as given, for messages
    std::string root;
    int lock_fd = -1;
  };
  // A file to delete and the index entry to erase once it is gone.
  struct Doomed {
    BlockIndex::Ref ref;
    std::string path;
  };
  struct HashOfKeyHash {
    size_t operator()(const KeyHash& h) const { return h.lo; }
  };

  DiskCache(DiskCacheOptions options, std::vector<Dir> dirs, uint64_t nonce);
  // Creates the directories under `user_dir`, takes the lock and empties tmp/.
  static Status OpenDir(const std::string& user_dir, const std::string& name, Dir* dir);

  bool enabled() const { return !dirs_.empty(); }
  uint8_t DirOf(const KeyHash& h) const;
  std::string PathOf(uint8_t dir, const KeyHash& h, bool staged) const;
  std::string TempPath(uint8_t dir);

  // Reads and verifies [offset, offset+length) of the block file at `path`.
  // kNotFound when there is no file, kCorrupt, or kIo. `file_size` receives
  // the file's size.
  Result<std::string> ReadFile(const std::string& path, std::string_view key, uint64_t offset,
                               uint64_t length, uint64_t* file_size);
  // Writes meta + data to a temp file and renames it to `path`; with `sync`
  // the file and its directory are fsynced first and after.
  Status WriteFile(uint8_t dir, const std::string& path, std::string_view meta,
                   std::string_view data, bool sync);

  // Checks the free-space floor of `dir` for `charge` more bytes, evicting
  // that directory's coldest blocks when below. kNoSpace when still below.
  Status CheckFloor(uint8_t dir, uint64_t charge);

  // With mu_ held: takes LRU blocks out of the index's accounting until
  // `charge` more bytes fit under the limit, appending them to `doomed`.
  // False (nothing taken) when they cannot fit even with every evictable
  // block gone.
  bool MakeRoomLocked(uint64_t charge, std::vector<Doomed>* doomed);
  // With mu_ held: marks entry `ref` (cached or staged) as being deleted and
  // releases its charge. The caller unlinks the file, then calls Dispose.
  Doomed TakeLocked(BlockIndex::Ref ref);
  // Unlinks the files and erases their entries.
  void Dispose(const std::vector<Doomed>& doomed);
  // Releases the charge of an entry that is being written or moved and
  // erases it.
  void AbandonLocked(BlockIndex::Ref ref);
  // Indexes a cached block found on disk (not written by this process), at
  // the hot end of the LRU list or, for `cold`, at the cold end.
  void AddFoundLocked(const KeyHash& h, uint8_t dir, uint32_t charge, bool cold);

  Status ScanStaged();
  void ScanCached();
  void CountError(const std::string& what);

  const DiskCacheOptions options_;
  const std::vector<Dir> dirs_;  // empty when disabled
  const uint64_t nonce_;         // makes temp names unique across runs
  std::atomic<uint64_t> next_temp_{0};

  mutable std::mutex mu_;
  std::condition_variable settled_;  // an entry left a transient state, or the scan ended
  BlockIndex index_;
  uint64_t used_ = 0;       // charges of every indexed entry, writes in flight included
  uint64_t lru_bytes_ = 0;  // charges of the entries in the LRU list (evictable)
  uint64_t blocks_ = 0;     // entries cached or staged
  uint64_t staged_bytes_ = 0;
  std::unordered_map<KeyHash, std::string, HashOfKeyHash> staged_keys_;
  bool scan_done_ = false;

  std::atomic<uint64_t> hits_{0}, misses_{0}, inserts_{0}, rejected_{0}, evictions_{0}, corrupt_{0},
      errors_{0};

  std::atomic<bool> stop_{false};
  std::thread scanner_;
};

}  // namespace shoal::cache
