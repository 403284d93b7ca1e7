// Mount: serves a Vfs at a mountpoint through libfuse's low-level API.
//
// The adapter is a translation and nothing more: each request becomes one Vfs
// call, a Status becomes an errno (shoal::ErrnoOf), attributes become struct
// stat. All file-system behaviour lives in vfs/. Choices made here:
//   - Negative lookups are answered with ENOENT and not cached by the kernel,
//     so that a name created by another client appears at once.
//   - forget is a no-op: vfs keeps no per-lookup state.
//   - The kernel's writeback cache stays off (writes reach vfs in order and
//     close-to-open holds); splice is off; copy_file_range and lseek are not
//     implemented (ENOSYS: the kernel falls back to read and write).
//   - Open files do not keep the page cache across opens (keep_cache off), so
//     a reopen sees data written by other clients (close-to-open).
//   - Reserved xattrs answer `shoal info` and `shoal status` (see info.h).
//
// Threading: Run() blocks the calling thread; requests are served by a pool
// of up to `threads` libfuse worker threads, all calling into the Vfs at once.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "vfs/vfs.h"

namespace shoal::fuse {

struct MountOptions {
  std::string mountpoint;         // an existing directory; made absolute by Run()
  std::string volume;             // shown as the source "shoal:<volume>" in the mount table
  double attr_timeout = 1.0;      // seconds the kernel may cache attributes
  double entry_timeout = 1.0;     // seconds the kernel may cache a name -> inode
  uint32_t max_write = 1u << 20;  // largest write request (libfuse 3.14 allows 1 MiB)
  uint32_t max_read = 0;          // largest read request; 0: the kernel's limit (1 MiB)
  uint32_t max_readahead = 0;     // 0: what the kernel offers
  // The kernel's readahead for the mount (its bdi's read_ahead_kb), raised
  // once the mount is up: FUSE starts every mount at 128 KiB, and the FUSE
  // handshake cannot go above it. 0 leaves it. Needs root (sysfs).
  uint32_t kernel_readahead_kib = 0;
  unsigned threads = 16;  // most libfuse worker threads at once
  // Let other users into the mount. Only root may ask for it without
  // user_allow_other in /etc/fuse.conf, hence the default.
  bool allow_other = ::geteuid() == 0;
  // The kernel checks permission bits itself before sending a request (vfs
  // checks them again: both must agree).
  bool default_permissions = true;
  bool debug = false;  // libfuse's request trace on stderr
};

class Mount {
 public:
  // `vfs` must outlive the Mount.
  Mount(vfs::Vfs& vfs, MountOptions options);
  ~Mount();
  Mount(const Mount&) = delete;
  Mount& operator=(const Mount&) = delete;

  // `fn` runs once, on a libfuse worker thread, when the kernel has finished
  // the handshake and the mount serves requests. Set before Run().
  void OnReady(std::function<void()> fn);

  // Checks the mountpoint (CheckMountpoint), mounts, serves until the file
  // system is unmounted or the process gets SIGTERM, SIGINT or SIGHUP, then
  // unmounts (if still mounted) and returns. Returns an error, and leaves
  // nothing mounted, when the mount cannot be made. Does not shut the Vfs
  // down: the caller does, after Run() returns.
  Status Run();

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace shoal::fuse
