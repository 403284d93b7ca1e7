// Several real mounts of one volume whose metadata lives in Redis, as on
// several nodes of a training job: close-to-open visibility, files unlinked
// while open elsewhere, locks that hold across mounts (also when a holder's
// client is killed), namespace storms checked for consistency afterwards, and
// a Redis that restarts under a workload.
//
// Needs SHOAL_TEST_REDIS_URL (scripts/test.sh starts a redis-server and sets
// it); the restart test also needs SHOAL_TEST_REDIS_SERVER (the redis-server
// binary) to run a server of its own.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "kv/kv.h"
#include "mount_fixture.h"

namespace shoal::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::string RandomSuffix() {
  std::random_device rd;
  return std::to_string(getpid()) + "-" + std::to_string(rd() % 1000000);
}

// Removes every key of a test's prefix from the shared Redis.
void DropRedisPrefix(const std::string& url) {
  auto engine = kv::OpenKv(url, false);
  if (!engine) return;
  Status s = (*engine)->Txn([](kv::Txn& txn) -> Status {
    std::vector<std::string> keys;
    RETURN_IF_ERROR(txn.Scan("", "", 0, true, [&](std::string_view k, std::string_view) {
      keys.emplace_back(k);
      return true;
    }));
    for (const auto& k : keys) txn.Delete(k);
    return OkStatus();
  });
  if (!s.ok()) ADD_FAILURE() << "cleaning up " << url << ": " << s.ToString();
}

class MultiMountTest : public ScratchTest {
 protected:
  void SetUp() override {
    ScratchTest::SetUp();
    if (skipped()) return;
    const char* base = std::getenv("SHOAL_TEST_REDIS_URL");
    if (base == nullptr || *base == '\0') {
      GTEST_SKIP() << "SHOAL_TEST_REDIS_URL is not set (scripts/test.sh starts Redis and sets it)";
    }
    UseRedis(std::string(base) + "?prefix=mm-" + RandomSuffix());
  }
  void TearDown() override {
    for (auto& m : mounts_) {
      if (IsMountPoint(m->mountpoint())) {
        EXPECT_TRUE(m->Unmount());
      }
    }
    ScratchTest::TearDown();
    if (!url_.empty()) DropRedisPrefix(url_);
  }

  void UseRedis(std::string url) { url_ = std::move(url); }

  // Formats the volume (file storage under tmp()).
  ::testing::AssertionResult Format() {
    Volume v(tmp(), "shared", TestStorage::kFile);
    v.set_meta_url(url_);
    return v.Format();
  }

  // Mounts the volume `n` times, at tmp()/m0 ... m<n-1>.
  ::testing::AssertionResult MountClients(int n, const std::vector<std::string>& args = {}) {
    for (int i = 0; i < n; ++i) {
      std::string mp = tmp() + "/m" + std::to_string(mounts_.size());
      std::filesystem::create_directories(mp);
      auto v = std::make_unique<Volume>(tmp(), "shared", TestStorage::kFile);
      v->set_meta_url(url_);
      v->set_mountpoint(mp);
      auto r = v->Mount(args);
      if (!r) return r;
      mounts_.push_back(std::move(v));
    }
    return ::testing::AssertionSuccess();
  }

  std::string At(size_t mount, std::string_view rel) const {
    return mounts_[mount]->mountpoint() + "/" + std::string(rel);
  }

  CommandResult Shoal(const std::vector<std::string>& args) const {
    Volume v(tmp(), "shared", TestStorage::kFile);
    return v.Shoal(args);
  }

  std::string url_;
  std::vector<std::unique_ptr<Volume>> mounts_;
};

// --- close-to-open ----------------------------------------------------------

TEST_F(MultiMountTest, DataClosedOnOneMountIsReadWholeByAnOpenOnAnother) {
  ASSERT_TRUE(Format());
  ASSERT_TRUE(MountClients(2));
  std::string p1 = Pattern(1 << 20, 1), p2 = Pattern(1 << 20, 2);
  ASSERT_TRUE(WriteFile(At(0, "f"), p1));
  EXPECT_EQ(ReadFile(At(1, "f")), p1);

  // The second mount has the old size cached (stat, then read): a file grown
  // and closed on the first must still be read whole by a new open.
  struct stat st {};
  ASSERT_EQ(stat(At(1, "f").c_str(), &st), 0);
  ASSERT_EQ(st.st_size, 1 << 20);
  {
    ScopedFd fd(open(At(0, "f").c_str(), O_WRONLY | O_APPEND));
    ASSERT_GE(fd.get(), 0);
    ASSERT_EQ(write(fd.get(), p2.data(), p2.size()), static_cast<ssize_t>(p2.size()));
  }
  EXPECT_EQ(Fnv1a(ReadFile(At(1, "f"))), Fnv1a(p1 + p2)) << "the grown file was not read whole";

  // Overwritten in place, same size: the new bytes, not cached pages.
  std::string p3 = Pattern(4096, 3);
  {
    ScopedFd fd(open(At(0, "f").c_str(), O_WRONLY));
    ASSERT_GE(fd.get(), 0);
    ASSERT_EQ(pwrite(fd.get(), p3.data(), p3.size(), 0), 4096);
  }
  std::string both = ReadFile(At(1, "f"));
  ASSERT_EQ(both.size(), 2u << 20);
  EXPECT_EQ(both.substr(0, 4096), p3);

  // fsync, without close, publishes too.
  ScopedFd w(open(At(0, "g").c_str(), O_CREAT | O_WRONLY, 0644));
  ASSERT_GE(w.get(), 0);
  std::string p4 = Pattern(300000, 4);
  ASSERT_EQ(write(w.get(), p4.data(), p4.size()), static_cast<ssize_t>(p4.size()));
  ASSERT_EQ(fsync(w.get()), 0);
  EXPECT_EQ(Fnv1a(ReadFile(At(1, "g"))), Fnv1a(p4));
}

TEST_F(MultiMountTest, AFileUnlinkedOnOneMountStaysReadableWhereItIsOpen) {
  ASSERT_TRUE(Format());
  ASSERT_TRUE(MountClients(2));
  std::string data = Pattern(3 << 20, 5);
  ASSERT_TRUE(WriteFile(At(0, "f"), data));
  ScopedFd fd(open(At(1, "f").c_str(), O_RDONLY));
  ASSERT_GE(fd.get(), 0);
  ASSERT_EQ(unlink(At(0, "f").c_str()), 0);
  struct stat st {};
  EXPECT_EQ(stat(At(0, "f").c_str(), &st), -1);

  std::string back(data.size(), '\0');
  ASSERT_EQ(pread(fd.get(), back.data(), back.size(), 0), static_cast<ssize_t>(back.size()));
  EXPECT_EQ(Fnv1a(back), Fnv1a(data));
  ASSERT_EQ(fstat(fd.get(), &st), 0);
  EXPECT_EQ(st.st_nlink, 0u);

  // Once closed there, its objects go (the data directory holds no block).
  fd.reset();
  std::string chunks = tmp() + "/data/shared/chunks";
  auto count_blocks = [&] {
    size_t n = 0;
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(chunks, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file()) ++n;
    }
    return n;
  };
  auto deadline = Clock::now() + seconds(10);
  while (count_blocks() > 0 && Clock::now() < deadline)
    std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(count_blocks(), 0u) << "the unlinked file's blocks were not deleted after its close";
}

// --- locks -------------------------------------------------------------------

// A child that takes a lock on `path` and holds it until told to go; it
// reports "1" once it holds the lock, "0" if taking it failed.
class LockHolder {
 public:
  enum Kind { kFlock, kPosix };
  LockHolder(const std::string& path, Kind kind, bool wait) {
    if (pipe(ready_) != 0 || pipe(go_) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      close(ready_[0]);
      close(go_[1]);
      int fd = open(path.c_str(), O_RDWR);
      bool ok = fd >= 0;
      if (ok && kind == kFlock) ok = flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) == 0;
      if (ok && kind == kPosix) {
        struct flock fl {};
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        ok = fcntl(fd, wait ? F_SETLKW : F_SETLK, &fl) == 0;
      }
      char c = ok ? '1' : '0';
      if (write(ready_[1], &c, 1) != 1) _exit(3);
      char buf;
      if (read(go_[0], &buf, 1) < 0) _exit(4);
      _exit(ok ? 0 : 1);
    }
    close(ready_[1]);
    close(go_[0]);
  }
  ~LockHolder() {
    Release();
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(ready_[0]);
  }
  // '1' locked, '0' failed, 't' no answer within `timeout`.
  char Wait(milliseconds timeout) {
    struct pollfd p {
      ready_[0], POLLIN, 0
    };
    if (poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return 't';
    char c = 't';
    if (read(ready_[0], &c, 1) != 1) return 't';
    return c;
  }
  void Release() {
    if (go_[1] >= 0) {
      close(go_[1]);
      go_[1] = -1;
    }
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int ready_[2] = {-1, -1};
  int go_[2] = {-1, -1};
};

TEST_F(MultiMountTest, LocksHoldAcrossMountsAndBlockedWaitersWakeWhenReleased) {
  ASSERT_TRUE(Format());
  ASSERT_TRUE(MountClients(2));
  ASSERT_TRUE(WriteFile(At(0, "lock"), "x"));
  for (auto kind : {LockHolder::kFlock, LockHolder::kPosix}) {
    SCOPED_TRACE(kind == LockHolder::kFlock ? "flock" : "fcntl");
    auto holder = std::make_unique<LockHolder>(At(0, "lock"), kind, false);
    ASSERT_EQ(holder->Wait(seconds(10)), '1');
    // Refused at once on the other mount...
    LockHolder refused(At(1, "lock"), kind, false);
    EXPECT_EQ(refused.Wait(seconds(10)), '0');
    // ...and a blocking waiter there waits until the holder lets go.
    LockHolder waiter(At(1, "lock"), kind, true);
    EXPECT_EQ(waiter.Wait(milliseconds(1500)), 't') << "the waiter got a lock that is held";
    auto released = Clock::now();
    holder.reset();
    EXPECT_EQ(waiter.Wait(seconds(10)), '1');
    EXPECT_LT(Clock::now() - released, seconds(5));
  }
}

TEST_F(MultiMountTest, ALockOfAKilledClientIsFreedWhenItsSessionExpires) {
  ASSERT_TRUE(Format());
  constexpr int kTimeout = 4;
  ASSERT_TRUE(MountClients(2, {"--session-timeout", std::to_string(kTimeout)}));
  ASSERT_TRUE(WriteFile(At(0, "lock"), "x"));
  LockHolder flock_holder(At(0, "lock"), LockHolder::kFlock, false);
  ASSERT_EQ(flock_holder.Wait(seconds(10)), '1');
  LockHolder posix_holder(At(0, "lock"), LockHolder::kPosix, false);
  ASSERT_EQ(posix_holder.Wait(seconds(10)), '1');

  // The first client dies with its locks held (its processes stay).
  ASSERT_TRUE(mounts_[0]->KillDaemon());
  auto killed = Clock::now();
  LockHolder early(At(1, "lock"), LockHolder::kFlock, false);
  EXPECT_EQ(early.Wait(seconds(10)), '0') << "the lock was free before the session expired";

  LockHolder flock_waiter(At(1, "lock"), LockHolder::kFlock, true);
  EXPECT_EQ(flock_waiter.Wait(seconds(kTimeout * 5)), '1');
  EXPECT_GE(Clock::now() - killed, seconds(kTimeout - 1));
  LockHolder posix_waiter(At(1, "lock"), LockHolder::kPosix, true);
  EXPECT_EQ(posix_waiter.Wait(seconds(kTimeout * 5)), '1');

  CommandResult st = Shoal({"status", url_, "--json"});
  ASSERT_TRUE(st.ok()) << st.Describe({"status"});
  EXPECT_EQ(st.out.find(mounts_[0]->mountpoint() + "\""), std::string::npos)
      << "the dead client is still listed: " << st.out;
  EXPECT_NE(st.out.find(mounts_[1]->mountpoint() + "\""), std::string::npos) << st.out;
}

// --- namespace storms --------------------------------------------------------

// Random namespace changes from every mount in the same few directories.
// Errors a race explains (ENOENT, EEXIST, ENOTEMPTY, EPERM for a link to what
// became a directory, ...) are fine; EIO or anything else is a failure.
// ESTALE too is a race's answer: a rename here that meets a directory another
// mount moved meanwhile gets it from the kernel, which cannot move the cached
// directory while it holds the rename lock (NFS clients see the same).
std::string Storm(const std::string& root, uint64_t seed, Clock::time_point until, int* ops) {
  std::mt19937_64 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  auto name = [&] {
    return root + "/d" + std::to_string(pick(3)) + "/n" + std::to_string(pick(12));
  };
  const std::set<int> benign = {ENOENT, EEXIST, ENOTEMPTY, EISDIR, ENOTDIR,
                                EINVAL, EBUSY,  EPERM,     ESTALE};
  while (Clock::now() < until) {
    std::string a = name(), b = name();
    int r = 0;
    std::string what;
    switch (pick(7)) {
      case 0:
      case 1: {
        what = "create " + a;
        int fd = open(a.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
        r = fd < 0 ? -1 : 0;
        if (fd >= 0) {
          if (write(fd, a.data(), a.size()) != static_cast<ssize_t>(a.size())) r = -1;
          if (close(fd) != 0) r = -1;
        }
        break;
      }
      case 2:
        what = "rename " + a + " " + b;
        r = rename(a.c_str(), b.c_str());
        break;
      case 3:
        what = "unlink " + a;
        r = unlink(a.c_str());
        break;
      case 4:
        what = "link " + a + " " + b;
        r = link(a.c_str(), b.c_str());
        break;
      case 5:
        what = "mkdir " + a;
        r = mkdir(a.c_str(), 0755);
        break;
      case 6:
        what = "rmdir " + a;
        r = rmdir(a.c_str());
        break;
    }
    if (r != 0 && !benign.contains(errno)) return what + ": " + ErrnoText(errno);
    ++*ops;
  }
  return "";
}

// Walks a tree: every name resolves, and each non-directory's link count is
// the number of names it has.
std::string CheckLinkCounts(const std::string& root) {
  std::map<ino_t, std::pair<nlink_t, int>> seen;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st {};
    if (lstat(it->path().c_str(), &st) != 0) {
      return "listed but cannot stat " + it->path().string() + ": " + ErrnoText(errno);
    }
    if (S_ISDIR(st.st_mode)) continue;
    auto& [nlink, names] = seen[st.st_ino];
    nlink = st.st_nlink;
    ++names;
  }
  if (ec) return "walking " + root + ": " + ec.message();
  for (const auto& [ino, v] : seen) {
    if (v.first != static_cast<nlink_t>(v.second)) {
      return "inode " + std::to_string(ino) + " has link count " + std::to_string(v.first) +
             " but " + std::to_string(v.second) + " names";
    }
  }
  return "";
}

TEST_F(MultiMountTest, NamespaceStormsFromFourMountsLeaveAConsistentVolume) {
  ASSERT_TRUE(Format());
  ASSERT_TRUE(MountClients(4, {"--attr-timeout", "0", "--entry-timeout", "0"}));
  for (int d = 0; d < 3; ++d) ASSERT_EQ(mkdir(At(0, "d" + std::to_string(d)).c_str(), 0755), 0);
  auto until = Clock::now() + seconds(6);
  std::vector<std::thread> threads;
  std::vector<std::string> errors(8);
  std::vector<int> ops(8, 0);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back(
        [&, t] { errors[t] = Storm(mounts_[t % 4]->mountpoint(), 1000 + t, until, &ops[t]); });
  }
  for (auto& t : threads) t.join();
  int total = 0;
  for (int t = 0; t < 8; ++t) {
    EXPECT_EQ(errors[t], "") << "thread " << t;
    total += ops[t];
  }
  EXPECT_GT(total, 200) << "the storm did too little to mean anything";
  // Every mount sees the same consistent tree.
  std::string none;
  auto reference = TreeDigest(mounts_[0]->mountpoint(), false, &none);
  EXPECT_EQ(none, "");
  for (size_t m = 0; m < mounts_.size(); ++m) {
    EXPECT_EQ(CheckLinkCounts(mounts_[m]->mountpoint()), "") << "mount " << m;
    std::string error;
    EXPECT_EQ(DiffDigests(reference, TreeDigest(mounts_[m]->mountpoint(), false, &error)), "")
        << "mount " << m;
  }
  for (auto& m : mounts_) ASSERT_TRUE(m->Unmount());
  // And the metadata agrees with itself and with the objects.
  CommandResult fsck = Shoal({"fsck", url_});
  EXPECT_TRUE(fsck.ok()) << fsck.Describe({"fsck", url_}) << "\n" << fsck.out;
}

// --- Redis restarts ----------------------------------------------------------

int FreePort() {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  int port = -1;
  if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(s);
  return port;
}

// A redis-server of the test's own, persisting every write (so that a
// restart keeps what it acknowledged).
class RedisServer {
 public:
  RedisServer(std::string binary, std::string dir, int port)
      : binary_(std::move(binary)), dir_(std::move(dir)), port_(port) {}
  ~RedisServer() { Stop(SIGKILL); }
  bool Start() {
    std::filesystem::create_directories(dir_);
    pid_ = fork();
    if (pid_ == 0) {
      setpgid(0, 0);
      // Files the test's threads have open on the mounts must not live on in
      // the server: they would keep the mounts busy.
      close_range(3, ~0u, 0);
      std::string port = std::to_string(port_), log = dir_ + "/redis.log";
      execl(binary_.c_str(), binary_.c_str(), "--bind", "127.0.0.1", "--port", port.c_str(),
            "--dir", dir_.c_str(), "--appendonly", "yes", "--appendfsync", "always", "--save", "",
            "--logfile", log.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    // Ready when it accepts connections.
    auto deadline = Clock::now() + seconds(10);
    while (Clock::now() < deadline) {
      int s = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(port_));
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      bool up = connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
      close(s);
      if (up) return true;
      std::this_thread::sleep_for(milliseconds(50));
    }
    return false;
  }
  void Stop(int sig) {
    if (pid_ <= 0) return;
    kill(pid_, sig);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  std::string binary_, dir_;
  int port_;
  pid_t pid_ = -1;
};

TEST_F(MultiMountTest, MountsRecoverWhenRedisRestartsUnderAWorkload) {
  const char* binary = std::getenv("SHOAL_TEST_REDIS_SERVER");
  if (binary == nullptr || *binary == '\0') {
    GTEST_SKIP() << "SHOAL_TEST_REDIS_SERVER (a redis-server binary) is not set";
  }
  int port = FreePort();
  ASSERT_GT(port, 0);
  RedisServer redis(binary, tmp() + "/redis", port);
  ASSERT_TRUE(redis.Start()) << "redis-server did not start on port " << port;
  std::string shared_url = url_;
  UseRedis("redis://127.0.0.1:" + std::to_string(port) + "/0");
  ASSERT_TRUE(Format());
  ASSERT_TRUE(MountClients(2));

  // Writers on both mounts; each remembers the files whose close succeeded.
  std::atomic<bool> stop{false};
  std::vector<std::map<std::string, uint64_t>> written(2);  // each writer's own
  std::atomic<size_t> succeeded{0};
  std::vector<int> failures(2, 0);
  std::vector<std::string> unexpected(2);
  std::vector<std::thread> writers;
  for (int m = 0; m < 2; ++m) {
    writers.emplace_back([&, m] {
      for (int i = 0; !stop.load(); ++i) {
        std::string rel = "w" + std::to_string(m) + "-" + std::to_string(i);
        std::string data = Pattern(20000 + i, 100 * m + i);
        int fd = open(At(m, rel).c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
        bool ok = fd >= 0;
        int err = fd >= 0 ? 0 : errno;
        if (ok && write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) {
          ok = false;
          err = errno;
        }
        if (fd >= 0 && close(fd) != 0) {
          ok = false;
          err = errno;
        }
        if (ok) {
          written[m][rel] = Fnv1a(data);
          ++succeeded;
        } else {
          ++failures[m];
          if (err != EIO && err != ENOENT && unexpected[m].empty()) {
            unexpected[m] = rel + ": " + ErrnoText(err);
          }
          std::this_thread::sleep_for(milliseconds(50));
        }
      }
    });
  }
  std::this_thread::sleep_for(seconds(2));
  redis.Stop(SIGKILL);
  std::this_thread::sleep_for(seconds(2));
  ASSERT_TRUE(redis.Start()) << "redis-server did not restart";
  // Back to work: new files must succeed again within a while.
  size_t before = succeeded.load();
  auto deadline = Clock::now() + seconds(30);
  while (succeeded.load() < before + 20 && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  stop = true;
  for (auto& t : writers) t.join();
  EXPECT_GE(succeeded.load(), before + 20) << "the mounts did not recover";
  EXPECT_EQ(unexpected[0], "");
  EXPECT_EQ(unexpected[1], "");

  // Every file whose close succeeded is whole, seen from the other mount.
  for (int m = 0; m < 2; ++m) {
    for (const auto& [rel, hash] : written[m]) {
      std::string error;
      std::string back = ReadFile(At(1 - m, rel), &error);
      ASSERT_EQ(error, "") << rel;
      ASSERT_EQ(Fnv1a(back), hash) << rel;
    }
  }
  for (auto& m : mounts_) ASSERT_TRUE(m->Unmount());
  mounts_.clear();
  CommandResult fsck = Shoal({"fsck", url_});
  EXPECT_TRUE(fsck.ok()) << fsck.Describe({"fsck", url_}) << "\n" << fsck.out;
  url_ = shared_url;  // TearDown cleans the shared server's prefix (empty here)
}

}  // namespace
}  // namespace shoal::testing
