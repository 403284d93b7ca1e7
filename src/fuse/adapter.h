// Internal to fuse/: the libfuse low-level operation table and the state its
// handlers share. Only mount.cc includes this.
#pragma once

#include <fuse_lowlevel.h>

#include <atomic>
#include <functional>

#include "fuse/mount.h"
#include "vfs/vfs.h"

namespace shoal::fuse::internal {

// The userdata of the fuse session. Read-only while the session runs, except
// `ready_sent`.
struct Adapter {
  vfs::Vfs& vfs;
  MountOptions options;  // mountpoint is absolute
  std::function<void()> on_ready;
  std::atomic<bool> ready_sent{false};
  // Set once the session exists; for notifications to the kernel.
  std::atomic<fuse_session*> session{nullptr};
};

// Handlers for every operation shoal serves; the others are left null so
// that libfuse answers ENOSYS.
const fuse_lowlevel_ops& LowLevelOps();

}  // namespace shoal::fuse::internal
