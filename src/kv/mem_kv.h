// MemEngine: an in-memory, thread-safe transactional engine ("mem://").
//
// Design. Committed state is one ordered map from key to {value, seq}, where
// seq is the commit sequence number that last changed the key; a deleted key
// stays as a tombstone {nullopt, seq} so that its deletion is still visible to
// conflict checks. A transaction remembers the sequence number current when it
// began (its snapshot) and
//   - reads committed state plus its own buffered writes; a read that meets a
//     key changed after its snapshot fails at once with kConflict, so a
//     transaction function never sees a mix of two states;
//   - records every key it read from committed state (present or absent) and
//     every range it scanned (up to where the scan stopped);
//   - at commit, under the exclusive lock, checks that no recorded key and no
//     key in a recorded range (insertions and deletions included, through
//     tombstones) changed after its snapshot, then applies its writes under a
//     new sequence number. Otherwise kConflict, and Engine::Txn retries.
// So mem detects phantoms in scans, which the Engine contract does not promise
// (rocksdb does not); tests of meta/ must not rely on it.
//
// Tombstones older than every running transaction's snapshot can no longer
// cause a conflict and are dropped once they are numerous.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>

#include "kv/kv.h"
#include "kv/retry.h"

namespace shoal::kv {

struct MemOptions {
  RetryPolicy retry;
};

class MemEngine final : public Engine {
 public:
  explicit MemEngine(MemOptions options = {});
  ~MemEngine() override;

  std::string Describe() const override { return "mem://"; }
  Status Txn(const std::function<Status(kv::Txn&)>& fn) override;
  Status View(const std::function<Status(kv::Txn&)>& fn) override;

  // For tests: live keys and tombstones currently held.
  size_t LiveKeysForTesting() const;
  size_t TombstonesForTesting() const;

 private:
  class MemTxn;
  friend class MemTxn;

  struct Entry {
    std::optional<std::string> value;  // nullopt: a tombstone
    uint64_t seq = 0;                  // commit that last changed the key
  };
  using Map = std::map<std::string, Entry, std::less<>>;

  Status RunOnce(const std::function<Status(kv::Txn&)>& fn, bool read_only);
  uint64_t Begin();
  void End(uint64_t snapshot);
  Status Commit(MemTxn& txn);
  // Requires mu_ held exclusively, by the commit of the transaction whose
  // snapshot is given.
  void MaybePruneTombstones(uint64_t committing_snapshot);

  const MemOptions options_;

  // Readers hold mu_ shared; a commit holds it exclusively.
  mutable std::shared_mutex mu_;
  Map map_;
  uint64_t seq_ = 0;
  size_t tombstones_ = 0;
  size_t next_prune_at_;

  // Snapshots of running transactions, to know which tombstones are still
  // needed. Taken with mu_ held (shared or exclusive) and then active_mu_.
  std::mutex active_mu_;
  std::multiset<uint64_t> active_;
};

}  // namespace shoal::kv
