// Helpers for tests that run the real `shoal` binary and mount real volumes.
//
// Every test gets its own temp dir (TMP), so tests may run in parallel:
//   TMP/meta     the volume's RocksDB metadata (rocksdb://TMP/meta)
//   TMP/data     the volume's file object store
//   TMP/mnt      the mountpoint
//   TMP/scratch  local (non-shoal) files: sources, reference copies
//   TMP/logs     daemon logs, printed when a mount fails
// TearDown always cleans up, also after a failed assertion: every mount under
// TMP is unmounted (`shoal umount`, then `fusermount3 -uz`, then `umount -l`),
// every process whose arguments name TMP is killed, and TMP is removed.
//
// Where the binary comes from: the SHOAL_TEST_BINARY environment variable, or
// else the path that CMake compiled in ($<TARGET_FILE:shoal>).
// Where TMP lives: under SHOAL_TEST_TMPDIR, else TMPDIR, else /tmp. It must be
// on a local file system and its parents must be searchable by everyone
// (tests switch to uid 65534).
//
// Validating the tests themselves: with SHOAL_TEST_TARGET_DIR=/some/ext4/dir,
// MountTest runs the syscall tests in a fresh directory under it instead of a
// mount, so that their expectations can be checked against a local file
// system. Tests that need the daemon (remount, kill -9, the CLI) skip there.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"

namespace shoal::testing {

// ---------------------------------------------------------------------------
// Processes

struct CommandResult {
  int exit_code = -1;  // 128 + signal when killed by a signal
  bool timed_out = false;
  std::string out;
  std::string err;

  bool ok() const { return exit_code == 0 && !timed_out; }
  // "`shoal mount ...` exited 1; stderr: ..." for assertion messages.
  std::string Describe(const std::vector<std::string>& argv) const;
};

// Runs argv (no shell) with stdin from /dev/null and stdout/stderr captured
// through temp files, not pipes, so that a daemon that keeps them open cannot
// block the caller. On timeout the child's process group is killed.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         std::chrono::seconds timeout = std::chrono::seconds(120));

// Runs fn in a forked child, after switching to uid/gid (and no supplementary
// groups) when uid is not -1. fn returns "" on success or what went wrong.
// Returns that text, or a description of how the child died.
std::string RunInChild(const std::function<std::string()>& fn, uid_t uid = static_cast<uid_t>(-1),
                       gid_t gid = static_cast<gid_t>(-1));

// Processes (other than this one) with an argument that equals `arg`
// (exact) and, when `with_fuse_fd`, an open descriptor on /dev/fuse.
std::vector<pid_t> FindProcesses(std::string_view arg, bool with_fuse_fd);
// Processes (other than this one) with an argument that contains `text`.
std::vector<pid_t> FindProcessesMentioning(std::string_view text);
// Waits until pid is gone or a zombie. False on timeout.
bool WaitForExit(pid_t pid, std::chrono::milliseconds timeout);

// ---------------------------------------------------------------------------
// Mounts

// Whether `path` (absolute, canonical) is a mount point in this namespace.
bool IsMountPoint(const std::string& path);
// Mount points equal to or under `dir`, deepest first.
std::vector<std::string> MountPointsUnder(const std::string& dir);
// Detaches a mount without the daemon's help: fusermount3 -uz, then umount -l.
bool ForceUnmount(const std::string& path);

// The shoal binary to test ("" if none was built).
std::string ShoalBinary();
// Why real-mount tests cannot run here, or "" if they can.
std::string MountSkipReason();

// Where a test volume keeps its data. SHOAL_TEST_STORAGE picks it for the
// tests registered a second time for S3 (see CMakeLists.txt): "file" (the
// default) is TMP/data; "s3" is a fresh bucket on the S3 server whose address
// SHOAL_TEST_S3_ENDPOINT gives (scripts/test.sh starts s3rver and sets it,
// with SHOAL_TEST_S3_ACCESS_KEY and SHOAL_TEST_S3_SECRET_KEY).
enum class TestStorage { kFile, kS3 };
TestStorage StorageFromEnv();

struct S3Server {
  std::string endpoint;  // "http://127.0.0.1:PORT"
  std::string access_key;
  std::string secret_key;
};
// The server from the environment; endpoint empty when none is set.
S3Server S3FromEnv();
// Why S3 volumes cannot be tested here ("" if they can).
std::string S3SkipReason();
// A bucket name no other test of any process uses: "shoal-t-PID-N-RANDOM".
std::string UniqueBucketName();

// One volume in a temp dir, driven through the CLI. Methods return an
// AssertionResult whose message says what failed, including the command's
// stderr and the tail of the daemon log.
class Volume {
 public:
  explicit Volume(std::string dir, std::string name = "vol",
                  TestStorage storage = StorageFromEnv());

  const std::string& dir() const { return dir_; }
  TestStorage storage() const { return storage_; }
  std::string meta_url() const {
    return meta_url_.empty() ? "rocksdb://" + dir_ + "/meta" : meta_url_;
  }
  // TMP/data for file; the bucket's URL for s3.
  const std::string& bucket() const { return bucket_; }
  std::string mountpoint() const { return mountpoint_.empty() ? dir_ + "/mnt" : mountpoint_; }
  // For a volume that several mounts share: each mount is a Volume of its own
  // with the same directory and metadata URL (a shared engine, e.g. Redis)
  // and its own mountpoint (an existing directory). Only one formats.
  void set_meta_url(std::string url) { meta_url_ = std::move(url); }
  void set_mountpoint(std::string path) { mountpoint_ = std::move(path); }
  // For s3: a bucket URL of the test server's credentials other than the
  // fresh one on the server itself (a proxy in front of it, say).
  void set_bucket(std::string url) { bucket_ = std::move(url); }
  // The `shoal format` arguments after META_URL NAME: --storage, --bucket
  // and, for s3, the credentials.
  std::vector<std::string> StorageArgs() const;

  ::testing::AssertionResult Format();
  // Mounts at mountpoint() with --background, plus `extra_args`.
  ::testing::AssertionResult Mount(const std::vector<std::string>& extra_args = {});
  // `shoal umount`, then waits for the daemon to exit (it holds the metadata
  // lock until then). Falls back to a forced unmount, but reports failure.
  ::testing::AssertionResult Unmount();
  ::testing::AssertionResult Remount();
  // kill -9 of the daemon, then detaches the dead mount (fusermount3 -uz).
  ::testing::AssertionResult KillDaemon();
  // KillDaemon() then Mount().
  ::testing::AssertionResult CrashAndRemount();

  // The daemon serving mountpoint(): a process whose arguments include the
  // mountpoint and which holds /dev/fuse open. Empty when not found.
  std::vector<pid_t> DaemonPids() const;

  // Runs `shoal ARGS...`.
  CommandResult Shoal(const std::vector<std::string>& args,
                      std::chrono::seconds timeout = std::chrono::seconds(120)) const;

  std::string LogTail() const;

 private:
  std::string dir_;
  std::string name_;
  TestStorage storage_;
  std::string bucket_;
  std::string meta_url_;
  std::string mountpoint_;
  int mounts_ = 0;
};

// ---------------------------------------------------------------------------
// Fixtures

// A temp dir and cleanup, nothing mounted. Skips when mounts cannot run.
class ScratchTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  const std::string& tmp() const { return tmp_; }
  // A local directory for reference files (never inside a mount).
  const std::string& scratch() const { return scratch_; }
  bool skipped() const { return tmp_.empty(); }

  // Creates the temp dir. Returns false (and skips) when mounts cannot run.
  bool MakeTempDir();
  // Unmounts and kills whatever lives under tmp(), then removes it.
  void CleanUp();

 private:
  std::string tmp_;
  std::string scratch_;
};

// A formatted, mounted volume whose root is root(); or, under
// SHOAL_TEST_TARGET_DIR, a fresh local directory (see the top of this file).
class MountTest : public ScratchTest {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Extra `shoal mount` arguments for the first mount.
  virtual std::vector<std::string> MountArgs() const { return {}; }

  // The directory the test works in.
  const std::string& root() const { return root_; }
  std::string Path(std::string_view rel) const { return root_ + "/" + std::string(rel); }
  bool real_mount() const { return volume_ != nullptr; }
  Volume& volume() { return *volume_; }

 private:
  std::string root_;
  std::string target_tmp_;  // under SHOAL_TEST_TARGET_DIR
  std::unique_ptr<Volume> volume_;
};

// Skips the current test when it runs against SHOAL_TEST_TARGET_DIR.
#define SHOAL_REQUIRE_MOUNT()                                                  \
  do {                                                                         \
    if (!real_mount()) GTEST_SKIP() << "needs a real mount (daemon restarts)"; \
  } while (0)

// Skips the current test when not root (only possible under
// SHOAL_TEST_TARGET_DIR: real mounts need root anyway).
#define SHOAL_REQUIRE_ROOT()                                                 \
  do {                                                                       \
    if (geteuid() != 0) GTEST_SKIP() << "needs root (chown, mknod, setuid)"; \
  } while (0)

// ---------------------------------------------------------------------------
// Files

// "ENOENT (No such file or directory)".
std::string ErrnoText(int err);

// A system call's return value and the errno right after it (the braced
// initializer evaluates left to right).
struct SysResult {
  long ret;
  int err;
};
::testing::AssertionResult Succeeds(const char* call, SysResult r);
::testing::AssertionResult FailsWith(int expected, const char* expected_name, const char* call,
                                     SysResult r);

// Deterministic bytes: the same (size, seed) gives the same data.
std::string Pattern(size_t size, uint64_t seed);
::testing::AssertionResult WriteFile(const std::string& path, std::string_view data,
                                     bool fsync_it = false);
// The whole file; sets *error (errno text) and returns "" on failure.
std::string ReadFile(const std::string& path, std::string* error = nullptr);
uint64_t Fnv1a(std::string_view data, uint64_t h = 14695981039346656037ull);

// One line per entry under `dir` (relative path -> type, mode, owner, size,
// link count, content hash, symlink target, user.* xattrs), so that two trees
// compare with ==. Set *error on the first entry that cannot be read.
std::map<std::string, std::string> TreeDigest(const std::string& dir, bool with_owner,
                                              std::string* error);
// The first difference between two digests, or "" when equal.
std::string DiffDigests(const std::map<std::string, std::string>& a,
                        const std::map<std::string, std::string>& b);

// Closes a descriptor on scope exit.
class ScopedFd {
 public:
  explicit ScopedFd(int fd = -1) : fd_(fd) {}
  ~ScopedFd();
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1);
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_;
};

}  // namespace shoal::testing

// EXPECT_ERRNO(ENOENT, stat(p, &st)): the call returns -1 and sets errno.
// EXPECT_SYS(call): the call does not return -1 (errno is printed if it does).
// Both take a streamed message: EXPECT_SYS(mkdir(p, 0755)) << "depth " << i.
#define SHOAL_SYS_RESULT_(call) (::shoal::testing::SysResult{static_cast<long>(call), errno})
#define EXPECT_ERRNO(expected, call) \
  EXPECT_TRUE(::shoal::testing::FailsWith(expected, #expected, #call, SHOAL_SYS_RESULT_(call)))
#define ASSERT_ERRNO(expected, call) \
  ASSERT_TRUE(::shoal::testing::FailsWith(expected, #expected, #call, SHOAL_SYS_RESULT_(call)))
#define EXPECT_SYS(call) EXPECT_TRUE(::shoal::testing::Succeeds(#call, SHOAL_SYS_RESULT_(call)))
#define ASSERT_SYS(call) ASSERT_TRUE(::shoal::testing::Succeeds(#call, SHOAL_SYS_RESULT_(call)))
