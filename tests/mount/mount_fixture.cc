#include "mount_fixture.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#ifndef SHOAL_TEST_BINARY
#define SHOAL_TEST_BINARY ""
#endif

namespace shoal::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

// How long a daemon may take to exit after `shoal umount` (it flushes data).
constexpr milliseconds kDaemonExitTimeout(30000);
// `shoal mount --background` returns once mounted; allow for a slow /proc.
constexpr milliseconds kMountVisibleTimeout(5000);

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

std::string ReadSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Mount points in /proc/self/mountinfo escape space, tab, newline and
// backslash as \ooo.
std::string UnescapeMountPath(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = 0;
      bool ok = true;
      for (size_t j = 1; j <= 3; ++j) {
        char c = s[i + j];
        if (c < '0' || c > '7') ok = false;
        v = v * 8 + (c - '0');
      }
      if (ok) {
        out.push_back(static_cast<char>(v));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

std::vector<std::string> AllMountPoints() {
  std::vector<std::string> result;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, mount_point;
    fields >> id >> parent >> devno >> root >> mount_point;
    result.push_back(UnescapeMountPath(mount_point));
  }
  return result;
}

std::vector<std::string> CmdlineOf(pid_t pid) {
  std::string raw = ReadSmallFile("/proc/" + std::to_string(pid) + "/cmdline");
  std::vector<std::string> args;
  size_t start = 0;
  while (start < raw.size()) {
    size_t end = raw.find('\0', start);
    if (end == std::string::npos) end = raw.size();
    args.push_back(raw.substr(start, end - start));
    start = end + 1;
  }
  return args;
}

bool HoldsFuseDevice(pid_t pid) {
  std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(fd_dir.c_str());
  if (d == nullptr) return false;
  bool found = false;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    char target[256];
    std::string link = fd_dir + "/" + e->d_name;
    ssize_t n = readlink(link.c_str(), target, sizeof(target) - 1);
    if (n > 0) {
      target[n] = '\0';
      if (std::strcmp(target, "/dev/fuse") == 0) {
        found = true;
        break;
      }
    }
  }
  closedir(d);
  return found;
}

std::vector<pid_t> AllPids() {
  std::vector<pid_t> pids;
  DIR* d = opendir("/proc");
  if (d == nullptr) return pids;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    long v = std::strtol(e->d_name, &end, 10);
    if (end != e->d_name && *end == '\0' && v > 0 && v != getpid()) {
      pids.push_back(static_cast<pid_t>(v));
    }
  }
  closedir(d);
  return pids;
}

// The last `max_bytes` of every file in `dir` (daemon logs).
std::string TailOfFiles(const std::string& dir, size_t max_bytes) {
  std::string out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string text = ReadSmallFile(entry.path().string());
    if (text.size() > max_bytes) text = "..." + text.substr(text.size() - max_bytes);
    out += "\n--- " + entry.path().string() + " ---\n" + text;
  }
  return out;
}

std::string Join(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) {
    if (!s.empty()) s += ' ';
    s += a;
  }
  return s;
}

void KillAndWait(const std::vector<pid_t>& pids) {
  for (pid_t pid : pids) kill(pid, SIGKILL);
  for (pid_t pid : pids) WaitForExit(pid, milliseconds(10000));
}

}  // namespace

// ---------------------------------------------------------------------------
// Processes

std::string CommandResult::Describe(const std::vector<std::string>& argv) const {
  std::string s = "`" + Join(argv) + "` ";
  if (timed_out) {
    s += "timed out";
  } else {
    s += "exited " + std::to_string(exit_code);
  }
  if (!out.empty()) s += "\nstdout: " + out;
  if (!err.empty()) s += "\nstderr: " + err;
  return s;
}

CommandResult RunCommand(const std::vector<std::string>& argv, seconds timeout) {
  CommandResult result;
  if (argv.empty()) return result;
  std::string tmpdir = Env("TMPDIR");
  if (tmpdir.empty()) tmpdir = "/tmp";
  std::string out_path = tmpdir + "/shoal-cmd-out.XXXXXX";
  std::string err_path = tmpdir + "/shoal-cmd-err.XXXXXX";
  int out_fd = mkstemp(out_path.data());
  int err_fd = mkstemp(err_path.data());
  if (out_fd < 0 || err_fd < 0) {
    result.err = "cannot create temp files in " + tmpdir + ": " + ErrnoText(errno);
    if (out_fd >= 0) close(out_fd);
    if (err_fd >= 0) close(err_fd);
    return result;
  }
  unlink(out_path.c_str());
  unlink(err_path.c_str());

  // Everything the child needs is prepared before fork.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    int null_fd = open("/dev/null", O_RDONLY);
    dup2(null_fd, 0);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    close_range(3, ~0u, 0);
    execvp(args[0], args.data());
    dprintf(2, "cannot run %s: %s\n", args[0], strerror(errno));
    _exit(127);
  }
  if (pid < 0) {
    result.err = "fork failed: " + ErrnoText(errno);
    close(out_fd);
    close(err_fd);
    return result;
  }
  auto deadline = Clock::now() + timeout;
  int status = 0;
  while (true) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) break;
    if (Clock::now() > deadline) {
      result.timed_out = true;
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.exit_code = 128 + WTERMSIG(status);
  }
  auto slurp = [](int fd) {
    std::string data;
    char buf[65536];
    lseek(fd, 0, SEEK_SET);
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) data.append(buf, static_cast<size_t>(n));
    close(fd);
    return data;
  };
  result.out = slurp(out_fd);
  result.err = slurp(err_fd);
  return result;
}

std::string RunInChild(const std::function<std::string()>& fn, uid_t uid, gid_t gid) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return "pipe failed: " + ErrnoText(errno);
  fflush(nullptr);
  pid_t pid = fork();
  if (pid < 0) return "fork failed: " + ErrnoText(errno);
  if (pid == 0) {
    close(pipe_fds[0]);
    std::string failure;
    if (uid != static_cast<uid_t>(-1)) {
      if (setgroups(0, nullptr) != 0 || setresgid(gid, gid, gid) != 0 ||
          setresuid(uid, uid, uid) != 0) {
        failure = "cannot switch to uid " + std::to_string(uid) + ": " + ErrnoText(errno);
      }
    }
    if (failure.empty()) failure = fn();
    size_t done = 0;
    while (done < failure.size()) {
      ssize_t n = write(pipe_fds[1], failure.data() + done, failure.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    _exit(failure.empty() ? 0 : 1);
  }
  close(pipe_fds[1]);
  std::string message;
  char buf[4096];
  ssize_t n;
  while ((n = read(pipe_fds[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) message.append(buf, static_cast<size_t>(n));
  }
  close(pipe_fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status)) {
    return "child killed by signal " + std::to_string(WTERMSIG(status)) + " " + message;
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) != 0 && message.empty()) {
    return "child exited " + std::to_string(WEXITSTATUS(status));
  }
  return message;
}

std::vector<pid_t> FindProcesses(std::string_view arg, bool with_fuse_fd) {
  std::vector<pid_t> found;
  for (pid_t pid : AllPids()) {
    auto args = CmdlineOf(pid);
    if (std::find(args.begin(), args.end(), arg) == args.end()) continue;
    if (with_fuse_fd && !HoldsFuseDevice(pid)) continue;
    found.push_back(pid);
  }
  return found;
}

std::vector<pid_t> FindProcessesMentioning(std::string_view text) {
  std::vector<pid_t> found;
  for (pid_t pid : AllPids()) {
    for (const auto& a : CmdlineOf(pid)) {
      if (a.find(text) != std::string::npos) {
        found.push_back(pid);
        break;
      }
    }
  }
  return found;
}

bool WaitForExit(pid_t pid, milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  std::string stat_path = "/proc/" + std::to_string(pid) + "/stat";
  while (true) {
    // A zombie has released its descriptors and locks, and so is as good as
    // gone, once its other threads have exited too: the main thread turns
    // zombie first, while the descriptor table it shares with the others
    // (and the RocksDB lock on one of them) lives until the last one exits.
    std::string stat = ReadSmallFile(stat_path);
    if (stat.empty()) return true;
    size_t paren = stat.rfind(')');
    if (paren != std::string::npos && paren + 2 < stat.size() &&
        (stat[paren + 2] == 'Z' || stat[paren + 2] == 'X')) {
      std::error_code ec;
      int threads = 0;
      for (auto it = fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec);
           !ec && it != fs::directory_iterator(); it.increment(ec)) {
        ++threads;
      }
      if (threads <= 1) return true;
    }
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
}

// ---------------------------------------------------------------------------
// Mounts

bool IsMountPoint(const std::string& path) {
  auto all = AllMountPoints();
  return std::find(all.begin(), all.end(), path) != all.end();
}

std::vector<std::string> MountPointsUnder(const std::string& dir) {
  std::vector<std::string> under;
  for (const auto& mp : AllMountPoints()) {
    if (mp == dir || mp.starts_with(dir + "/")) under.push_back(mp);
  }
  // Deepest first, so that nested mounts come off before their parents.
  std::sort(under.begin(), under.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  under.erase(std::unique(under.begin(), under.end()), under.end());
  return under;
}

bool ForceUnmount(const std::string& path) {
  for (int attempt = 0; attempt < 5 && IsMountPoint(path); ++attempt) {
    RunCommand({"fusermount3", "-uz", path}, seconds(20));
    if (!IsMountPoint(path)) break;
    RunCommand({"umount", "-l", path}, seconds(20));
  }
  return !IsMountPoint(path);
}

std::string ShoalBinary() {
  std::string from_env = Env("SHOAL_TEST_BINARY");
  return from_env.empty() ? std::string(SHOAL_TEST_BINARY) : from_env;
}

std::string MountSkipReason() {
  if (geteuid() != 0) {
    return "real-mount tests need root: /dev/fuse is root-only here and volumes are mounted "
           "with allow_other (run as root; CI does)";
  }
  if (access("/dev/fuse", R_OK | W_OK) != 0) {
    return "/dev/fuse is missing or not accessible (" + ErrnoText(errno) +
           "): load the fuse module or run where FUSE is available";
  }
  if (ShoalBinary().empty()) {
    return "no shoal binary was built (the `shoal` CMake target does not exist yet)";
  }
  return "";
}

TestStorage StorageFromEnv() {
  return Env("SHOAL_TEST_STORAGE") == "s3" ? TestStorage::kS3 : TestStorage::kFile;
}

S3Server S3FromEnv() {
  return {Env("SHOAL_TEST_S3_ENDPOINT"), Env("SHOAL_TEST_S3_ACCESS_KEY"),
          Env("SHOAL_TEST_S3_SECRET_KEY")};
}

std::string S3SkipReason() {
  S3Server s3 = S3FromEnv();
  if (s3.endpoint.empty() || s3.access_key.empty() || s3.secret_key.empty()) {
    return "no S3 server: set SHOAL_TEST_S3_ENDPOINT, SHOAL_TEST_S3_ACCESS_KEY and "
           "SHOAL_TEST_S3_SECRET_KEY (scripts/test.sh starts s3rver and sets them)";
  }
  return "";
}

std::string UniqueBucketName() {
  static std::atomic<int> counter{0};
  std::random_device rd;
  char buf[64];
  std::snprintf(buf, sizeof(buf), "shoal-t-%d-%d-%08x", static_cast<int>(getpid()),
                counter.fetch_add(1), static_cast<unsigned>(rd()));
  return buf;
}

Volume::Volume(std::string dir, std::string name, TestStorage storage)
    : dir_(std::move(dir)), name_(std::move(name)), storage_(storage) {
  bucket_ = storage_ == TestStorage::kS3 ? S3FromEnv().endpoint + "/" + UniqueBucketName()
                                         : dir_ + "/data";
  std::error_code ec;
  fs::create_directories(mountpoint(), ec);
  fs::create_directories(dir_ + "/logs", ec);
}

CommandResult Volume::Shoal(const std::vector<std::string>& args, seconds timeout) const {
  std::vector<std::string> argv = {ShoalBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, timeout);
}

std::string Volume::LogTail() const { return TailOfFiles(dir_ + "/logs", 4000); }

std::vector<std::string> Volume::StorageArgs() const {
  if (storage_ == TestStorage::kFile) return {"--storage", "file", "--bucket", bucket_};
  S3Server s3 = S3FromEnv();
  return {"--storage",    "s3",          "--bucket",     bucket_,
          "--access-key", s3.access_key, "--secret-key", s3.secret_key};
}

::testing::AssertionResult Volume::Format() {
  std::vector<std::string> args = {"format", meta_url(), name_};
  std::vector<std::string> storage = StorageArgs();
  args.insert(args.end(), storage.begin(), storage.end());
  CommandResult r = Shoal(args);
  if (!r.ok()) return ::testing::AssertionFailure() << r.Describe(args);
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult Volume::Mount(const std::vector<std::string>& extra_args) {
  std::string log = dir_ + "/logs/mount-" +
                    std::filesystem::path(mountpoint()).filename().string() + "-" +
                    std::to_string(++mounts_) + ".log";
  std::vector<std::string> args = {"mount", meta_url(), mountpoint(), "--background", "--log", log};
  // The disk cache stays inside the test's directory (each mount its own).
  if (std::find(extra_args.begin(), extra_args.end(), "--cache-dir") == extra_args.end()) {
    args.insert(args.end(),
                {"--cache-dir",
                 dir_ + "/cache-" + std::filesystem::path(mountpoint()).filename().string()});
  }
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  CommandResult r = Shoal(args);
  if (!r.ok()) return ::testing::AssertionFailure() << r.Describe(args) << LogTail();
  auto deadline = Clock::now() + kMountVisibleTimeout;
  while (!IsMountPoint(mountpoint())) {
    if (Clock::now() > deadline) {
      return ::testing::AssertionFailure() << "`shoal mount --background` returned 0 but "
                                           << mountpoint() << " is not a mount point" << LogTail();
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  return ::testing::AssertionSuccess();
}

std::vector<pid_t> Volume::DaemonPids() const { return FindProcesses(mountpoint(), true); }

::testing::AssertionResult Volume::Unmount() {
  std::vector<pid_t> daemons = DaemonPids();
  std::vector<std::string> args = {"umount", mountpoint()};
  CommandResult r = Shoal(args, seconds(60));
  std::string failure;
  if (!r.ok()) {
    failure = r.Describe(args);
    // Who keeps it busy, for the failure message.
    CommandResult users = RunCommand({"fuser", "-vm", mountpoint()}, seconds(20));
    failure += "\nfuser -vm: " + users.out + users.err;
    if (const char* dump = std::getenv("SHOAL_TEST_DUMP_STACKS"); dump != nullptr && *dump) {
      for (pid_t pid : daemons) {
        CommandResult bt =
            RunCommand({"gdb", "-p", std::to_string(pid), "-batch", "-ex", "thread apply all bt"},
                       seconds(60));
        failure += "\nstacks of daemon " + std::to_string(pid) + ":\n" + bt.out;
      }
    }
  }
  if (IsMountPoint(mountpoint())) {
    if (failure.empty()) failure = "`shoal umount` returned 0 but the mount is still there";
    ForceUnmount(mountpoint());
  }
  for (pid_t pid : daemons) {
    if (!WaitForExit(pid, kDaemonExitTimeout)) {
      failure += "\ndaemon " + std::to_string(pid) + " did not exit after umount; killed it";
      kill(pid, SIGKILL);
      WaitForExit(pid, milliseconds(10000));
    }
  }
  if (!failure.empty()) return ::testing::AssertionFailure() << failure << LogTail();
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult Volume::Remount() {
  if (auto r = Unmount(); !r) return r;
  return Mount();
}

::testing::AssertionResult Volume::KillDaemon() {
  std::vector<pid_t> daemons = DaemonPids();
  if (daemons.empty()) {
    return ::testing::AssertionFailure()
           << "no daemon found for " << mountpoint()
           << ": expected a process with that argument holding /dev/fuse open";
  }
  for (pid_t pid : daemons) kill(pid, SIGKILL);
  for (pid_t pid : daemons) {
    if (!WaitForExit(pid, milliseconds(10000))) {
      return ::testing::AssertionFailure() << "daemon " << pid << " survived SIGKILL";
    }
  }
  // The kernel keeps the dead connection mounted ("Transport endpoint is not
  // connected") until it is detached.
  if (!ForceUnmount(mountpoint())) {
    return ::testing::AssertionFailure() << "cannot detach the dead mount " << mountpoint();
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult Volume::CrashAndRemount() {
  if (auto r = KillDaemon(); !r) return r;
  return Mount();
}

// ---------------------------------------------------------------------------
// Fixtures

bool ScratchTest::MakeTempDir() {
  std::string base = Env("SHOAL_TEST_TMPDIR");
  if (base.empty()) base = Env("TMPDIR");
  if (base.empty()) base = "/tmp";
  std::string templ = base + "/shoal-test.XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) {
    ADD_FAILURE() << "cannot create a temp dir under " << base << ": " << ErrnoText(errno);
    return false;
  }
  std::error_code ec;
  tmp_ = fs::canonical(templ, ec).string();
  if (ec || tmp_.empty()) {
    ADD_FAILURE() << "cannot resolve " << templ << ": " << ec.message();
    tmp_.clear();
    return false;
  }
  // Searchable by the uid 65534 children of the permission tests.
  chmod(tmp_.c_str(), 0755);
  scratch_ = tmp_ + "/scratch";
  fs::create_directories(scratch_, ec);
  return true;
}

void ScratchTest::SetUp() {
  umask(022);
  if (std::string reason = MountSkipReason(); !reason.empty()) GTEST_SKIP() << reason;
  // Fatal, so that the test body does not run with empty paths.
  ASSERT_TRUE(MakeTempDir());
}

void ScratchTest::CleanUp() {
  if (tmp_.empty()) return;
  std::string shoal = ShoalBinary();
  for (const auto& mp : MountPointsUnder(tmp_)) {
    if (!shoal.empty()) RunCommand({shoal, "umount", mp}, seconds(30));
    if (IsMountPoint(mp)) ForceUnmount(mp);
  }
  // Daemons (and anything else started on this volume) name tmp_ in their
  // arguments; kill what is left.
  KillAndWait(FindProcessesMentioning(tmp_ + "/"));
  if (auto left = MountPointsUnder(tmp_); !left.empty()) {
    // Never delete through a mount that is still attached.
    ADD_FAILURE() << "could not unmount " << left.front() << "; leaving " << tmp_;
    return;
  }
  std::error_code ec;
  fs::remove_all(tmp_, ec);
  if (ec) ADD_FAILURE() << "cannot remove " << tmp_ << ": " << ec.message();
  tmp_.clear();
}

void ScratchTest::TearDown() { CleanUp(); }

void MountTest::SetUp() {
  umask(022);
  std::string target = Env("SHOAL_TEST_TARGET_DIR");
  if (!target.empty()) {
    // Validation mode: the same tests against a local directory.
    std::string templ = target + "/shoal-target.XXXXXX";
    ASSERT_NE(mkdtemp(templ.data()), nullptr)
        << "SHOAL_TEST_TARGET_DIR=" << target << ": " << ErrnoText(errno);
    std::error_code ec;
    target_tmp_ = fs::canonical(templ, ec).string();
    ASSERT_FALSE(ec) << templ << ": " << ec.message();
    chmod(target_tmp_.c_str(), 0755);
    root_ = target_tmp_;
    ASSERT_TRUE(MakeTempDir());  // for scratch()
    return;
  }
  ScratchTest::SetUp();
  if (StorageFromEnv() == TestStorage::kS3 && !IsSkipped()) {
    if (std::string reason = S3SkipReason(); !reason.empty()) GTEST_SKIP() << reason;
  }
  // Without a temp dir the volume's paths would land in "/": stop here.
  if (IsSkipped() || HasFailure() || tmp().empty()) return;
  volume_ = std::make_unique<Volume>(tmp());
  ASSERT_TRUE(volume_->Format());
  ASSERT_TRUE(volume_->Mount(MountArgs()));
  root_ = volume_->mountpoint();
}

void MountTest::TearDown() {
  if (volume_ != nullptr && IsMountPoint(volume_->mountpoint())) {
    // A clean unmount is part of what is tested; CleanUp() forces it otherwise.
    EXPECT_TRUE(volume_->Unmount());
  }
  CleanUp();
  if (!target_tmp_.empty()) {
    std::error_code ec;
    fs::remove_all(target_tmp_, ec);
  }
}

// ---------------------------------------------------------------------------
// Files

std::string ErrnoText(int err) {
  const char* name = strerrorname_np(err);
  std::string text = name != nullptr ? name : "errno " + std::to_string(err);
  return text + " (" + strerror(err) + ")";
}

::testing::AssertionResult Succeeds(const char* call, SysResult r) {
  if (r.ret != -1) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << call << " failed: " << ErrnoText(r.err);
}

::testing::AssertionResult FailsWith(int expected, const char* expected_name, const char* call,
                                     SysResult r) {
  if (r.ret != -1) {
    return ::testing::AssertionFailure()
           << call << " returned " << r.ret << ", expected failure with " << expected_name;
  }
  if (r.err != expected) {
    return ::testing::AssertionFailure()
           << call << " failed with " << ErrnoText(r.err) << ", expected " << expected_name;
  }
  return ::testing::AssertionSuccess();
}

std::string Pattern(size_t size, uint64_t seed) {
  std::string data(size, '\0');
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
  for (size_t i = 0; i < size; ++i) {
    // xorshift64*: cheap, and never all zeros, so holes are told apart.
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    data[i] = static_cast<char>((x * 0x2545F4914F6CDD1Dull) >> 56);
  }
  return data;
}

::testing::AssertionResult WriteFile(const std::string& path, std::string_view data,
                                     bool fsync_it) {
  ScopedFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644));
  if (!fd.ok()) return ::testing::AssertionFailure() << "open " << path << ": " << ErrnoText(errno);
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd.get(), data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ::testing::AssertionFailure() << "write " << path << ": " << ErrnoText(errno);
    }
    done += static_cast<size_t>(n);
  }
  if (fsync_it && fsync(fd.get()) != 0) {
    return ::testing::AssertionFailure() << "fsync " << path << ": " << ErrnoText(errno);
  }
  if (close(fd.release()) != 0) {
    return ::testing::AssertionFailure() << "close " << path << ": " << ErrnoText(errno);
  }
  return ::testing::AssertionSuccess();
}

std::string ReadFile(const std::string& path, std::string* error) {
  ScopedFd fd(open(path.c_str(), O_RDONLY));
  if (!fd.ok()) {
    if (error != nullptr) *error = "open " + path + ": " + ErrnoText(errno);
    return "";
  }
  std::string data;
  char buf[1 << 16];
  while (true) {
    ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      if (error != nullptr) *error = "read " + path + ": " + ErrnoText(errno);
      return "";
    }
    data.append(buf, static_cast<size_t>(n));
  }
  if (error != nullptr) error->clear();
  return data;
}

uint64_t Fnv1a(std::string_view data, uint64_t h) {
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

namespace {

void DigestInto(const std::string& base, const std::string& rel, bool with_owner,
                std::map<std::string, std::string>& out, std::string* error) {
  std::string dir = rel.empty() ? base : base + "/" + rel;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    if (error->empty()) *error = "opendir " + dir + ": " + ErrnoText(errno);
    return;
  }
  std::vector<std::string> names;
  errno = 0;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
    errno = 0;
  }
  if (errno != 0 && error->empty()) *error = "readdir " + dir + ": " + ErrnoText(errno);
  closedir(d);
  for (const auto& name : names) {
    std::string child_rel = rel.empty() ? name : rel + "/" + name;
    std::string path = base + "/" + child_rel;
    struct stat st;
    if (lstat(path.c_str(), &st) != 0) {
      if (error->empty()) *error = "lstat " + path + ": " + ErrnoText(errno);
      continue;
    }
    std::ostringstream line;
    line << std::oct << "mode=" << st.st_mode << std::dec;
    if (with_owner) line << " uid=" << st.st_uid << " gid=" << st.st_gid;
    if (S_ISREG(st.st_mode)) {
      std::string read_error;
      std::string data = ReadFile(path, &read_error);
      if (!read_error.empty() && error->empty()) *error = read_error;
      line << " size=" << st.st_size << " nlink=" << st.st_nlink << " read=" << data.size()
           << " hash=" << std::hex << Fnv1a(data) << std::dec;
    } else if (S_ISLNK(st.st_mode)) {
      char target[4096];
      ssize_t n = readlink(path.c_str(), target, sizeof(target));
      line << " target=" << std::string(target, n > 0 ? static_cast<size_t>(n) : 0);
    } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
      line << " rdev=" << st.st_rdev;
    }
    if (!S_ISLNK(st.st_mode)) {
      char names_buf[65536];
      ssize_t len = listxattr(path.c_str(), names_buf, sizeof(names_buf));
      std::vector<std::string> xattrs;
      for (ssize_t i = 0; i < len;) {
        std::string xname(names_buf + i);
        i += static_cast<ssize_t>(xname.size()) + 1;
        if (!xname.starts_with("user.")) continue;
        char value[65536];
        ssize_t vlen = getxattr(path.c_str(), xname.c_str(), value, sizeof(value));
        xattrs.push_back(xname + "=" +
                         std::string(value, vlen > 0 ? static_cast<size_t>(vlen) : 0));
      }
      std::sort(xattrs.begin(), xattrs.end());
      for (const auto& x : xattrs) line << " xattr:" << x;
    }
    out[child_rel] = line.str();
    if (S_ISDIR(st.st_mode)) DigestInto(base, child_rel, with_owner, out, error);
  }
}

}  // namespace

std::map<std::string, std::string> TreeDigest(const std::string& dir, bool with_owner,
                                              std::string* error) {
  std::map<std::string, std::string> out;
  std::string local_error;
  if (error == nullptr) error = &local_error;
  error->clear();
  DigestInto(dir, "", with_owner, out, error);
  return out;
}

std::string DiffDigests(const std::map<std::string, std::string>& a,
                        const std::map<std::string, std::string>& b) {
  for (const auto& [path, line] : a) {
    auto it = b.find(path);
    if (it == b.end()) return "only in the first tree: " + path + " (" + line + ")";
    if (it->second != line) return path + " differs:\n  " + line + "\n  " + it->second;
  }
  for (const auto& [path, line] : b) {
    if (!a.contains(path)) return "only in the second tree: " + path + " (" + line + ")";
  }
  return "";
}

ScopedFd::~ScopedFd() { reset(); }

void ScopedFd::reset(int fd) {
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
}

}  // namespace shoal::testing
