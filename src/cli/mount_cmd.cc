// shoal mount: opens a volume and serves it through FUSE until unmounted or
// signalled, then commits buffered writes and ends its session.
//
// --background forks FIRST, before anything takes a lock or starts a thread
// (RocksDB does both, and neither survives a fork): the child opens and
// mounts, and reports through a pipe either that the mount is ready or why it
// failed; the parent prints that and exits 0 only once the mount is usable.
#include <fcntl.h>
#include <malloc.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cache/disk_cache.h"
#include "chunk/chunk.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/storage.h"
#include "cli/volume.h"
#include "fuse/info.h"
#include "fuse/mount.h"
#include "fuse/mountpoint.h"
#include "meta/meta.h"
#include "object/object_store.h"
#include "vfs/vfs.h"

#ifndef SHOAL_VERSION
#define SHOAL_VERSION "unknown"
#endif

namespace shoal::cli {
namespace {

constexpr std::string_view kCmd = "mount";
constexpr std::string_view kLogPattern = "[%Y-%m-%d %H:%M:%S.%e] [%l] [%t] %v";

// What the parent of a background mount, or the user of a foreground one, is
// told once: ready (with where and who), or the error that stopped it.
class Reporter {
 public:
  // fd >= 0: a background child's end of the pipe to its parent (owned).
  // fd < 0: foreground, print directly.
  Reporter(int fd, bool json) : fd_(fd), json_(json) {}
  ~Reporter() {
    if (fd_ >= 0) ::close(fd_);
  }
  Reporter(const Reporter&) = delete;
  Reporter& operator=(const Reporter&) = delete;

  bool done() const { return done_.load(); }

  void Ready(const nlohmann::json& info) {
    if (done_.exchange(true)) return;
    if (fd_ >= 0) {
      Send("ok\n" + fuse::DumpJson(info));
    } else {
      PrintReady(info, json_);
    }
  }

  void Fail(const Status& s) {
    if (done_.exchange(true)) return;
    if (fd_ >= 0) {
      Send("error\n" + (s.message().empty() ? s.ToString() : s.message()));
    } else {
      PrintError(kCmd, s);
    }
  }

  static void PrintReady(const nlohmann::json& info, bool json) {
    if (json) {
      std::cout << fuse::DumpJson(info, 2) << std::endl;
      return;
    }
    std::string mp = info.value("mountpoint", "");
    std::cout << "mounted volume " << info.value("volume", "") << " on " << mp << " (pid "
              << info.value("pid", 0) << (info.contains("log") ? "; log " : "")
              << info.value("log", "") << "); unmount with 'shoal umount " << mp << "'"
              << std::endl;
  }

 private:
  // Writes everything and closes the pipe, so that the parent sees the end.
  void Send(const std::string& text) {
    size_t off = 0;
    while (off < text.size()) {
      ssize_t n = ::write(fd_, text.data() + off, text.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // the parent is gone: nobody left to tell
      off += static_cast<size_t>(n);
    }
    ::close(fd_);
    fd_ = -1;
  }

  int fd_;
  bool json_;
  std::atomic<bool> done_{false};
};

void UseLogger(const std::shared_ptr<spdlog::logger>& logger) {
  logger->set_pattern(std::string(kLogPattern));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  spdlog::flush_every(std::chrono::seconds(1));
}

// Points stdout and stderr at the log file (anything libfuse or a crash
// prints lands there too) and logs to stderr.
Status RedirectToLog(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) {
    return Unavailable("cannot open the log file " + path + ": " + std::strerror(errno) +
                       ": give a writable --log FILE");
  }
  ::dup2(fd, STDOUT_FILENO);
  ::dup2(fd, STDERR_FILENO);
  ::close(fd);
  UseLogger(spdlog::stderr_logger_mt("shoal"));
  return OkStatus();
}

// The block store's options from the mount flags: the disk cache (opened
// here), concurrency, write-back, readahead.
Result<chunk::BlockStoreOptions> DataPathOptions(const MountArgs& a,
                                                 const meta::VolumeConfig& config,
                                                 uint64_t buffer) {
  chunk::BlockStoreOptions o;
  ASSIGN_OR_RETURN(uint64_t cache_size, ParseSize(a.cache_size, "--cache-size"));
  ASSIGN_OR_RETURN(o.readahead_max_window, ParseSize(a.readahead, "--readahead"));
  o.upload_concurrency = a.upload_concurrency;
  o.download_concurrency = a.download_concurrency;
  // Memory beyond --buffer-size: blocks on their way up, blocks read ahead,
  // and (without a disk cache) a small memory cache that keeps a block
  // between the kernel's requests for its parts and holds the readahead.
  o.upload_buffer_bytes = std::clamp<uint64_t>(buffer / 4, 4ull << 20, 32ull << 20);
  o.readahead_bytes = std::max<uint64_t>(o.readahead_max_window, 8ull << 20);
  o.memory_cache_bytes = std::max<uint64_t>(
      chunk::MemoryCacheForReadahead(o.readahead_bytes, config.block_size), 16ull << 20);
  if (cache_size > 0) {
    cache::DiskCacheOptions c;
    c.dirs = a.cache_dirs.empty() ? std::vector<std::string>{DefaultCacheDir()} : a.cache_dirs;
    for (auto& d : c.dirs) d = fuse::AbsolutePath(d);
    c.name = config.uuid;
    c.limit_bytes = cache_size;
    c.min_free_ratio = a.cache_free_space;
    ASSIGN_OR_RETURN(std::unique_ptr<cache::DiskCache> disk, cache::DiskCache::Open(c));
    spdlog::info("using {}", disk->Describe());
    o.cache = std::move(disk);
    o.writeback = a.writeback;
  } else if (a.writeback) {
    return Invalid("--writeback stages blocks on the cache disk: it needs --cache-size above 0");
  } else {
    // Written blocks would only push what readers need out of the small
    // memory cache.
    o.cache_writes = false;
  }
  return o;
}

// The parts of a mount after the fork: open, mount, serve, shut down.
Status Serve(const MountArgs& a, const std::string& mountpoint, const std::string& log_arg,
             bool background, Reporter& reporter) {
  ASSIGN_OR_RETURN(std::shared_ptr<kv::Engine> engine,
                   OpenMetaEngine(a.meta_url,
                                  "a volume in RocksDB can be mounted by one process at a "
                                  "time: unmount it first ('shoal umount MOUNTPOINT')"));
  ASSIGN_OR_RETURN(std::unique_ptr<meta::Meta> meta, OpenVolume(engine, a.meta_url));
  meta::VolumeConfig config = meta->config();

  std::string log = log_arg;
  if (background && log.empty()) log = DefaultLogPath(config.name);
  if (background) {
    RETURN_IF_ERROR(RedirectToLog(log));
  } else if (log.empty()) {
    UseLogger(spdlog::stderr_color_mt("shoal"));
  } else {
    try {
      UseLogger(spdlog::basic_logger_mt("shoal", log));
    } catch (const spdlog::spdlog_ex& e) {
      return Unavailable("cannot open the log file " + log + ": " + e.what() +
                         ": give a writable --log FILE");
    }
  }
  spdlog::info("shoal {} mounting volume {} ({}) from {} on {}", SHOAL_VERSION, config.name,
               config.uuid, a.meta_url, mountpoint);

  ASSIGN_OR_RETURN(StoreSpec spec, VolumeStoreSpec(config, a.store, ProcessEnv()));
  if (config.storage == "mem") {
    spdlog::warn("volume {} keeps its data in memory: file contents are lost at unmount",
                 config.name);
  }
  // For s3 this checks the bucket and the credentials (one request), so that
  // a bucket or keys that no longer work fail the mount with a message
  // instead of every read with EIO.
  ASSIGN_OR_RETURN(std::shared_ptr<object::ObjectStore> store,
                   OpenStore(spec, /*create_bucket=*/false));
  if (spec.storage == "s3") {
    spdlog::info("object store {}, {}", store->Describe(), spec.credentials.Describe());
  }

  meta::SessionInfo session;
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  session.host = host;
  session.pid = static_cast<uint32_t>(::getpid());
  session.mountpoint = mountpoint;
  session.version = SHOAL_VERSION;
  RETURN_IF_ERROR(meta->StartSession(session));
  // glibc gives every thread that allocates its own arena, and freed memory
  // stays in them: with dozens of FUSE and transfer threads moving 1-4 MiB
  // buffers, the resident size grows far past what is in use. A few arenas
  // keep it near the real figure.
  constexpr int kMallocArenas = 4;
  ::mallopt(M_ARENA_MAX, kMallocArenas);
  vfs::Options vfs_options;
  ASSIGN_OR_RETURN(vfs_options.buffer_size, ParseSize(a.buffer_size, "--buffer-size"));
  ASSIGN_OR_RETURN(vfs_options.blocks, DataPathOptions(a, config, vfs_options.buffer_size));
  // One file alone may use the whole buffer, up to a chunk's worth.
  vfs_options.write_buffer_per_file = std::min<uint64_t>(64ull << 20, vfs_options.buffer_size);
  vfs_options.session_timeout_sec = a.session_timeout;
  // A few heartbeats per timeout, so that one late beat is not death.
  vfs_options.heartbeat_sec = std::min(10.0, a.session_timeout / 4);
  ASSIGN_OR_RETURN(std::unique_ptr<vfs::Vfs> vfs,
                   vfs::Vfs::Create(std::move(meta), std::move(store), vfs_options));

  fuse::MountOptions options;
  options.mountpoint = mountpoint;
  options.volume = config.name;
  options.attr_timeout = a.attr_timeout;
  options.entry_timeout = a.entry_timeout;
  options.threads = a.threads;
  // Readahead of the kernel's page cache: enough to keep a sequential
  // reader's requests at 1 MiB and several in flight.
  options.kernel_readahead_kib = ::geteuid() == 0 ? 4096 : 0;
  options.debug = a.debug_fuse;
  fuse::Mount mount(*vfs, options);
  nlohmann::json ready = {{"volume", config.name},
                          {"uuid", config.uuid},
                          {"mountpoint", mountpoint},
                          {"pid", ::getpid()}};
  if (!log.empty()) ready["log"] = log;
  mount.OnReady([&reporter, ready] {
    spdlog::info("mount ready");
    reporter.Ready(ready);
  });

  Status run = mount.Run();
  spdlog::info("committing buffered writes and ending the session");
  Status shut = vfs->Shutdown();
  if (!shut.ok()) {
    spdlog::error("shutting down volume {}: {}", config.name, shut.ToString());
    shut = shut.Annotate("shutting down volume " + config.name +
                         " (writes not yet committed may be lost; see the log)");
  }
  if (!run.ok()) return run;
  if (!shut.ok()) return shut;
  spdlog::info("volume {} unmounted cleanly", config.name);
  return OkStatus();
}

// Foreground, and the child of a background mount after the fork.
int ServeAndReport(const MountArgs& a, const std::string& mountpoint, const std::string& log,
                   bool background, int pipe_fd) {
  Reporter reporter(pipe_fd, a.json);
  Status s = Serve(a, mountpoint, log, background, reporter);
  if (s.ok()) {
    spdlog::shutdown();
    return kExitOk;
  }
  bool after_ready = reporter.done();
  if (background) spdlog::error("{}", s.ToString());  // the log is all a background mount has
  if (!after_ready) {
    reporter.Fail(s);
  } else if (!background) {
    PrintError(kCmd, s);
  }
  spdlog::shutdown();
  return kExitError;
}

// The parent of a background mount: waits for the child's report.
int AwaitChild(pid_t child, int fd, bool json) {
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  if (text.starts_with("ok\n")) {
    nlohmann::json info = nlohmann::json::parse(text.substr(3), nullptr, false);
    if (!info.is_discarded()) Reporter::PrintReady(info, json);
    return kExitOk;
  }
  if (text.starts_with("error\n")) {
    PrintError(kCmd, text.substr(6));
    return kExitError;
  }
  int wstatus = 0;
  std::string how = "before the mount was ready";
  if (::waitpid(child, &wstatus, 0) == child) {
    if (WIFSIGNALED(wstatus)) {
      how = "on signal " + std::to_string(WTERMSIG(wstatus)) + " " + how;
    } else if (WIFEXITED(wstatus)) {
      how = "with status " + std::to_string(WEXITSTATUS(wstatus)) + " " + how;
    }
  }
  PrintError(kCmd, "the mount process exited " + how + ": see its log for the reason");
  return kExitError;
}

// The background child's first steps: leave the terminal's session and let
// go of the caller's directory and terminal.
void Detach() {
  ::setsid();
  if (::chdir("/") != 0) {
    // Staying in the caller's directory only keeps it busy; not fatal.
  }
  int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    ::dup2(null, STDIN_FILENO);
    ::dup2(null, STDOUT_FILENO);
    ::dup2(null, STDERR_FILENO);
    ::close(null);
  }
}

}  // namespace

std::string DefaultCacheDir() {
  if (::geteuid() == 0) return "/var/cache/shoal";
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && xdg[0] == '/') {
    return std::string(xdg) + "/shoal";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && home[0] == '/') {
    return std::string(home) + "/.cache/shoal";
  }
  return "/tmp/shoal-" + std::to_string(::geteuid()) + "/cache";
}

std::string DefaultLogPath(std::string_view volume) {
  std::string file = std::string(volume) + ".log";
  if (::geteuid() == 0) return "/var/log/shoal/" + file;
  if (const char* run = std::getenv("XDG_RUNTIME_DIR"); run != nullptr && run[0] == '/') {
    return std::string(run) + "/shoal/" + file;
  }
  return "/tmp/shoal-" + std::to_string(::geteuid()) + "/" + file;
}

int RunMount(const MountArgs& a) {
  if (Status s = CheckMetaUrl(a.meta_url); !s.ok()) {
    PrintError(kCmd, s);
    return kExitError;
  }
  if (a.threads == 0) {
    PrintError(kCmd, "--threads 0 is not allowed: give at least 1");
    return kExitError;
  }
  if (a.attr_timeout < 0 || a.entry_timeout < 0) {
    PrintError(kCmd, "timeouts cannot be negative: give seconds, 0 or more");
    return kExitError;
  }
  for (const auto& [flag, text] : {std::pair{"--cache-size", a.cache_size},
                                   {"--buffer-size", a.buffer_size},
                                   {"--readahead", a.readahead}}) {
    if (Result<uint64_t> v = ParseSize(text, flag); !v) {
      PrintError(kCmd, v.error());
      return kExitError;
    }
  }
  if (a.upload_concurrency < 1 || a.download_concurrency < 1 || a.upload_concurrency > 256 ||
      a.download_concurrency > 256) {
    PrintError(kCmd, "--upload-concurrency and --download-concurrency take 1 to 256");
    return kExitError;
  }
  if (!(a.cache_free_space >= 0 && a.cache_free_space < 1)) {
    PrintError(kCmd, "--cache-free-space is a fraction of the disk: give 0 to 0.99");
    return kExitError;
  }
  if (!(a.session_timeout >= 2)) {
    PrintError(kCmd, "--session-timeout must be at least 2 seconds");
    return kExitError;
  }
  // Refuse a bad mountpoint before anything is opened or forked.
  Result<fuse::MountpointCheck> mp = fuse::CheckMountpoint(a.mountpoint);
  if (!mp) {
    PrintError(kCmd, mp.error());
    return kExitError;
  }
  if (!mp->empty) {
    std::cerr << "shoal mount: warning: mountpoint " << mp->path
              << " is not empty: its files are hidden while shoal is mounted there\n";
  }
  std::string log = a.log.empty() ? "" : fuse::AbsolutePath(a.log);

  if (!a.background) return ServeAndReport(a, mp->path, log, /*background=*/false, -1);

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    PrintError(kCmd, std::string("cannot create a pipe: ") + std::strerror(errno));
    return kExitError;
  }
  std::cout.flush();
  std::cerr.flush();
  pid_t child = ::fork();
  if (child < 0) {
    PrintError(kCmd, std::string("cannot fork: ") + std::strerror(errno));
    return kExitError;
  }
  if (child > 0) {
    ::close(fds[1]);
    return AwaitChild(child, fds[0], a.json);
  }
  ::close(fds[0]);
  // A parent killed while waiting must not kill the mount with SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  Detach();
  return ServeAndReport(a, mp->path, log, /*background=*/true, fds[1]);
}

}  // namespace shoal::cli
