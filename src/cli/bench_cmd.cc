// shoal bench: how fast a file system is, measured from the outside with
// plain POSIX calls, so that a shoal mount, another FUSE file system and a
// local disk can be compared by the same numbers. Nothing here calls into
// shoal's layers: the command is a client of whatever file system holds PATH.
//
// Three workloads, each optional:
//   big    one file written sequentially in 1 MiB writes (then fsync), read
//          back after dropping its cached pages, and read again (warm);
//   small  many small files, each written with open/write/close, read back,
//          and stat'ed;
//   meta   per-operation latency of create, getattr (forced past the kernel's
//          attribute cache), lookup, readdir, rename and unlink on many empty
//          files in one directory.
// Everything happens in a fresh directory PATH/shoal-bench-XXXXXX, removed at
// the end, also after a failure or SIGINT/SIGTERM/SIGHUP.
//
// Threads: small and meta phases run on --threads threads that take disjoint
// files from a shared counter; latency percentiles are exact (nearest rank)
// over every operation of every thread. big and readdir run on one thread.
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <vector>

#include "cli/args.h"
#include "cli/commands.h"
#include "common/posix.h"
#include "fuse/info.h"
#include "fuse/mountpoint.h"

namespace shoal::cli {
namespace {

constexpr std::string_view kCmd = "bench";

// Bad options or a PATH that cannot be used; kExitError is kept for failures
// of the file system under test.
constexpr int kExitBadInput = 2;
// What a shell reports for a process ended by SIGINT; used after cleaning up.
constexpr int kExitInterrupted = 130;

using Clock = std::chrono::steady_clock;

// Bounds that keep a typo from filling a disk or memory.
constexpr uint64_t kMaxCount = 10'000'000;  // file names have 7 digits
constexpr uint64_t kMaxSmallSize = 64ull << 20;
constexpr uint64_t kMaxBigSize = 1ull << 40;
constexpr unsigned kMaxThreads = 256;
// The big file moves in writes and reads of this size: what applications
// streaming a file typically use, and FUSE's default largest request.
constexpr size_t kBigIo = 1 << 20;
// Free space the big file must leave, so that the benchmark does not fill a
// disk to the last block.
constexpr uint64_t kFreeSpaceMargin = 64ull << 20;
// Full listings of the meta directory; the median is reported.
constexpr int kReaddirRounds = 5;
// How often a tty progress line is redrawn, and how often a line is printed
// when stderr is not a tty (a log should not get five lines a second).
constexpr std::chrono::milliseconds kProgressPeriod(200);
constexpr std::chrono::seconds kProgressLinePeriod(5);

Status ErrnoError(const std::string& what, int err) {
  // std::system_category() is thread-safe, unlike strerror().
  return IoError(what + ": " + std::system_category().message(err));
}

// Name of file `i` in a workload directory: fixed width so that listings sort.
std::string FileName(char prefix, uint64_t i) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%c%07llu", prefix, static_cast<unsigned long long>(i));
  return buf;
}

// A block of random bytes with `index` stamped in its first 8 bytes, so that
// every block or file differs and a block read back in the wrong place shows.
class Pattern {
 public:
  Pattern(size_t size, uint64_t seed) : base_(size, '\0') {
    std::mt19937_64 rng(seed);
    for (size_t i = 0; i < base_.size(); i += 8) {
      uint64_t v = rng();
      std::memcpy(base_.data() + i, &v, std::min<size_t>(8, base_.size() - i));
    }
  }
  size_t size() const { return base_.size(); }
  // Writes the bytes of block `index` into out (size() bytes).
  void Fill(uint64_t index, char* out) const {
    std::memcpy(out, base_.data(), base_.size());
    std::memcpy(out, &index, std::min<size_t>(8, base_.size()));
  }
  // Whether got[0, n) are the first n bytes of block `index`.
  bool Matches(uint64_t index, const char* got, size_t n) const {
    size_t head = std::min<size_t>(8, n);
    if (std::memcmp(got, &index, head) != 0) return false;
    return std::memcmp(got + head, base_.data() + head, n - head) == 0;
  }

 private:
  std::string base_;
};

// Writes all of buf, going on after short writes.
int WriteFull(int fd, const char* buf, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, buf, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    buf += w;
    n -= static_cast<size_t>(w);
  }
  return 0;
}

// Reads until n bytes or end of file; *got says how many came.
int ReadFull(int fd, char* buf, size_t n, size_t* got) {
  *got = 0;
  while (*got < n) {
    ssize_t r = ::read(fd, buf + *got, n - *got);
    if (r < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (r == 0) break;
    *got += static_cast<size_t>(r);
  }
  return 0;
}

// Lists `dir` once with opendir/readdir and returns how many entries it has
// besides "." and "..".
Result<uint64_t> CountEntries(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return ErrnoError("opening directory " + dir, errno);
  uint64_t entries = 0;
  for (;;) {
    errno = 0;
    const dirent* e = ::readdir(d);
    if (e == nullptr) break;
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) ++entries;
  }
  int err = errno;
  ::closedir(d);
  if (err != 0) return ErrnoError("listing " + dir, err);
  return entries;
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
double Micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

// One measured phase of per-file operations (or of full listings, for readdir).
struct OpResult {
  std::string op;
  std::string unit = "files";  // what ops counts: files, or entries for readdir
  uint64_t ops = 0;
  double seconds = 0;                // wall time of the phase
  std::vector<double> latencies_us;  // sorted; per op, or per full listing for readdir

  // Nearest rank over all samples: the smallest sample with at least p of
  // them at or below it.
  double Percentile(double p) const { return NearestRank(latencies_us, p); }
  double OpsPerSec() const { return seconds > 0 ? static_cast<double>(ops) / seconds : 0; }
};

// One sequential pass over the big file.
struct StreamResult {
  std::string op;  // write, read_cold, read_warm
  uint64_t bytes = 0;
  double seconds = 0;
  double fsync_seconds = 0;  // write only: the part spent in fsync and close
  double MibPerSec() const {
    return seconds > 0 ? static_cast<double>(bytes) / (1 << 20) / seconds : 0;
  }
};

struct BigResult {
  uint64_t size = 0;
  std::vector<StreamResult> passes;
  std::string cache_drop;  // how the cold read's cache was dropped, or why it was not
};

// The progress line on stderr: redrawn in place on a tty, else one line every
// kProgressLinePeriod so that a log stays short.
class Progress {
 public:
  enum class Mode { kOff, kTty, kLines };
  explicit Progress(Mode mode) : mode_(mode) {}

  void Begin() { last_line_ = Clock::now(); }

  // `bytes`: done and total are bytes, shown in MiB.
  void Show(std::string_view label, uint64_t done, uint64_t total, double seconds, bool bytes) {
    if (mode_ == Mode::kOff) return;
    if (mode_ == Mode::kLines) {
      if (Clock::now() - last_line_ < kProgressLinePeriod) return;
      last_line_ = Clock::now();
    }
    double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
    char buf[160];
    if (bytes) {
      std::snprintf(buf, sizeof(buf), "%.*s  %llu/%llu MiB  %.1f MiB/s",
                    static_cast<int>(label.size()), label.data(),
                    static_cast<unsigned long long>(done >> 20),
                    static_cast<unsigned long long>(total >> 20), rate / (1 << 20));
    } else {
      std::snprintf(buf, sizeof(buf), "%.*s  %llu/%llu  %.0f/s", static_cast<int>(label.size()),
                    label.data(), static_cast<unsigned long long>(done),
                    static_cast<unsigned long long>(total), rate);
    }
    if (mode_ == Mode::kTty) {
      drawn_ = true;
      std::cerr << "\r\033[Kshoal bench: " << buf << std::flush;
    } else {
      std::cerr << "shoal bench: " << buf << std::endl;
    }
  }

  void Clear() {
    if (mode_ == Mode::kTty && drawn_) std::cerr << "\r\033[K" << std::flush;
    drawn_ = false;
  }

 private:
  Mode mode_;
  Clock::time_point last_line_;
  bool drawn_ = false;
};

// Turns SIGINT, SIGTERM and SIGHUP into a stop request, so that an
// interrupted benchmark still removes what it wrote. The signals are blocked
// in every thread (the mask is inherited by threads started later) and taken
// by a watcher thread with sigtimedwait; a second signal exits at once.
class SignalWatcher {
 public:
  explicit SignalWatcher(std::atomic<bool>& stop) : stop_(stop) {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
    thread_ = std::thread([this] { Watch(); });
  }
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;
  ~SignalWatcher() {
    done_ = true;
    thread_.join();
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  void SetDirToReport(std::string dir) {
    std::lock_guard lock(mu_);
    dir_ = std::move(dir);
  }

 private:
  void Watch() {
    timespec period{0, 100'000'000};
    while (!done_) {
      int sig = sigtimedwait(&set_, nullptr, &period);
      if (sig <= 0) continue;
      if (!stop_.exchange(true)) {
        std::cerr << "\nshoal bench: interrupted; removing what was written (again to quit at "
                     "once)"
                  << std::endl;
        continue;
      }
      std::lock_guard lock(mu_);
      std::cerr << "shoal bench: interrupted again: leaving " << dir_ << " behind" << std::endl;
      std::_Exit(kExitInterrupted);
    }
  }

  std::atomic<bool>& stop_;
  std::atomic<bool> done_{false};
  sigset_t set_;
  sigset_t old_;
  std::mutex mu_;
  std::string dir_;
  std::thread thread_;
};

struct Plan {
  BenchWorkloads workloads;
  uint64_t big_size = 0;
  uint64_t small_size = 0;
};

class Bench {
 public:
  Bench(const BenchArgs& args, const Plan& plan, std::string dir, const std::atomic<bool>& stop,
        Progress& progress)
      : args_(args), plan_(plan), dir_(std::move(dir)), stop_(stop), progress_(progress) {}

  Status RunBig(BigResult& out);
  Status RunSmall(std::vector<OpResult>& out);
  Status RunMeta(std::vector<OpResult>& out);

 private:
  bool Stopped() const { return stop_.load() || phase_failed_.load(); }

  // Runs work(t) for t in [0, threads) on their own threads while this thread
  // draws the progress of `done` out of `total`. Returns the first error, or
  // kInterrupted after a signal.
  Status RunThreads(std::string_view label, uint64_t total, bool bytes, unsigned threads,
                    const std::atomic<uint64_t>& done, const std::function<Status(unsigned)>& work);

  // Runs fn(thread, i) for every i in [0, count) and times each call.
  Result<OpResult> PerFile(std::string op, std::string_view label, uint64_t count,
                           const std::function<Status(unsigned, uint64_t)>& fn);

  Result<StreamResult> WriteBig(const std::string& path, const Pattern& pattern);
  Result<StreamResult> ReadBig(std::string op, const std::string& path, const Pattern& pattern);

  const BenchArgs& args_;
  const Plan& plan_;
  std::string dir_;
  const std::atomic<bool>& stop_;
  Progress& progress_;
  std::atomic<bool> phase_failed_{false};
};

Status Bench::RunThreads(std::string_view label, uint64_t total, bool bytes, unsigned threads,
                         const std::atomic<uint64_t>& done,
                         const std::function<Status(unsigned)>& work) {
  std::mutex mu;
  std::condition_variable finished;
  unsigned running = threads;
  Status first_error;
  phase_failed_ = false;
  auto start = Clock::now();
  progress_.Begin();
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      Status s = work(t);
      std::lock_guard lock(mu);
      if (!s.ok()) {
        if (first_error.ok()) first_error = s;
        phase_failed_ = true;
      }
      if (--running == 0) finished.notify_all();
    });
  }
  {
    std::unique_lock lock(mu);
    while (!finished.wait_for(lock, kProgressPeriod, [&] { return running == 0; })) {
      progress_.Show(label, done.load(), total, Seconds(Clock::now() - start), bytes);
    }
  }
  for (std::thread& th : pool) th.join();
  progress_.Clear();
  if (!first_error.ok()) return first_error;
  if (stop_.load()) return Status(Code::kInterrupted, "interrupted");
  return OkStatus();
}

Result<OpResult> Bench::PerFile(std::string op, std::string_view label, uint64_t count,
                                const std::function<Status(unsigned, uint64_t)>& fn) {
  unsigned threads = args_.threads;
  std::atomic<uint64_t> next{0};
  std::atomic<uint64_t> done{0};
  std::vector<std::vector<double>> latencies(threads);
  for (auto& v : latencies) v.reserve(count / threads + 1);
  auto start = Clock::now();
  Status s = RunThreads(label, count, /*bytes=*/false, threads, done, [&](unsigned t) -> Status {
    while (!Stopped()) {
      uint64_t i = next.fetch_add(1);
      if (i >= count) break;
      auto t0 = Clock::now();
      RETURN_IF_ERROR(fn(t, i));
      latencies[t].push_back(Micros(Clock::now() - t0));
      ++done;
    }
    return OkStatus();
  });
  if (!s.ok()) return s;
  OpResult result;
  result.op = std::move(op);
  result.seconds = Seconds(Clock::now() - start);
  for (auto& v : latencies)
    result.latencies_us.insert(result.latencies_us.end(), v.begin(), v.end());
  std::sort(result.latencies_us.begin(), result.latencies_us.end());
  result.ops = result.latencies_us.size();
  return result;
}

Result<StreamResult> Bench::WriteBig(const std::string& path, const Pattern& pattern) {
  StreamResult result{.op = "write"};
  std::atomic<uint64_t> done{0};
  uint64_t size = plan_.big_size;
  auto start = Clock::now();
  Status s = RunThreads("big write", size, /*bytes=*/true, 1, done, [&](unsigned) -> Status {
    Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (fd.get() < 0) return ErrnoError("creating " + path, errno);
    std::vector<char> buf(kBigIo);
    for (uint64_t off = 0, block = 0; off < size; off += kBigIo, ++block) {
      if (Stopped()) return OkStatus();
      size_t n = static_cast<size_t>(std::min<uint64_t>(kBigIo, size - off));
      pattern.Fill(block, buf.data());
      if (int err = WriteFull(fd.get(), buf.data(), n)) {
        return ErrnoError("writing " + path + " at offset " + std::to_string(off), err);
      }
      done += n;
    }
    auto sync_start = Clock::now();
    if (::fsync(fd.get()) != 0) return ErrnoError("fsync of " + path, errno);
    if (int err = fd.Close()) return ErrnoError("closing " + path, err);
    result.fsync_seconds = Seconds(Clock::now() - sync_start);
    return OkStatus();
  });
  if (!s.ok()) return s;
  result.seconds = Seconds(Clock::now() - start);
  result.bytes = size;
  return result;
}

Result<StreamResult> Bench::ReadBig(std::string op, const std::string& path,
                                    const Pattern& pattern) {
  StreamResult result{.op = std::move(op)};
  std::atomic<uint64_t> done{0};
  uint64_t size = plan_.big_size;
  std::string label = result.op == "read_cold" ? "big read (cold)" : "big read (warm)";
  auto start = Clock::now();
  Status s = RunThreads(label, size, /*bytes=*/true, 1, done, [&](unsigned) -> Status {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return ErrnoError("opening " + path, errno);
    std::vector<char> buf(kBigIo);
    for (uint64_t off = 0, block = 0;; off += kBigIo, ++block) {
      if (Stopped()) return OkStatus();
      size_t got = 0;
      if (int err = ReadFull(fd.get(), buf.data(), kBigIo, &got)) {
        return ErrnoError("reading " + path + " at offset " + std::to_string(off), err);
      }
      size_t want = static_cast<size_t>(std::min<uint64_t>(kBigIo, size - std::min(off, size)));
      if (got != want) {
        return IoError("reading " + path + " at offset " + std::to_string(off) + " gave " +
                       std::to_string(got) + " bytes where " + std::to_string(want) +
                       " were written: the file system lost or added data");
      }
      if (got == 0) break;
      if (!pattern.Matches(block, buf.data(), got)) {
        return Corrupt("the data read back from " + path + " at offset " + std::to_string(off) +
                       " differs from what was written");
      }
      done += got;
    }
    return OkStatus();
  });
  if (!s.ok()) return s;
  result.seconds = Seconds(Clock::now() - start);
  result.bytes = size;
  return result;
}

Status Bench::RunBig(BigResult& out) {
  out.size = plan_.big_size;
  std::string path = dir_ + "/big";
  Pattern pattern(kBigIo, std::random_device{}());
  ASSIGN_OR_RETURN(StreamResult written, WriteBig(path, pattern));
  out.passes.push_back(written);

  // After fsync the pages are clean, so DONTNEED drops them from the page
  // cache. A FUSE file system may still hold the data in its own cache (shoal
  // keeps blocks in memory and on its local disk cache): "cold" then means
  // cold for the kernel only.
  {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return ErrnoError("opening " + path, errno);
    int err = ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED);
    out.cache_drop =
        err == 0 ? "dropped with posix_fadvise(DONTNEED)"
                 : "not dropped: posix_fadvise failed: " + std::system_category().message(err);
  }
  ASSIGN_OR_RETURN(StreamResult cold, ReadBig("read_cold", path, pattern));
  out.passes.push_back(cold);
  ASSIGN_OR_RETURN(StreamResult warm, ReadBig("read_warm", path, pattern));
  out.passes.push_back(warm);
  if (::unlink(path.c_str()) != 0) return ErrnoError("removing " + path, errno);
  return OkStatus();
}

Status Bench::RunSmall(std::vector<OpResult>& out) {
  std::string dir = dir_ + "/small";
  if (::mkdir(dir.c_str(), 0755) != 0) return ErrnoError("creating directory " + dir, errno);
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.get() < 0) return ErrnoError("opening directory " + dir, errno);
  uint64_t size = plan_.small_size;
  uint64_t count = args_.small_count;
  Pattern pattern(size, std::random_device{}());
  // One buffer per thread, one byte longer than a file so that a read that
  // returns too much shows.
  std::vector<std::vector<char>> bufs(args_.threads, std::vector<char>(size + 1));
  auto path_of = [&](uint64_t i) { return dir + "/" + FileName('s', i); };

  ASSIGN_OR_RETURN(
      OpResult write, PerFile("write", "small write", count, [&](unsigned t, uint64_t i) -> Status {
        std::string name = FileName('s', i);
        Fd fd(::openat(dfd.get(), name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
        if (fd.get() < 0) return ErrnoError("creating " + path_of(i), errno);
        pattern.Fill(i, bufs[t].data());
        if (int err = WriteFull(fd.get(), bufs[t].data(), size)) {
          return ErrnoError("writing " + path_of(i), err);
        }
        if (int err = fd.Close()) return ErrnoError("closing " + path_of(i), err);
        return OkStatus();
      }));
  out.push_back(std::move(write));

  ASSIGN_OR_RETURN(OpResult read,
                   PerFile("read", "small read", count, [&](unsigned t, uint64_t i) -> Status {
                     std::string name = FileName('s', i);
                     Fd fd(::openat(dfd.get(), name.c_str(), O_RDONLY | O_CLOEXEC));
                     if (fd.get() < 0) return ErrnoError("opening " + path_of(i), errno);
                     size_t got = 0;
                     if (int err = ReadFull(fd.get(), bufs[t].data(), size + 1, &got)) {
                       return ErrnoError("reading " + path_of(i), err);
                     }
                     if (got != size) {
                       return IoError("reading " + path_of(i) + " gave " + std::to_string(got) +
                                      " bytes where " + std::to_string(size) + " were written");
                     }
                     if (!pattern.Matches(i, bufs[t].data(), got)) {
                       return Corrupt("the data read back from " + path_of(i) +
                                      " differs from what was written");
                     }
                     if (int err = fd.Close()) return ErrnoError("closing " + path_of(i), err);
                     return OkStatus();
                   }));
  out.push_back(std::move(read));

  ASSIGN_OR_RETURN(
      OpResult stat, PerFile("stat", "small stat", count, [&](unsigned, uint64_t i) -> Status {
        struct stat st;
        std::string name = FileName('s', i);
        if (::fstatat(dfd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
          return ErrnoError("stat of " + path_of(i), errno);
        }
        if (static_cast<uint64_t>(st.st_size) != size) {
          return IoError("stat of " + path_of(i) + " says " + std::to_string(st.st_size) +
                         " bytes where " + std::to_string(size) + " were written");
        }
        return OkStatus();
      }));
  out.push_back(std::move(stat));
  // Removal is not measured (meta measures unlink); the final cleanup does it.
  return OkStatus();
}

Status Bench::RunMeta(std::vector<OpResult>& out) {
  std::string dir = dir_ + "/meta";
  if (::mkdir(dir.c_str(), 0755) != 0) return ErrnoError("creating directory " + dir, errno);
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.get() < 0) return ErrnoError("opening directory " + dir, errno);
  uint64_t count = args_.meta_count;
  auto path_of = [&](char prefix, uint64_t i) { return dir + "/" + FileName(prefix, i); };
  // Every call names its file relative to an open descriptor of the
  // directory, so that each sample is one operation on one name, not a walk
  // from PATH.
  auto add = [&](Result<OpResult> r) -> Status {
    if (!r) return r.error();
    out.push_back(std::move(*r));
    return OkStatus();
  };

  RETURN_IF_ERROR(add(PerFile("create", "meta create", count, [&](unsigned, uint64_t i) -> Status {
    std::string name = FileName('f', i);
    Fd fd(::openat(dfd.get(), name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (fd.get() < 0) return ErrnoError("creating " + path_of('f', i), errno);
    if (int err = fd.Close()) return ErrnoError("closing " + path_of('f', i), err);
    return OkStatus();
  })));

  // getattr: statx of each file with AT_STATX_FORCE_SYNC, so that a FUSE or
  // network file system is asked each time instead of the kernel answering
  // from its attribute cache (which holds a file for --attr-timeout after
  // its create, so a plain stat would measure how long create took); a local
  // file system answers as for stat. The small workload's stat is a plain one.
  RETURN_IF_ERROR(
      add(PerFile("getattr", "meta getattr", count, [&](unsigned, uint64_t i) -> Status {
        struct statx stx;
        std::string name = FileName('f', i);
        if (::statx(dfd.get(), name.c_str(), AT_SYMLINK_NOFOLLOW | AT_STATX_FORCE_SYNC,
                    STATX_BASIC_STATS, &stx) != 0) {
          return ErrnoError("statx of " + path_of('f', i), errno);
        }
        return OkStatus();
      })));

  // lookup: stat of a name that does not exist, each name asked once. A
  // positive lookup would be answered by the kernel's dentry cache (every
  // file was just created through it), so the negative one is what reaches
  // the file system each time: for FUSE, one LOOKUP request that the daemon
  // answers with "no such entry". It is what a search along PATH or
  // PYTHONPATH costs per directory tried.
  RETURN_IF_ERROR(add(PerFile("lookup", "meta lookup", count, [&](unsigned, uint64_t i) -> Status {
    struct stat st;
    std::string name = FileName('x', i);
    if (::fstatat(dfd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      return IoError("stat of " + path_of('x', i) + " found a file that was never created");
    }
    if (errno != ENOENT) return ErrnoError("stat of " + path_of('x', i), errno);
    return OkStatus();
  })));

  // readdir: full listings of the directory, one after another on one thread;
  // each listing is one latency sample, and ops counts the entries listed.
  {
    OpResult listed;
    listed.op = "readdir";
    listed.unit = "entries";
    std::atomic<uint64_t> rounds{0};
    Status s = RunThreads(
        "meta readdir", kReaddirRounds, /*bytes=*/false, 1, rounds, [&](unsigned) -> Status {
          for (int r = 0; r < kReaddirRounds && !Stopped(); ++r) {
            auto t0 = Clock::now();
            ASSIGN_OR_RETURN(uint64_t entries, CountEntries(dir));
            listed.latencies_us.push_back(Micros(Clock::now() - t0));
            if (entries != count) {
              return IoError("listing " + dir + " found " + std::to_string(entries) +
                             " entries where " + std::to_string(count) + " files were created");
            }
            listed.ops += entries;
            ++rounds;
          }
          return OkStatus();
        });
    RETURN_IF_ERROR(s);
    for (double us : listed.latencies_us) listed.seconds += us / 1e6;
    std::sort(listed.latencies_us.begin(), listed.latencies_us.end());
    out.push_back(std::move(listed));
  }

  RETURN_IF_ERROR(add(PerFile("rename", "meta rename", count, [&](unsigned, uint64_t i) -> Status {
    std::string from = FileName('f', i);
    std::string to = FileName('r', i);
    if (::renameat(dfd.get(), from.c_str(), dfd.get(), to.c_str()) != 0) {
      return ErrnoError("renaming " + path_of('f', i) + " to " + to, errno);
    }
    return OkStatus();
  })));

  RETURN_IF_ERROR(add(PerFile("unlink", "meta unlink", count, [&](unsigned, uint64_t i) -> Status {
    std::string name = FileName('r', i);
    if (::unlinkat(dfd.get(), name.c_str(), 0) != 0) {
      return ErrnoError("removing " + path_of('r', i), errno);
    }
    return OkStatus();
  })));
  return OkStatus();
}

// The file-system type of the mount holding `path`, from the longest mount
// point in /proc/self/mountinfo that contains it ("ext4", "fuse.shoal", ...),
// or the statfs magic number in hex when that is unavailable.
std::string FsType(const std::string& path) {
  std::error_code ec;
  std::filesystem::path canonical = std::filesystem::canonical(path, ec);
  std::string best_type;
  size_t best_len = 0;
  Result<std::vector<fuse::MountEntry>> table = fuse::ReadMountTable();
  if (!ec && table) {
    const std::string target = canonical.string();
    for (const fuse::MountEntry& e : *table) {
      const std::string& mount_point = e.mountpoint;
      bool contains = target == mount_point || mount_point == "/" ||
                      (target.starts_with(mount_point) && target[mount_point.size()] == '/');
      // >=: a later mount over the same point hides the earlier one.
      if (contains && mount_point.size() >= best_len) {
        best_len = mount_point.size();
        best_type = e.fstype;
      }
    }
  }
  if (!best_type.empty()) return best_type;
  struct statfs sfs;
  if (::statfs(path.c_str(), &sfs) != 0) return "unknown";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(sfs.f_type));
  return buf;
}

Result<Plan> Validate(const BenchArgs& a) {
  Plan plan;
  ASSIGN_OR_RETURN(plan.workloads, ParseBenchWorkloads(a.only));
  if (a.threads == 0 || a.threads > kMaxThreads) {
    return Invalid("--threads " + std::to_string(a.threads) + " is out of range: give 1 to " +
                   std::to_string(kMaxThreads));
  }
  if (plan.workloads.big) {
    ASSIGN_OR_RETURN(plan.big_size, ParseSize(a.big_size, "--big-size"));
    if (plan.big_size == 0 || plan.big_size > kMaxBigSize) {
      return Invalid("--big-size " + FormatBytes(plan.big_size) +
                     " is out of range: give 1 byte to " + FormatBytes(kMaxBigSize));
    }
  }
  if (plan.workloads.small) {
    ASSIGN_OR_RETURN(plan.small_size, ParseSize(a.small_size, "--small-size"));
    if (plan.small_size > kMaxSmallSize) {
      return Invalid("--small-size " + FormatBytes(plan.small_size) +
                     " is out of range: give 0 to " + FormatBytes(kMaxSmallSize));
    }
  }
  for (auto [selected, count, name, workload] :
       {std::tuple{plan.workloads.small, a.small_count, "--small-count", "small"},
        std::tuple{plan.workloads.meta, a.meta_count, "--meta-count", "meta"}}) {
    if (selected && (count == 0 || count > kMaxCount)) {
      return Invalid(std::string(name) + " " + std::to_string(count) +
                     " is out of range: give 1 to " + std::to_string(kMaxCount) + ", or leave " +
                     workload + " out of --only");
    }
  }
  return plan;
}

// Checks that PATH is a directory this process can create files in.
Status CheckPath(const std::string& path) {
  // PATH is optional for the parser so that its absence exits 2 like any other bad PATH.
  if (path.empty())
    return Invalid("PATH is missing: give the directory to measure, 'shoal bench PATH'");
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    int err = errno;
    return Invalid("cannot use '" + path + "': " + std::system_category().message(err) +
                   ": give an existing directory");
  }
  if (!S_ISDIR(st.st_mode)) {
    return Invalid("'" + path + "' is not a directory: give the directory to measure");
  }
  if (::access(path.c_str(), W_OK | X_OK) != 0) {
    int err = errno;
    return Invalid("cannot create files in '" + path + "': " + std::system_category().message(err) +
                   ": give a directory you can write to");
  }
  return OkStatus();
}

// The big file must fit with kFreeSpaceMargin to spare. A file system that
// reports no size (f_blocks 0) is taken at its word that it has no limit.
Status CheckFreeSpace(const std::string& path, uint64_t big_size) {
  struct statvfs vfs;
  if (::statvfs(path.c_str(), &vfs) != 0 || vfs.f_blocks == 0) return OkStatus();
  uint64_t avail = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  if (avail < big_size + kFreeSpaceMargin) {
    return Invalid("'" + path + "' has " + FormatBytes(avail) + " free, too little for a " +
                   FormatBytes(big_size) + " file and " + FormatBytes(kFreeSpaceMargin) +
                   " to spare: give a smaller --big-size or leave big out of --only");
  }
  return OkStatus();
}

std::string FormatNumber(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), v < 10 ? "%.2f" : (v < 1000 ? "%.1f" : "%.0f"), v);
  return buf;
}

nlohmann::json ToJson(const OpResult& r) {
  return {{"op", r.op},
          {"unit", r.unit},
          {"ops", r.ops},
          {"samples", r.latencies_us.size()},
          {"seconds", r.seconds},
          {"ops_per_sec", r.OpsPerSec()},
          {"latency_us",
           {{"p50", r.Percentile(0.50)},
            {"p90", r.Percentile(0.90)},
            {"p99", r.Percentile(0.99)},
            {"max", r.latencies_us.empty() ? 0.0 : r.latencies_us.back()}}}};
}

nlohmann::json ToJson(const StreamResult& r) {
  nlohmann::json j = {
      {"op", r.op}, {"bytes", r.bytes}, {"seconds", r.seconds}, {"mib_per_sec", r.MibPerSec()}};
  if (r.op == "write") j["fsync_seconds"] = r.fsync_seconds;
  return j;
}

void PrintOpTable(const std::vector<OpResult>& results) {
  std::cout << "  " << PadColumn("op", 9, true) << PadColumn("ops", 10, false)
            << PadColumn("ops/s", 11, false) << PadColumn("p50 µs", 11, false)
            << PadColumn("p90 µs", 11, false) << PadColumn("p99 µs", 11, false) << "\n";
  for (const OpResult& r : results) {
    std::cout << "  " << PadColumn(r.op, 9, true) << PadColumn(std::to_string(r.ops), 10, false)
              << PadColumn(FormatNumber(r.OpsPerSec()), 11, false)
              << PadColumn(FormatNumber(r.Percentile(0.50)), 11, false)
              << PadColumn(FormatNumber(r.Percentile(0.90)), 11, false)
              << PadColumn(FormatNumber(r.Percentile(0.99)), 11, false) << "\n";
  }
}

struct Results {
  std::string path;
  std::string dir;
  std::string fs_type;
  std::optional<BigResult> big;
  std::vector<OpResult> small;
  std::vector<OpResult> meta;
};

void PrintHuman(const BenchArgs& a, const Plan& plan, const Results& r) {
  std::cout << "shoal bench of " << r.path << " (" << r.fs_type << ") with " << a.threads
            << (a.threads == 1 ? " thread" : " threads") << ", in " << r.dir
            << " (removed again)\n";
  if (r.big) {
    std::cout << "\nbig file: " << FormatBytes(r.big->size) << " in " << FormatBytes(kBigIo)
              << " writes and reads, one thread\n";
    std::cout << "  " << PadColumn("pass", 13, true) << PadColumn("MiB/s", 10, false)
              << PadColumn("seconds", 10, false) << "\n";
    for (const StreamResult& p : r.big->passes) {
      std::string name =
          p.op == "write" ? "write+fsync" : (p.op == "read_cold" ? "read cold" : "read warm");
      std::cout << "  " << PadColumn(name, 13, true)
                << PadColumn(FormatNumber(p.MibPerSec()), 10, false)
                << PadColumn(FormatNumber(p.seconds), 10, false);
      if (p.op == "write")
        std::cout << "   (fsync and close " << FormatNumber(p.fsync_seconds) << " s)";
      std::cout << "\n";
    }
    std::cout << "  cold read: page cache " << r.big->cache_drop
              << "; a FUSE file system may still serve it from its own cache\n";
  }
  if (!r.small.empty()) {
    std::cout << "\nsmall files: " << a.small_count << " of " << FormatBytes(plan.small_size)
              << ", each open+write+close / open+read+close / stat\n";
    PrintOpTable(r.small);
  }
  if (!r.meta.empty()) {
    std::cout << "\nmetadata: " << a.meta_count << " empty files in one directory\n";
    PrintOpTable(r.meta);
    std::cout << "  readdir: " << kReaddirRounds
              << " full listings on one thread; ops counts entries, latency is per listing\n"
              << "  getattr: statx with AT_STATX_FORCE_SYNC (past the kernel's attribute cache)\n"
              << "  lookup: stat of names that do not exist (negative lookups)\n";
  }
}

void PrintJson(const BenchArgs& a, const Plan& plan, const Results& r) {
  nlohmann::json j = {
      {"path", r.path}, {"dir", r.dir}, {"fs_type", r.fs_type}, {"threads", a.threads}};
  if (r.big) {
    nlohmann::json passes = nlohmann::json::array();
    for (const StreamResult& p : r.big->passes) passes.push_back(ToJson(p));
    j["big"] = {{"size", r.big->size},
                {"io_size", kBigIo},
                {"cache_drop", r.big->cache_drop},
                {"results", passes}};
  }
  if (!r.small.empty()) {
    nlohmann::json results = nlohmann::json::array();
    for (const OpResult& o : r.small) results.push_back(ToJson(o));
    j["small"] = {{"count", a.small_count}, {"size", plan.small_size}, {"results", results}};
  }
  if (!r.meta.empty()) {
    nlohmann::json results = nlohmann::json::array();
    for (const OpResult& o : r.meta) results.push_back(ToJson(o));
    j["meta"] = {{"count", a.meta_count}, {"readdir_rounds", kReaddirRounds}, {"results", results}};
  }
  std::cout << fuse::DumpJson(j, 2) << "\n";
}

}  // namespace

Result<BenchWorkloads> ParseBenchWorkloads(std::string_view list) {
  BenchWorkloads w;
  const std::string whole(list);
  auto bad = [&](std::string_view why) {
    return Invalid("--only '" + whole + "' " + std::string(why) +
                   ": give a comma-separated list of big, small and meta, or all");
  };
  if (list.empty()) return bad("is empty");
  while (true) {
    size_t comma = list.find(',');
    std::string_view word = list.substr(0, comma);
    if (word == "big") {
      w.big = true;
    } else if (word == "small") {
      w.small = true;
    } else if (word == "meta") {
      w.meta = true;
    } else if (word == "all") {
      w = {.big = true, .small = true, .meta = true};
    } else {
      return bad(word.empty() ? "has an empty item"
                              : "names '" + std::string(word) + "', which is not a workload");
    }
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return w;
}

int RunBench(const BenchArgs& a) {
  Result<Plan> plan = Validate(a);
  if (!plan) {
    PrintError(kCmd, plan.error());
    return kExitBadInput;
  }
  Status usable = CheckPath(a.path);
  if (usable.ok() && plan->workloads.big) usable = CheckFreeSpace(a.path, plan->big_size);
  if (!usable.ok()) {
    PrintError(kCmd, usable);
    return kExitBadInput;
  }

  Results results;
  results.path = a.path;
  results.fs_type = FsType(a.path);
  std::atomic<bool> stop{false};
  SignalWatcher watcher(stop);

  std::string tmpl = a.path + (a.path.ends_with('/') ? "" : "/") + "shoal-bench-XXXXXX";
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  if (::mkdtemp(name.data()) == nullptr) {
    int err = errno;
    PrintError(kCmd, "cannot create a directory in '" + a.path +
                         "': " + std::system_category().message(err) +
                         ": give a directory you can write to");
    return kExitBadInput;
  }
  results.dir = name.data();
  watcher.SetDirToReport(results.dir);

  Progress::Mode mode = a.quiet                        ? Progress::Mode::kOff
                        : ::isatty(STDERR_FILENO) == 1 ? Progress::Mode::kTty
                                                       : Progress::Mode::kLines;
  Progress progress(mode);
  Bench bench(a, *plan, results.dir, stop, progress);
  Status s;
  std::string_view failed;
  if (plan->workloads.big) {
    results.big.emplace();
    s = bench.RunBig(*results.big);
    failed = "big";
  }
  if (s.ok() && plan->workloads.small) {
    s = bench.RunSmall(results.small);
    failed = "small";
  }
  if (s.ok() && plan->workloads.meta) {
    s = bench.RunMeta(results.meta);
    failed = "meta";
  }

  std::error_code ec;
  std::filesystem::remove_all(results.dir, ec);
  if (ec) {
    PrintError(kCmd,
               "could not remove '" + results.dir + "': " + ec.message() + ": remove it by hand");
  }
  if (stop.load()) {
    PrintError(kCmd, "interrupted" + std::string(ec ? "" : "; removed " + results.dir));
    return kExitInterrupted;
  }
  if (!s.ok()) {
    PrintError(kCmd, "the " + std::string(failed) +
                         " workload failed: " + (s.message().empty() ? s.ToString() : s.message()));
    return kExitError;
  }
  if (a.json) {
    PrintJson(a, *plan, results);
  } else {
    PrintHuman(a, *plan, results);
  }
  return kExitOk;
}

}  // namespace shoal::cli
