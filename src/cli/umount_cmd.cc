// shoal umount: unmounts a shoal mount and waits until the process that
// served it has committed its buffered writes and exited, so that the volume
// can be opened again as soon as this returns.
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "cli/volume.h"
#include "fuse/info.h"
#include "fuse/mountpoint.h"

extern char** environ;

namespace shoal::cli {
namespace {

constexpr std::string_view kCmd = "umount";
constexpr auto kPollInterval = std::chrono::milliseconds(50);
// Say why we are waiting once the wait gets noticeable.
constexpr auto kQuietWait = std::chrono::seconds(2);

// The pid of the process serving `path`, read from the mount itself; nullopt
// when it does not answer (a dead mount, or an older shoal).
std::optional<pid_t> ServerPid(const std::string& path) {
  Result<nlohmann::json> status = ReadJsonXattr(path, fuse::kStatusXattr);
  if (!status) return std::nullopt;
  const nlohmann::json& served = (*status)["served_by"];
  if (!served.is_object() || !served.contains("pid") || !served["pid"].is_number_integer()) {
    return std::nullopt;
  }
  return served["pid"].get<pid_t>();
}

// A process that exited but was not reaped yet (a zombie, state Z) counts as
// gone: the serving process is re-parented when --background returns, and
// its new parent may take a while to reap it. But only once its other
// threads are gone too: the main thread turns zombie as soon as it exits,
// while the descriptors it shares with the rest (and the metadata lock on
// one of them) are released when the last thread has exited.
bool Alive(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno != EPERM) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  size_t paren = line.rfind(')');
  if (paren == std::string::npos || paren + 2 >= line.size() || line[paren + 2] != 'Z') {
    return true;
  }
  std::error_code ec;
  int threads = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++threads;
  }
  return threads > 1;
}

Status UnmountAsRoot(const std::string& path, bool lazy) {
  // A file closed a moment ago may still be on its way out of the kernel
  // (FUSE releases are asynchronous, and slow while the daemon waits for its
  // metadata engine): EBUSY gets a few seconds to pass before it counts.
  constexpr auto kBusyGrace = std::chrono::seconds(3);
  auto deadline = std::chrono::steady_clock::now() + kBusyGrace;
  int err = 0;
  for (;;) {
    if (::umount2(path.c_str(), lazy ? MNT_DETACH : 0) == 0) return OkStatus();
    err = errno;
    if (err != EBUSY || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (err == EBUSY) {
    return Status(Code::kBusy, path +
                                   " is busy: a process has a file open or its working directory "
                                   "there: close them (fuser -vm " +
                                   path + " lists them) or use --lazy");
  }
  return IoError("unmounting " + path + " failed: " + std::strerror(err));
}

// Unprivileged users unmount through the setuid helper that mounted them.
Status UnmountWithFusermount(const std::string& path, bool lazy) {
  std::vector<std::string> words = {"fusermount3", lazy ? "-uz" : "-u", path};
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, "fusermount3", nullptr, nullptr, argv.data(), environ);
  if (rc != 0) {
    return Unavailable(std::string("cannot run fusermount3: ") + std::strerror(rc) +
                       ": install fuse3, or unmount as root");
  }
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) return OkStatus();
  return IoError("fusermount3 could not unmount " + path +
                 " (its reason is printed above): if files are open there, close them or use "
                 "--lazy");
}

}  // namespace

int RunUmount(const UmountArgs& a) {
  std::string path = fuse::AbsolutePath(a.mountpoint);
  // A dead mount cannot be resolved (ENOTCONN): keep the lexical path then.
  char resolved[PATH_MAX];
  if (::realpath(path.c_str(), resolved) != nullptr) path = resolved;

  Result<std::vector<fuse::MountEntry>> table = fuse::ReadMountTable();
  if (!table) {
    PrintError(kCmd, table.error());
    return kExitError;
  }
  std::optional<fuse::MountEntry> entry = fuse::FindMount(*table, path);
  if (!entry) {
    PrintError(kCmd, path + " is not mounted: nothing to unmount");
    return kExitError;
  }
  if (entry->fstype != fuse::kMountType) {
    PrintError(kCmd, path + " holds a " + entry->fstype + " mount (" + entry->source +
                         "), not a shoal one: unmount it with umount(8)");
    return kExitError;
  }

  std::optional<pid_t> server = ServerPid(path);
  Status s = ::geteuid() == 0 ? UnmountAsRoot(path, a.lazy) : UnmountWithFusermount(path, a.lazy);
  if (!s.ok()) {
    PrintError(kCmd, s);
    return kExitError;
  }

  auto start = std::chrono::steady_clock::now();
  auto deadline = start + std::chrono::duration<double>(a.timeout_sec);
  bool said = false;
  bool finished = true;
  // A lazy unmount leaves the process serving the files still open: do not wait.
  if (server && !a.lazy) {
    while (Alive(*server)) {
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline) {
        finished = false;
        break;
      }
      if (!said && !a.json && now - start >= kQuietWait) {
        std::cerr << "shoal umount: waiting for the shoal process (pid " << *server
                  << ") to commit buffered writes and exit\n";
        said = true;
      }
      std::this_thread::sleep_for(kPollInterval);
    }
  }
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!finished) {
    PrintError(kCmd, "unmounted " + path + ", but the shoal process (pid " +
                         std::to_string(*server) + ") is still running after " +
                         std::to_string(static_cast<int>(a.timeout_sec)) +
                         " s: it may still be committing writes; see its log before opening the "
                         "volume elsewhere");
    return kExitError;
  }
  if (a.json) {
    nlohmann::json j = {{"mountpoint", path}, {"lazy", a.lazy}, {"waited_sec", waited}};
    if (server) j["pid"] = *server;
    std::cout << fuse::DumpJson(j, 2) << "\n";
  } else {
    std::cout << "unmounted " << path << (a.lazy ? " (lazily)" : "") << "\n";
  }
  return kExitOk;
}

}  // namespace shoal::cli
