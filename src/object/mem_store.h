// MemStore: an object store in memory, lost when the process exits. The twin
// of the real stores in unit tests, and the store behind "mem://".
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "object/object_store.h"

namespace shoal::object {

class MemStore : public ObjectStore {
 public:
  // `label` only appears in Describe() and in messages (e.g. a test's name).
  explicit MemStore(std::string label = "");

  std::string Describe() const override;
  // Any non-empty key of at most kMaxKeyLength bytes is accepted (as by S3):
  // unlike FileStore, "a//b" and "../x" are fine here.
  Status Put(std::string_view key, std::string_view data) override;
  Result<std::string> Get(std::string_view key, uint64_t offset = 0, uint64_t length = 0) override;
  Result<ObjectInfo> Head(std::string_view key) override;
  Status Delete(std::string_view key) override;
  Result<ListResult> List(const ListOptions& options) override;

  // The S3 limit on key length, so that what works here works there.
  static constexpr size_t kMaxKeyLength = 1024;

 private:
  struct Object {
    std::string data;
    int64_t mtime_ns = 0;
    uint64_t version = 0;  // unique per Put, makes the etag
  };

  Status CheckKey(std::string_view op, std::string_view key) const;
  Status Error(Code code, std::string_view op, std::string_view key, std::string_view what) const;

  const std::string label_;
  const std::string name_;  // "mem store LABEL", starts every message
  std::atomic<uint64_t> next_version_{1};
  mutable std::shared_mutex mu_;
  std::map<std::string, Object, std::less<>> objects_;  // guarded by mu_
};

}  // namespace shoal::object
