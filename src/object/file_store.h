// FileStore: a local directory used as an object store ("file:///dir").
//
// Layout: the object "a/b/c" is the file DIR/a/b/c. A Put writes the whole
// object to a fresh file under DIR/.tmp/ and renames it into place, so a
// reader sees the old object or the new one, never a part; the rename is not
// fsync'd, so a machine crash (not a process crash) may lose recent Puts. A
// Delete removes the file and then the directories it leaves empty. Temporary
// files that a crash left behind are removed by Open() once they are older
// than kStaleTempAge.
//
// Keys must name a file under DIR (see CheckKey): non-empty '/'-separated
// components, none empty, "." or "..", and not ".tmp" as the first. Since a
// file cannot also be a directory, "a/b" and "a/b/c" cannot both be objects
// here (S3 allows it): the second Put fails with kInvalid.
//
// No file descriptor is kept open between calls: each Get opens, reads and
// closes, so the store never adds to the process's open-file count at rest.
//
// Threading: all methods may be called concurrently, also by several
// processes sharing DIR.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "object/list_builder.h"
#include "object/object_store.h"

namespace shoal::object {

class FileStore : public ObjectStore {
 public:
  // Opens the directory `root` (an absolute path), creating it and its
  // parents if missing.
  static Result<std::unique_ptr<FileStore>> Open(std::string_view root);

  std::string Describe() const override;
  Status Put(std::string_view key, std::string_view data) override;
  Result<std::string> Get(std::string_view key, uint64_t offset = 0, uint64_t length = 0) override;
  Result<ObjectInfo> Head(std::string_view key) override;
  Status Delete(std::string_view key) override;
  // Reads only the directories that can hold keys of the listing: those on
  // the path of `prefix`, and below it those not wholly before start_after.
  Result<ListResult> List(const ListOptions& options) override;

  const std::string& root() const { return root_; }

  // OkStatus when `key` can name an object here, else kInvalid (or
  // kNameTooLong) saying what is wrong with it.
  static Status CheckKey(std::string_view key);

  // Where Put stages objects; never listed, and not usable as a key's first
  // component.
  static constexpr std::string_view kTempDir = ".tmp";
  // A temporary file this old is a crash's leftover: no Put takes this long.
  static constexpr std::chrono::hours kStaleTempAge{1};
  // Same limit as S3 and MemStore, so that keys that work here work there.
  static constexpr size_t kMaxKeyLength = 1024;

 private:
  FileStore(std::string root, uint64_t nonce);

  std::string PathOf(std::string_view key) const;
  // The next unused temporary file name (a full path).
  std::string TempPath();
  // Creates the directories of key's parents. 0 or the errno of the failure.
  int MakeParents(std::string_view key) const;
  void PruneParents(std::string_view key) const;
  Status WriteTemp(std::string_view key, const std::string& temp, std::string_view data) const;
  Status Walk(const std::string& dir_key, ListBuilder* builder, bool* stop) const;

  Status Error(Code code, std::string_view op, std::string_view key, std::string_view what) const;
  // An error from the system call `call` that failed with `err`.
  Status SysError(std::string_view op, std::string_view key, std::string_view call, int err) const;

  const std::string root_;  // absolute, without a trailing '/'
  const uint64_t nonce_;    // random: keeps temp names of stores in one process apart
  std::atomic<uint64_t> next_temp_{0};
  // Puts hold this shared while they create directories and rename into
  // them; a Delete holds it exclusively while it prunes. Otherwise busy Puts
  // and Deletes in one directory starve a Put, whose directory keeps being
  // removed between its mkdir and its rename. Other processes sharing the
  // root can still race with a Put; its retries cover that.
  mutable std::shared_mutex tree_mu_;
};

}  // namespace shoal::object
