#include "fuse/mount.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "fuse/adapter.h"
#include "fuse/mountpoint.h"

namespace shoal::fuse {
namespace {

// libfuse's own messages (mount failures, protocol errors) go to our log.
void LogFromLibfuse(enum fuse_log_level level, const char* fmt, va_list ap) {
  char buf[1024];
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  std::string_view msg(buf);
  while (!msg.empty() && msg.back() == '\n') msg.remove_suffix(1);
  if (level <= FUSE_LOG_ERR) {
    spdlog::error("libfuse: {}", msg);
  } else if (level <= FUSE_LOG_NOTICE) {
    spdlog::warn("libfuse: {}", msg);
  } else {
    spdlog::debug("libfuse: {}", msg);
  }
}

// The -o options handed to libfuse, which passes them to the kernel and to
// fusermount3. Commas inside a value would split it, hence the check.
Result<std::string> MountOptionString(const MountOptions& o) {
  if (o.volume.find(',') != std::string::npos) {
    return Invalid("volume name '" + o.volume +
                   "' contains a comma: mount options cannot carry it");
  }
  std::string s = "fsname=" + std::string(kSourcePrefix) + o.volume + ",subtype=shoal";
  if (o.default_permissions) s += ",default_permissions";
  if (o.allow_other) s += ",allow_other";
  if (o.max_read != 0) s += ",max_read=" + std::to_string(o.max_read);
  return s;
}

// Frees everything a session took, in the order libfuse requires.
class SessionGuard {
 public:
  explicit SessionGuard(fuse_session* se) : se_(se) {}
  ~SessionGuard() {
    if (mounted_) fuse_session_unmount(se_);
    if (signals_) fuse_remove_signal_handlers(se_);
    fuse_session_destroy(se_);
  }
  SessionGuard(const SessionGuard&) = delete;
  SessionGuard& operator=(const SessionGuard&) = delete;

  fuse_session* get() const { return se_; }
  void set_mounted() { mounted_ = true; }
  void set_signals() { signals_ = true; }

 private:
  fuse_session* se_;
  bool mounted_ = false;
  bool signals_ = false;
};

}  // namespace

class Mount::Impl {
 public:
  Impl(vfs::Vfs& vfs, MountOptions options) : adapter_{vfs, std::move(options), nullptr} {}
  internal::Adapter adapter_;
};

Mount::Mount(vfs::Vfs& vfs, MountOptions options)
    : impl_(std::make_unique<Impl>(vfs, std::move(options))) {}

Mount::~Mount() = default;

void Mount::OnReady(std::function<void()> fn) { impl_->adapter_.on_ready = std::move(fn); }

Status Mount::Run() {
  MountOptions& o = impl_->adapter_.options;
  ASSIGN_OR_RETURN(MountpointCheck mp, CheckMountpoint(o.mountpoint));
  o.mountpoint = mp.path;
  if (!mp.empty) {
    spdlog::warn("mountpoint {} is not empty: its files are hidden while shoal is mounted there",
                 mp.path);
  }
  struct stat dev {};
  if (::stat("/dev/fuse", &dev) != 0) {
    return Unavailable("/dev/fuse is missing: load the fuse kernel module (modprobe fuse)");
  }
  if (o.threads == 0) return Invalid("threads is 0: give at least 1 worker thread");
  ASSIGN_OR_RETURN(std::string opts, MountOptionString(o));

  fuse_set_log_func(LogFromLibfuse);
  std::vector<std::string> words = {"shoal", "-o", opts};
  if (o.debug) words.push_back("-d");
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  const fuse_lowlevel_ops& ops = internal::LowLevelOps();
  fuse_session* se = fuse_session_new(&args, &ops, sizeof(ops), &impl_->adapter_);
  fuse_opt_free_args(&args);
  if (se == nullptr) {
    return Invalid("libfuse refused the mount options '" + opts + "' (its reason is in the log)");
  }
  SessionGuard guard(se);
  impl_->adapter_.session = se;
  if (fuse_set_signal_handlers(se) != 0) {
    return Internal("cannot install the SIGTERM/SIGINT/SIGHUP handlers of the mount");
  }
  guard.set_signals();
  if (fuse_session_mount(se, o.mountpoint.c_str()) != 0) {
    std::string hint = ::geteuid() == 0
                           ? "its reason is in the log"
                           : "its reason is in the log; as a non-root user fusermount3 must be "
                             "installed setuid root, and allow_other needs user_allow_other in "
                             "/etc/fuse.conf";
    return Unavailable("cannot mount on " + o.mountpoint + ": " + hint);
  }
  guard.set_mounted();
  spdlog::info("mounted volume {} on {} ({} worker threads at most)", o.volume, o.mountpoint,
               o.threads);

  // Raised from a thread of its own: its stat of the mountpoint returns once
  // the loop below has answered the kernel's handshake, which would reset a
  // value set before.
  std::thread readahead;
  if (o.kernel_readahead_kib != 0) {
    readahead = std::thread([mp = o.mountpoint, kib = o.kernel_readahead_kib] {
      struct stat st {};
      struct statfs fs {};
      constexpr long kFuseMagic = 0x65735546;
      // Only a FUSE mount's own device: after an early unmount the path is
      // the directory underneath, whose disk must be left alone.
      if (::stat(mp.c_str(), &st) != 0 || ::statfs(mp.c_str(), &fs) != 0 ||
          static_cast<long>(fs.f_type) != kFuseMagic || major(st.st_dev) != 0) {
        return;
      }
      std::string path = "/sys/class/bdi/" + std::to_string(major(st.st_dev)) + ":" +
                         std::to_string(minor(st.st_dev)) + "/read_ahead_kb";
      std::ofstream f(path);
      f << kib << "\n";
      f.flush();
      if (!f) {
        spdlog::warn("cannot raise the kernel's readahead to {} KiB ({}): reads stay at 128 KiB",
                     kib, path);
      } else {
        spdlog::info("kernel readahead of the mount: {} KiB", kib);
      }
    });
  }
  fuse_loop_config* config = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(config, o.threads);
  fuse_loop_cfg_set_clone_fd(config, 0);
  int rc = fuse_session_loop_mt(se, config);
  fuse_loop_cfg_destroy(config);
  if (readahead.joinable()) readahead.join();
  // rc > 0 is the signal that ended the loop; 0 an unmount from outside.
  if (rc > 0) {
    spdlog::info("signal {} received: unmounting {}", rc, o.mountpoint);
  } else if (rc == 0) {
    spdlog::info("{} was unmounted", o.mountpoint);
  }
  if (rc < 0) {
    return IoError("serving " + o.mountpoint + " failed: " + std::strerror(-rc));
  }
  return OkStatus();
}

}  // namespace shoal::fuse
