#include "kv/rocksdb_kv.h"

#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/snapshot.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/optimistic_transaction_db.h>
#include <rocksdb/utilities/transaction.h>

#include <algorithm>
#include <filesystem>
#include <utility>
#include <vector>

namespace shoal::kv {
namespace {

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }
std::string_view ToView(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

// Maps a rocksdb failure during a transaction to our codes. `what` says
// which operation on which database.
Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  std::string message = std::string(what) + ": " + s.ToString();
  if (s.IsBusy() || s.IsTryAgain()) return Conflict(std::move(message));
  if (s.IsCorruption()) return Corrupt(std::move(message));
  if (s.IsNoSpace()) return Status(Code::kNoSpace, std::move(message));
  if (s.IsIOError()) return IoError(std::move(message));
  if (s.IsInvalidArgument()) return Invalid(std::move(message));
  return IoError(std::move(message));
}

// Maps a failure of DB::Open to what the user should do about it.
Status FromOpen(const rocksdb::Status& s, const std::string& path) {
  const std::string detail = s.ToString();
  if (s.IsInvalidArgument() && detail.find("does not exist") != std::string::npos) {
    return NotFound("no metadata at " + path + ": format a volume first (shoal format ...)");
  }
  if (s.IsIOError() &&
      (detail.find("lock") != std::string::npos || detail.find("LOCK") != std::string::npos)) {
    return Status(Code::kBusy, "metadata at " + path +
                                   " is in use by another process (is the volume already "
                                   "mounted?): " +
                                   detail);
  }
  if (s.IsCorruption()) {
    return Corrupt("metadata at " + path + " is corrupt: " + detail);
  }
  return Unavailable("cannot open metadata at " + path + ": " + detail);
}

bool Supported(const std::vector<rocksdb::CompressionType>& supported,
               rocksdb::CompressionType type) {
  return std::find(supported.begin(), supported.end(), type) != supported.end();
}

rocksdb::Options MakeOptions(const RocksDbOptions& o) {
  rocksdb::Options options;
  options.create_if_missing = o.create;
  options.max_open_files = o.max_open_files;
  options.write_buffer_size = o.write_buffer_size;
  options.max_background_jobs = 2;  // the build machines have two cores
  options.bytes_per_sync = 1 << 20;
  // Info logs only; keep a handful of small ones.
  options.keep_log_file_num = 4;
  options.max_log_file_size = 16 << 20;

  const auto supported = rocksdb::GetSupportedCompressions();
  if (Supported(supported, rocksdb::kLZ4Compression)) {
    options.compression = rocksdb::kLZ4Compression;
  }
  if (Supported(supported, rocksdb::kZSTD)) {
    options.bottommost_compression = rocksdb::kZSTD;
  }

  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(o.block_cache_bytes);
  // Most metadata reads are point lookups of one inode or dentry.
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.cache_index_and_filter_blocks = true;
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return options;
}

// Runs a scan over an iterator that already reads at the right snapshot.
Status ScanIterator(rocksdb::Iterator* it, std::string_view begin, std::string_view end,
                    size_t limit, bool keys_only,
                    const std::function<bool(std::string_view, std::string_view)>& fn,
                    std::string_view what) {
  size_t visited = 0;
  for (it->Seek(ToSlice(begin)); it->Valid(); it->Next()) {
    const std::string_view key = ToView(it->key());
    if (!end.empty() && key >= end) break;
    ++visited;
    if (!fn(key, keys_only ? std::string_view() : ToView(it->value()))) break;
    if (limit != 0 && visited >= limit) break;
  }
  if (!it->status().ok()) return FromRocks(it->status(), what);
  return OkStatus();
}

// ReadOptions for a scan of [begin, end): the upper bound lets rocksdb stop
// early instead of walking deleted keys past `end`. `bound` must outlive it.
rocksdb::ReadOptions ScanOptions(const rocksdb::Snapshot* snapshot, std::string_view end,
                                 rocksdb::Slice* bound) {
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot;
  if (!end.empty()) {
    *bound = ToSlice(end);
    ro.iterate_upper_bound = bound;
  }
  return ro;
}

class RocksDbEngine;

// The keys of a MultiGet as BatchGet answers them: absent keys as nullopt.
Result<std::vector<std::optional<std::string>>> MultiGetResult(
    const std::vector<rocksdb::Status>& statuses, std::vector<std::string>& values,
    const std::string& where) {
  std::vector<std::optional<std::string>> out(statuses.size());
  for (size_t i = 0; i < statuses.size(); ++i) {
    if (statuses[i].IsNotFound()) continue;
    if (!statuses[i].ok()) return FromRocks(statuses[i], "reading " + where);
    out[i] = std::move(values[i]);
  }
  return out;
}

// A read-write transaction.
class RocksTxn final : public Txn {
 public:
  RocksTxn(rocksdb::Transaction* txn, const std::string& where) : txn_(txn), where_(where) {
    read_options_.snapshot = txn_->GetSnapshot();
  }

  Result<std::optional<std::string>> Get(std::string_view key) override {
    std::string value;
    rocksdb::Status s = txn_->GetForUpdate(read_options_, ToSlice(key), &value);
    if (s.IsNotFound()) return std::nullopt;
    if (!s.ok()) return FromRocks(s, "reading " + where_);
    return value;
  }

  Result<std::vector<std::optional<std::string>>> BatchGet(
      const std::vector<std::string>& keys) override {
    std::vector<rocksdb::Slice> slices;
    slices.reserve(keys.size());
    for (const auto& key : keys) slices.push_back(ToSlice(key));
    std::vector<std::string> values;
    std::vector<rocksdb::Status> statuses = txn_->MultiGetForUpdate(read_options_, slices, &values);
    return MultiGetResult(statuses, values, where_);
  }

  Status Scan(std::string_view begin, std::string_view end, size_t limit, bool keys_only,
              const std::function<bool(std::string_view, std::string_view)>& fn) override {
    if (!end.empty() && begin >= end) return OkStatus();
    rocksdb::Slice bound;
    std::unique_ptr<rocksdb::Iterator> it(
        txn_->GetIterator(ScanOptions(read_options_.snapshot, end, &bound)));
    return ScanIterator(it.get(), begin, end, limit, keys_only, fn, "scanning " + where_);
  }

  void Put(std::string_view key, std::string_view value) override {
    Remember(txn_->Put(ToSlice(key), ToSlice(value)), "buffering a write to ");
  }

  void Delete(std::string_view key) override {
    Remember(txn_->Delete(ToSlice(key)), "buffering a delete in ");
  }

  // The first failure of Put/Delete, which cannot return one themselves.
  const Status& write_error() const { return write_error_; }

 private:
  void Remember(const rocksdb::Status& s, std::string_view what) {
    if (!s.ok() && write_error_.ok()) write_error_ = FromRocks(s, std::string(what) + where_);
  }

  rocksdb::Transaction* txn_;
  const std::string& where_;
  rocksdb::ReadOptions read_options_;
  Status write_error_;
};

// A read-only view at a snapshot, without a transaction.
class RocksView final : public Txn {
 public:
  RocksView(rocksdb::DB* db, const rocksdb::Snapshot* snapshot, const std::string& where)
      : db_(db), where_(where) {
    read_options_.snapshot = snapshot;
  }

  Result<std::optional<std::string>> Get(std::string_view key) override {
    std::string value;
    rocksdb::Status s = db_->Get(read_options_, ToSlice(key), &value);
    if (s.IsNotFound()) return std::nullopt;
    if (!s.ok()) return FromRocks(s, "reading " + where_);
    return value;
  }

  Result<std::vector<std::optional<std::string>>> BatchGet(
      const std::vector<std::string>& keys) override {
    std::vector<rocksdb::Slice> slices;
    slices.reserve(keys.size());
    for (const auto& key : keys) slices.push_back(ToSlice(key));
    std::vector<std::string> values;
    std::vector<rocksdb::Status> statuses = db_->MultiGet(read_options_, slices, &values);
    return MultiGetResult(statuses, values, where_);
  }

  Status Scan(std::string_view begin, std::string_view end, size_t limit, bool keys_only,
              const std::function<bool(std::string_view, std::string_view)>& fn) override {
    if (!end.empty() && begin >= end) return OkStatus();
    rocksdb::Slice bound;
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(ScanOptions(read_options_.snapshot, end, &bound)));
    return ScanIterator(it.get(), begin, end, limit, keys_only, fn, "scanning " + where_);
  }

  void Put(std::string_view, std::string_view) override { wrote_ = true; }
  void Delete(std::string_view) override { wrote_ = true; }
  bool wrote() const { return wrote_; }

 private:
  rocksdb::DB* db_;
  const std::string& where_;
  rocksdb::ReadOptions read_options_;
  bool wrote_ = false;
};

class RocksDbEngine final : public Engine {
 public:
  RocksDbEngine(std::unique_ptr<rocksdb::OptimisticTransactionDB> db, std::string path,
                const RocksDbOptions& options)
      : db_(std::move(db)), describe_("rocksdb://" + path), retry_(options.retry) {
    write_options_.sync = options.sync_writes;
  }

  std::string Describe() const override { return describe_; }
  // rocksdb holds a file lock on the directory while open.
  bool Exclusive() const override { return true; }

  Status Txn(const std::function<Status(kv::Txn&)>& fn) override {
    return RetryOnConflict(retry_, describe_, [&] { return TxnOnce(fn); });
  }

  Status View(const std::function<Status(kv::Txn&)>& fn) override {
    return RetryOnConflict(retry_, describe_, [&] {
      rocksdb::ManagedSnapshot snapshot(db_.get());
      RocksView view(db_.get(), snapshot.snapshot(), describe_);
      Status status = fn(view);
      if (status.ok() && view.wrote()) {
        return Internal("a read-only View called Put or Delete; use Engine::Txn to write");
      }
      return status;
    });
  }

 private:
  Status TxnOnce(const std::function<Status(kv::Txn&)>& fn) {
    rocksdb::OptimisticTransactionOptions txn_options;
    txn_options.set_snapshot = true;
    std::unique_ptr<rocksdb::Transaction> txn(db_->BeginTransaction(write_options_, txn_options));
    RocksTxn wrapper(txn.get(), describe_);
    Status status = fn(wrapper);
    if (status.ok()) status = wrapper.write_error();
    if (!status.ok()) {
      // Rollback only drops the buffered writes; its failure changes nothing.
      (void)txn->Rollback();
      return status;
    }
    rocksdb::Status s = txn->Commit();
    if (!s.ok()) return FromRocks(s, "committing to " + describe_);
    return OkStatus();
  }

  std::unique_ptr<rocksdb::OptimisticTransactionDB> db_;
  const std::string describe_;
  const RetryPolicy retry_;
  rocksdb::WriteOptions write_options_;
};

}  // namespace

Result<std::shared_ptr<Engine>> OpenRocksDb(const std::string& path,
                                            const RocksDbOptions& options) {
  if (path.empty() || path.front() != '/') {
    return Invalid("rocksdb path '" + path +
                   "' must be absolute, as in rocksdb:///var/lib/shoal/meta");
  }
  std::error_code ec;
  if (options.create) {
    // rocksdb creates only the last directory of the path.
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    if (ec) {
      return Unavailable("cannot create the parent directory of " + path + ": " + ec.message());
    }
  } else if (!std::filesystem::exists(path + "/CURRENT", ec)) {
    // Checked before rocksdb, which would create the directory and its log
    // files even without create_if_missing.
    return NotFound("no metadata at " + path + ": format a volume first (shoal format ...)");
  }

  rocksdb::OptimisticTransactionDB* raw = nullptr;
  rocksdb::Status s = rocksdb::OptimisticTransactionDB::Open(MakeOptions(options), path, &raw);
  if (!s.ok()) {
    delete raw;
    return FromOpen(s, path);
  }
  return std::make_shared<RocksDbEngine>(std::unique_ptr<rocksdb::OptimisticTransactionDB>(raw),
                                         path, options);
}

}  // namespace shoal::kv
