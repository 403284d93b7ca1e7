#include "object/mem_store.h"

#include <chrono>
#include <cstdio>
#include <mutex>

#include "object/list_builder.h"

namespace shoal::object {
namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string EtagOf(uint64_t version) {
  char buf[32];
  snprintf(buf, sizeof(buf), "m%llx", static_cast<unsigned long long>(version));
  return buf;
}

}  // namespace

MemStore::MemStore(std::string label)
    : label_(std::move(label)), name_(label_.empty() ? "mem store" : "mem store " + label_) {}

std::string MemStore::Describe() const { return label_.empty() ? "mem://" : "mem://" + label_; }

Status MemStore::Error(Code code, std::string_view op, std::string_view key,
                       std::string_view what) const {
  std::string m = name_ + ": ";
  m += op;
  m += " '";
  m += key;
  m += "': ";
  m += what;
  return Status(code, std::move(m));
}

Status MemStore::CheckKey(std::string_view op, std::string_view key) const {
  if (key.empty()) return Error(Code::kInvalid, op, key, "an object key cannot be empty");
  if (key.size() > kMaxKeyLength) {
    return Error(Code::kInvalid, op, key.substr(0, 64),
                 "key of " + std::to_string(key.size()) + " bytes is longer than the limit of " +
                     std::to_string(kMaxKeyLength));
  }
  return OkStatus();
}

Status MemStore::Put(std::string_view key, std::string_view data) {
  RETURN_IF_ERROR(CheckKey("put", key));
  // Copy outside the lock: a large object should not stall readers.
  Object object{std::string(data), NowNs(), next_version_.fetch_add(1)};
  std::unique_lock lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) {
    objects_.emplace(std::string(key), std::move(object));
  } else {
    it->second = std::move(object);
  }
  return OkStatus();
}

Result<std::string> MemStore::Get(std::string_view key, uint64_t offset, uint64_t length) {
  RETURN_IF_ERROR(CheckKey("get", key));
  std::shared_lock lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return Error(Code::kNotFound, "get", key, "no such object");
  const std::string& data = it->second.data;
  if (offset >= data.size()) return std::string();
  uint64_t n = data.size() - offset;
  if (length != 0 && length < n) n = length;
  return data.substr(offset, n);
}

Result<ObjectInfo> MemStore::Head(std::string_view key) {
  RETURN_IF_ERROR(CheckKey("head", key));
  std::shared_lock lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return Error(Code::kNotFound, "head", key, "no such object");
  return ObjectInfo{std::string(key), it->second.data.size(), it->second.mtime_ns,
                    EtagOf(it->second.version)};
}

Status MemStore::Delete(std::string_view key) {
  RETURN_IF_ERROR(CheckKey("delete", key));
  std::unique_lock lock(mu_);
  auto it = objects_.find(key);
  if (it != objects_.end()) objects_.erase(it);
  return OkStatus();
}

Result<ListResult> MemStore::List(const ListOptions& options) {
  RETURN_IF_ERROR(CheckListOptions(options).Annotate(name_ + ": list"));
  ListBuilder builder(options);
  std::shared_lock lock(mu_);
  auto it = objects_.lower_bound(options.prefix);
  if (options.start_after >= options.prefix) it = objects_.upper_bound(options.start_after);
  while (it != objects_.end() && it->first.starts_with(options.prefix)) {
    ListBuilder::Action action = builder.Classify(it->first);
    if (action == ListBuilder::Action::kStop) break;
    if (action == ListBuilder::Action::kAddObject) {
      const Object& o = it->second;
      builder.AddObject({it->first, o.data.size(), o.mtime_ns, EtagOf(o.version)});
    }
    if (!builder.skip_prefix().empty() && it->first.starts_with(builder.skip_prefix())) {
      std::string next = PrefixSuccessor(builder.skip_prefix());
      it = next.empty() ? objects_.end() : objects_.lower_bound(next);
    } else {
      ++it;
    }
  }
  return builder.Finish();
}

}  // namespace shoal::object
