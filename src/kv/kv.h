// The transactional key-value interface that every metadata engine provides.
// The file-system schema (meta/) is written once over it.
//
// Engines: mem (tests, one process), rocksdb (embedded default, one process),
// redis (many clients; see redis_kv.h), fault (wraps another and injects
// failures); later postgres.
// Chosen by URL with OpenKv(): "mem://", "rocksdb:///var/lib/shoal/demo.meta".
//
// Transactions are optimistic: a transaction function reads and buffers
// writes; at commit the engine checks that nothing it read has changed since
// and applies the writes atomically, or fails with kConflict, in which case
// Engine::Txn runs the function again (so it must have no side effects other
// than through the Txn, and must be safe to run more than once).
//
// Conflict detection covers the keys read with Get/BatchGet. Range scans are
// NOT guaranteed to be checked for phantoms (rocksdb does not): a writer that
// adds or removes keys in a range that another transaction scans must also
// write a guard key that the scanner reads with Get. The schema in meta/ does
// this with the directory inode (see docs/format.md).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace shoal::kv {

class Txn {
 public:
  virtual ~Txn() = default;

  // The value of `key` as of the transaction's snapshot, with this
  // transaction's own buffered writes applied; nullopt when absent.
  virtual Result<std::optional<std::string>> Get(std::string_view key) = 0;
  virtual Result<std::vector<std::optional<std::string>>> BatchGet(
      const std::vector<std::string>& keys) = 0;

  // Calls fn(key, value) for keys in [begin, end) in ascending order, with
  // this transaction's buffered writes applied, until fn returns false or
  // `limit` keys were visited (0 = no limit). An empty `end` means the end of
  // the key space. Values are empty if keys_only.
  virtual Status Scan(
      std::string_view begin, std::string_view end, size_t limit, bool keys_only,
      const std::function<bool(std::string_view key, std::string_view value)>& fn) = 0;

  // Buffered until commit.
  virtual void Put(std::string_view key, std::string_view value) = 0;
  virtual void Delete(std::string_view key) = 0;
};

class Engine {
 public:
  virtual ~Engine() = default;

  // Safe to print: no secrets.
  virtual std::string Describe() const = 0;

  // True when no other process can use the engine while this one has it
  // open (rocksdb takes a file lock): sessions found in it at start are dead.
  virtual bool Exclusive() const { return false; }

  // Runs fn in a transaction and commits it when fn returns ok. Retries on
  // kConflict (from fn or from the commit) with backoff, up to a bound, then
  // returns kConflict. Any other error from fn aborts and is returned as is.
  // Thread-safe. A read-only transaction (no Put/Delete) commits trivially.
  virtual Status Txn(const std::function<Status(kv::Txn&)>& fn) = 0;

  // Like Txn but promises not to write; engines may serve it from a snapshot
  // without conflict tracking.
  virtual Status View(const std::function<Status(kv::Txn&)>& fn) = 0;
};

// Opens an engine from a URL: "mem://" (fresh and empty each call) or
// "rocksdb:///abs/path" (create_if_missing only when `create` is true: a
// missing database is kNotFound otherwise, with a message saying to format
// first). Malformed URLs and unknown schemes are kInvalid with a message that
// lists the accepted forms. A database that cannot be opened (locked by
// another process) is kBusy, a corrupt one kCorrupt, anything else
// kUnavailable, each naming the path.
Result<std::shared_ptr<Engine>> OpenKv(std::string_view url, bool create);

// Keys in `prefix`'s range: the smallest key greater than every key starting
// with prefix ("" if there is none, meaning the end of the key space).
std::string PrefixEnd(std::string_view prefix);

}  // namespace shoal::kv
