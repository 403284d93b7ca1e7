#include "cache/mem_cache.h"

#include <algorithm>

namespace shoal::cache {

MemCache::MemCache(uint64_t limit_bytes) : limit_(limit_bytes) {}

std::string MemCache::Describe() const {
  return "memory cache (limit " + std::to_string(limit_) + " bytes)";
}

std::optional<std::string> MemCache::Get(std::string_view key, uint64_t offset, uint64_t length) {
  std::lock_guard lock(mu_);
  auto it = blocks_.find(key);
  if (it == blocks_.end()) {
    ++stats_.misses;
    return std::nullopt;
  }
  Entry& e = it->second;
  if (!e.staged) lru_.splice(lru_.begin(), lru_, e.lru);
  ++stats_.hits;
  if (offset >= e.data.size()) return std::string();
  return e.data.substr(offset, std::min<uint64_t>(length, e.data.size() - offset));
}

bool MemCache::Contains(std::string_view key) {
  std::lock_guard lock(mu_);
  return blocks_.find(key) != blocks_.end();
}

bool MemCache::MakeRoomLocked(uint64_t bytes) {
  if (bytes > limit_ || used_ - lru_bytes_ + bytes > limit_) return false;
  while (used_ + bytes > limit_) {
    auto it = blocks_.find(lru_.back());
    EraseLocked(it);
    ++stats_.evictions;
  }
  return true;
}

void MemCache::EraseLocked(Map::iterator it) {
  Entry& e = it->second;
  used_ -= e.data.size();
  if (e.staged) {
    --stats_.staged_blocks;
    stats_.staged_bytes -= e.data.size();
  } else {
    lru_bytes_ -= e.data.size();
    lru_.erase(e.lru);
  }
  blocks_.erase(it);
}

void MemCache::Put(std::string_view key, std::string_view data) {
  if (limit_ == 0) return;
  std::lock_guard lock(mu_);
  if (blocks_.contains(key)) return;
  if (!MakeRoomLocked(data.size())) {
    ++stats_.rejected;
    return;
  }
  auto [it, inserted] =
      blocks_.emplace(std::string(key), Entry{std::string(data), /*staged=*/false, {}});
  lru_.push_front(it->first);
  it->second.lru = lru_.begin();
  used_ += data.size();
  lru_bytes_ += data.size();
  ++stats_.inserts;
}

void MemCache::Remove(std::string_view key) {
  std::lock_guard lock(mu_);
  auto it = blocks_.find(key);
  if (it != blocks_.end()) EraseLocked(it);
}

CacheStats MemCache::Stats() const {
  std::lock_guard lock(mu_);
  CacheStats s = stats_;
  s.blocks = blocks_.size();
  s.bytes = used_;
  s.limit_bytes = limit_;
  return s;
}

Status MemCache::Stage(std::string_view key, std::string_view data) {
  if (limit_ == 0) {
    return Unsupported("the memory cache is disabled (limit 0), so it cannot stage block " +
                       std::string(key) + "; upload it directly");
  }
  std::lock_guard lock(mu_);
  auto it = blocks_.find(key);
  if (it != blocks_.end() && it->second.staged) return OkStatus();
  // A cached copy of the same block becomes the staged one: same bytes.
  if (it != blocks_.end()) {
    Entry& e = it->second;
    lru_bytes_ -= e.data.size();
    lru_.erase(e.lru);
    e.staged = true;
    ++stats_.staged_blocks;
    stats_.staged_bytes += e.data.size();
    return OkStatus();
  }
  if (!MakeRoomLocked(data.size())) {
    return Status(Code::kNoSpace, "the memory cache cannot stage block " + std::string(key) + " (" +
                                      std::to_string(data.size()) + " bytes): staged " +
                                      "blocks fill its limit of " + std::to_string(limit_) +
                                      " bytes; upload it directly");
  }
  blocks_.emplace(std::string(key), Entry{std::string(data), /*staged=*/true, {}});
  used_ += data.size();
  ++stats_.staged_blocks;
  stats_.staged_bytes += data.size();
  ++stats_.inserts;
  return OkStatus();
}

void MemCache::Uploaded(std::string_view key) {
  std::lock_guard lock(mu_);
  auto it = blocks_.find(key);
  if (it == blocks_.end() || !it->second.staged) return;
  Entry& e = it->second;
  e.staged = false;
  --stats_.staged_blocks;
  stats_.staged_bytes -= e.data.size();
  lru_.push_front(it->first);
  e.lru = lru_.begin();
  lru_bytes_ += e.data.size();
}

std::vector<std::string> MemCache::ListStaged() {
  std::vector<std::string> keys;
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, e] : blocks_) {
      if (e.staged) keys.push_back(key);
    }
  }
  std::sort(keys.begin(), keys.end());
  return keys;
}

}  // namespace shoal::cache
