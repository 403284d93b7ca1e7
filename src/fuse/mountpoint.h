// Mountpoint checks and the kernel's mount table, shared by `shoal mount`
// (refuse a bad mountpoint before anything is opened) and `shoal umount`.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace shoal::fuse {

// The file-system type a shoal mount shows in the mount table ("fuse." +
// subtype), and the prefix of its source ("shoal:<volume>").
inline constexpr std::string_view kMountType = "fuse.shoal";
inline constexpr std::string_view kSourcePrefix = "shoal:";

// One line of /proc/self/mountinfo, with octal escapes ("\040") decoded.
struct MountEntry {
  std::string mountpoint;
  std::string fstype;
  std::string source;
};

// Parses mountinfo text (see proc(5)); malformed lines are skipped.
std::vector<MountEntry> ParseMountInfo(std::string_view text);

// The current mount table of this process's mount namespace. kIo when
// /proc/self/mountinfo cannot be read.
Result<std::vector<MountEntry>> ReadMountTable();

// The last (topmost) mount whose mountpoint is exactly `path`, if any.
std::optional<MountEntry> FindMount(const std::vector<MountEntry>& table, std::string_view path);

// `path` made absolute against the current directory and lexically
// normalized (no ".", "..", or trailing '/'), without touching the file system.
std::string AbsolutePath(std::string_view path);

struct MountpointCheck {
  std::string path;   // absolute, symlinks resolved: what to mount on
  bool empty = true;  // false: its files are hidden while mounted (allowed)
};

// Refuses a mountpoint that cannot take a new mount, touching nothing:
//   kNotFound  "mountpoint /x does not exist: create it first (mkdir -p /x)"
//   kNotDir    "mountpoint /x is not a directory: ..."
//   kBusy      "mountpoint /x is busy: something is already mounted there (...)"
//              (also for a dead FUSE mount: "transport endpoint is not connected")
//   kAccess    when it cannot be read.
// A non-empty directory is allowed (libfuse 3 allows it); see `empty`.
Result<MountpointCheck> CheckMountpoint(std::string_view path);

}  // namespace shoal::fuse
