// MemCache: a BlockCache in memory, bounded by bytes, exact LRU.
//
// The in-memory twin of DiskCache: the same contract (cache.h), checked by the
// same typed tests, for tests of the layers above and as a small in-process
// cache. Staged blocks are kept (not evicted) but do not survive the process.
// Blocks are charged their data size.
#pragma once

#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "cache/cache.h"

namespace shoal::cache {

class MemCache : public BlockCache {
 public:
  // limit_bytes 0 disables the cache (every Get misses, Put does nothing,
  // Stage is kUnsupported), like DiskCache.
  explicit MemCache(uint64_t limit_bytes);

  using BlockCache::Get;
  std::string Describe() const override;
  std::optional<std::string> Get(std::string_view key, uint64_t offset, uint64_t length) override;
  bool Contains(std::string_view key) override;
  void Put(std::string_view key, std::string_view data) override;
  void Remove(std::string_view key) override;
  CacheStats Stats() const override;
  Status Stage(std::string_view key, std::string_view data) override;
  void Uploaded(std::string_view key) override;
  std::vector<std::string> ListStaged() override;

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  struct Entry {
    std::string data;
    bool staged = false;
    std::list<std::string>::iterator lru;  // valid when not staged
  };
  using Map = std::unordered_map<std::string, Entry, Hash, std::equal_to<>>;

  // Evicts least recently used blocks until `bytes` more fit. False (and
  // nothing evicted) when even evicting every unstaged block would not do.
  bool MakeRoomLocked(uint64_t bytes);
  void EraseLocked(Map::iterator it);

  const uint64_t limit_;
  mutable std::mutex mu_;
  Map blocks_;
  std::list<std::string> lru_;  // keys of unstaged blocks, most recent first
  uint64_t used_ = 0;
  uint64_t lru_bytes_ = 0;  // bytes of the blocks in lru_ (evictable)
  CacheStats stats_;        // counters; the state fields are filled in by Stats()
};

}  // namespace shoal::cache
