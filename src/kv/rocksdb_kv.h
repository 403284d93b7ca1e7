// RocksDbEngine: the embedded default engine ("rocksdb:///abs/path"), over
// rocksdb::OptimisticTransactionDB. One process at a time: rocksdb locks the
// directory, and a second open fails with kBusy.
//
// Transactions take a snapshot when they begin. Get/BatchGet read at that
// snapshot with GetForUpdate, so commit fails (kConflict, and Engine::Txn
// retries) if any key read or written was changed by another commit since.
// Scan reads at the same snapshot through the transaction, so it sees the
// transaction's own writes, but scanned keys are not conflict-checked (see
// kv.h). View reads from a plain snapshot, without a transaction.
//
// Durability: writes go to the write-ahead log and survive a crash of the
// process; with sync_writes they are also fsynced, and survive a crash of the
// machine.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "kv/kv.h"
#include "kv/retry.h"

namespace shoal::kv {

struct RocksDbOptions {
  // Create the database (and missing parent directories) if absent. When
  // false, a missing database is kNotFound.
  bool create = false;
  // fsync the write-ahead log on every commit.
  bool sync_writes = false;
  // Table files rocksdb keeps open; bounded because a process here may hold
  // only 20,000 descriptors and the cache and FUSE need most of them.
  int max_open_files = 256;
  // Memtable size: large enough that metadata bursts do not flush constantly.
  size_t write_buffer_size = size_t{64} << 20;
  // Uncompressed blocks cached in memory.
  size_t block_cache_bytes = size_t{128} << 20;
  RetryPolicy retry;
};

// Opens (or with options.create, creates) the database at `path`, which
// should be absolute. Errors name the path: kNotFound when missing and not
// creating, kBusy when another process (or another open in this process)
// holds it, kCorrupt when it does not decode, kUnavailable otherwise.
Result<std::shared_ptr<Engine>> OpenRocksDb(const std::string& path, const RocksDbOptions& options);

}  // namespace shoal::kv
