// Context: who is making a request. Built by the front end (fuse/, a test)
// and passed down to every vfs and meta call that checks permissions.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace shoal {

class Context {
 public:
  Context() = default;
  Context(uint32_t uid, uint32_t gid, uint32_t pid) : uid_(uid), gid_(gid), pid_(pid) {}

  // Root, for internal work (background jobs, tools).
  static Context Root() { return Context(0, 0, 0); }

  uint32_t uid() const { return uid_; }
  uint32_t gid() const { return gid_; }
  uint32_t pid() const { return pid_; }
  bool IsRoot() const { return uid_ == 0; }

  // Supplementary groups are costly to learn through FUSE (a read of
  // /proc/PID/status), so the front end may give a loader that runs only when
  // a check needs them.
  void SetGroups(std::vector<uint32_t> groups) { groups_ = std::move(groups); }
  void SetGroupLoader(std::function<std::vector<uint32_t>()> loader) { loader_ = std::move(loader); }

  // True if gid is the primary group or one of the supplementary groups.
  bool InGroup(uint32_t gid) const {
    if (gid == gid_) return true;
    if (!groups_ && loader_) groups_ = loader_();
    if (!groups_) return false;
    for (uint32_t g : *groups_)
      if (g == gid) return true;
    return false;
  }

  // For blocking waits (lock waits): true once the caller gave up (a FUSE
  // interrupt). Never set for in-process callers unless a test sets it.
  void SetInterruptCheck(std::function<bool()> check) { interrupted_ = std::move(check); }
  bool Interrupted() const { return interrupted_ && interrupted_(); }

 private:
  uint32_t uid_ = 0;
  uint32_t gid_ = 0;
  uint32_t pid_ = 0;
  mutable std::optional<std::vector<uint32_t>> groups_;
  std::function<std::vector<uint32_t>()> loader_;
  std::function<bool()> interrupted_;
};

}  // namespace shoal
