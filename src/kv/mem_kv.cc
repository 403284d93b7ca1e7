#include "kv/mem_kv.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace shoal::kv {
namespace {

// Committed entries copied out per lock acquisition during a scan: the scan
// callback runs without the lock, so it may call back into the transaction.
constexpr size_t kScanBatch = 256;

// Tombstones are pruned no more often than this many at a time.
constexpr size_t kMinTombstonesToPrune = 1024;

Status ChangedConflict() {
  return Conflict("mem://: a key this transaction read was changed by a concurrent transaction");
}

bool BeforeEnd(std::string_view key, std::string_view end) { return end.empty() || key < end; }

}  // namespace

class MemEngine::MemTxn final : public kv::Txn {
 public:
  MemTxn(MemEngine& engine, uint64_t snapshot, bool read_only)
      : engine_(engine), snapshot_(snapshot), read_only_(read_only) {}

  Result<std::optional<std::string>> Get(std::string_view key) override {
    if (auto w = writes_.find(key); w != writes_.end()) return w->second;
    std::optional<std::string> value;
    {
      std::shared_lock lock(engine_.mu_);
      if (auto it = engine_.map_.find(key); it != engine_.map_.end()) {
        if (it->second.seq > snapshot_) return ChangedConflict();
        value = it->second.value;
      }
    }
    if (!read_only_) reads_.emplace(key);
    return value;
  }

  Result<std::vector<std::optional<std::string>>> BatchGet(
      const std::vector<std::string>& keys) override {
    std::vector<std::optional<std::string>> values;
    values.reserve(keys.size());
    for (const auto& key : keys) {
      ASSIGN_OR_RETURN(auto value, Get(key));
      values.push_back(std::move(value));
    }
    return values;
  }

  Status Scan(std::string_view begin, std::string_view end, size_t limit, bool keys_only,
              const std::function<bool(std::string_view, std::string_view)>& fn) override {
    if (!end.empty() && begin >= end) return OkStatus();

    size_t visited = 0;
    bool stopped = false;
    std::string last_key;
    // Calls fn for one merged key; returns false when the scan must stop.
    auto emit = [&](const std::string& key, std::string_view value) {
      ++visited;
      last_key = key;
      if (!fn(key, keys_only ? std::string_view() : value)) return false;
      return limit == 0 || visited < limit;
    };

    auto w = writes_.lower_bound(begin);
    std::string cursor(begin);
    bool cursor_inclusive = true;
    std::vector<std::pair<std::string, std::string>> batch;
    while (!stopped) {
      // Copy the next batch of committed entries in [cursor, end).
      batch.clear();
      bool exhausted = true;
      std::string batch_last;  // last committed key examined, tombstones included
      {
        std::shared_lock lock(engine_.mu_);
        const Map& map = engine_.map_;
        auto it = cursor_inclusive ? map.lower_bound(cursor) : map.upper_bound(cursor);
        size_t examined = 0;
        for (; it != map.end() && BeforeEnd(it->first, end); ++it) {
          if (examined == kScanBatch) {
            exhausted = false;
            break;
          }
          ++examined;
          if (it->second.seq > snapshot_) return ChangedConflict();
          batch_last = it->first;
          if (!it->second.value) continue;
          batch.emplace_back(it->first, keys_only ? std::string() : *it->second.value);
        }
      }

      // Merge with this transaction's buffered writes up to batch_last (or to
      // `end` when the committed range is exhausted); buffered writes win.
      auto within = [&](const std::string& key) {
        return exhausted ? BeforeEnd(key, end) : key <= batch_last;
      };
      for (const auto& [key, value] : batch) {
        for (; w != writes_.end() && w->first < key; ++w) {
          if (w->second && !emit(w->first, *w->second)) {
            stopped = true;
            break;
          }
        }
        if (stopped) break;
        if (w != writes_.end() && w->first == key) {
          const auto& buffered = w->second;
          ++w;
          if (buffered && !emit(key, *buffered)) stopped = true;
        } else if (!emit(key, value)) {
          stopped = true;
        }
        if (stopped) break;
      }
      for (; !stopped && w != writes_.end() && within(w->first); ++w) {
        if (w->second && !emit(w->first, *w->second)) stopped = true;
      }
      if (exhausted) break;
      cursor = batch_last;
      cursor_inclusive = false;
    }

    if (!read_only_) {
      // What was observed: [begin, end), or [begin, last_key] when the scan
      // stopped early ("last_key\0" is the smallest key after last_key).
      std::string observed_end(end);
      if (stopped) observed_end = last_key + std::string(1, '\0');
      ranges_.emplace_back(std::string(begin), std::move(observed_end));
    }
    return OkStatus();
  }

  void Put(std::string_view key, std::string_view value) override {
    if (read_only_) {
      wrote_in_view_ = true;
      return;
    }
    writes_.insert_or_assign(std::string(key), std::string(value));
  }

  void Delete(std::string_view key) override {
    if (read_only_) {
      wrote_in_view_ = true;
      return;
    }
    writes_.insert_or_assign(std::string(key), std::nullopt);
  }

 private:
  friend class MemEngine;

  MemEngine& engine_;
  const uint64_t snapshot_;
  const bool read_only_;
  bool wrote_in_view_ = false;
  std::map<std::string, std::optional<std::string>, std::less<>> writes_;
  std::set<std::string, std::less<>> reads_;
  // Scanned ranges [first, second); an empty second means to the end.
  std::vector<std::pair<std::string, std::string>> ranges_;
};

MemEngine::MemEngine(MemOptions options)
    : options_(std::move(options)), next_prune_at_(kMinTombstonesToPrune) {}

MemEngine::~MemEngine() = default;

Status MemEngine::Txn(const std::function<Status(kv::Txn&)>& fn) {
  return RetryOnConflict(options_.retry, Describe(), [&] { return RunOnce(fn, false); });
}

Status MemEngine::View(const std::function<Status(kv::Txn&)>& fn) {
  return RetryOnConflict(options_.retry, Describe(), [&] { return RunOnce(fn, true); });
}

Status MemEngine::RunOnce(const std::function<Status(kv::Txn&)>& fn, bool read_only) {
  const uint64_t snapshot = Begin();
  MemTxn txn(*this, snapshot, read_only);
  Status status = fn(txn);
  if (status.ok() && txn.wrote_in_view_) {
    status = Internal("a read-only View called Put or Delete; use Engine::Txn to write");
  }
  if (status.ok() && !read_only) status = Commit(txn);
  End(snapshot);
  return status;
}

uint64_t MemEngine::Begin() {
  std::shared_lock lock(mu_);
  std::lock_guard active_lock(active_mu_);
  active_.insert(seq_);
  return seq_;
}

void MemEngine::End(uint64_t snapshot) {
  std::lock_guard active_lock(active_mu_);
  active_.erase(active_.find(snapshot));
}

Status MemEngine::Commit(MemTxn& txn) {
  // Reads came from one consistent snapshot (a read of anything newer failed
  // at once), so a transaction that writes nothing is serializable as is.
  if (txn.writes_.empty()) return OkStatus();

  std::unique_lock lock(mu_);
  for (const auto& key : txn.reads_) {
    auto it = map_.find(key);
    if (it != map_.end() && it->second.seq > txn.snapshot_) return ChangedConflict();
  }
  for (const auto& [begin, end] : txn.ranges_) {
    for (auto it = map_.lower_bound(begin); it != map_.end() && BeforeEnd(it->first, end); ++it) {
      if (it->second.seq > txn.snapshot_) {
        return Conflict(
            "mem://: a key was added, changed or removed in a range this transaction scanned");
      }
    }
  }

  const uint64_t seq = ++seq_;
  for (auto& [key, value] : txn.writes_) {
    auto it = map_.find(key);
    if (value) {
      if (it == map_.end()) {
        map_.emplace(key, Entry{std::move(value), seq});
        continue;
      }
      if (!it->second.value) --tombstones_;
      it->second = Entry{std::move(value), seq};
    } else if (it != map_.end() && it->second.value) {
      // Deleting an absent key changes nothing that anyone could have read.
      it->second = Entry{std::nullopt, seq};
      ++tombstones_;
    }
  }
  MaybePruneTombstones(txn.snapshot_);
  return OkStatus();
}

void MemEngine::MaybePruneTombstones(uint64_t committing_snapshot) {
  if (tombstones_ < next_prune_at_) return;
  // A tombstone no newer than every running transaction's snapshot cannot
  // fail any validation: absent and "deleted before you started" read alike.
  // The committing transaction itself has validated already and is left out.
  uint64_t horizon = seq_;
  {
    std::lock_guard active_lock(active_mu_);
    auto it = active_.begin();
    if (it != active_.end() && *it == committing_snapshot) ++it;
    if (it != active_.end()) horizon = *it;
  }
  for (auto it = map_.begin(); it != map_.end();) {
    if (!it->second.value && it->second.seq <= horizon) {
      it = map_.erase(it);
      --tombstones_;
    } else {
      ++it;
    }
  }
  // Next pass only after as many new deletions again as the pass cost, so
  // that pruning stays amortized O(1) per deletion.
  next_prune_at_ =
      std::max({kMinTombstonesToPrune, 2 * tombstones_, (map_.size() - tombstones_) / 2});
}

size_t MemEngine::LiveKeysForTesting() const {
  std::shared_lock lock(mu_);
  return map_.size() - tombstones_;
}

size_t MemEngine::TombstonesForTesting() const {
  std::shared_lock lock(mu_);
  return tombstones_;
}

}  // namespace shoal::kv
