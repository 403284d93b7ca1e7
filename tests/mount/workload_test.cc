// Real programs on a mounted volume: tar, the C compiler, a random
// read/write/truncate/punch/mmap exerciser checked against a local copy, and
// a tree that must come back unchanged after umount and mount.
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "mount_fixture.h"

namespace shoal::testing {
namespace {

namespace fs = std::filesystem;

class WorkloadTest : public MountTest {};

// A deterministic tree with the shapes real data has: many small files, a
// few large ones (crossing the 4 MiB block size), empty files and
// directories, symlinks, hard links, odd names and modes.
::testing::AssertionResult MakeTree(const std::string& dir, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto mk = [](const std::string& p, mode_t mode) {
    return mkdir(p.c_str(), mode) == 0 || errno == EEXIST;
  };
  if (!mk(dir, 0755)) return ::testing::AssertionFailure() << "mkdir " << dir;
  int file_no = 0;
  for (int d = 0; d < 8; ++d) {
    std::string sub = dir + "/dir" + std::to_string(d);
    if (!mk(sub, 0755)) return ::testing::AssertionFailure() << "mkdir " << sub;
    if (d % 3 == 0) {
      sub += "/nested";
      if (!mk(sub, 0750)) return ::testing::AssertionFailure() << "mkdir " << sub;
    }
    for (int f = 0; f < 30; ++f) {
      size_t size = rng() % 20000;
      if (f == 0) size = 0;
      if (f == 1 && d < 3) size = (1 << 20) + rng() % 100000;
      auto r = WriteFile(sub + "/file" + std::to_string(f) + ".bin", Pattern(size, ++file_no));
      if (!r) return r;
    }
  }
  if (auto r = WriteFile(dir + "/big.bin", Pattern((5 << 20) + 12345, 99)); !r) return r;
  if (auto r = WriteFile(dir + "/name with spaces é.txt", "spaces\n"); !r) return r;
  if (auto r = WriteFile(dir + "/exec.sh", "#!/bin/sh\necho hi\n"); !r) return r;
  chmod((dir + "/exec.sh").c_str(), 0750);
  if (!mk(dir + "/empty", 0700)) return ::testing::AssertionFailure() << "mkdir empty";
  if (symlink("dir0/file2.bin", (dir + "/link-to-file").c_str()) != 0 ||
      symlink("../dir1", (dir + "/dir0/link-to-dir").c_str()) != 0 ||
      symlink("nowhere", (dir + "/dangling").c_str()) != 0 ||
      link((dir + "/dir2/file3.bin").c_str(), (dir + "/hardlink.bin").c_str()) != 0) {
    return ::testing::AssertionFailure() << "links: " << ErrnoText(errno);
  }
  return ::testing::AssertionSuccess();
}

TEST_F(WorkloadTest, TarExtractMatchesSource) {
  std::string src = scratch() + "/src";
  ASSERT_TRUE(MakeTree(src, 1));
  std::string tarball = scratch() + "/tree.tar";
  auto r = RunCommand({"tar", "-C", src, "-cf", tarball, "."});
  ASSERT_TRUE(r.ok()) << r.err;

  std::string dst = Path("extracted");
  ASSERT_SYS(mkdir(dst.c_str(), 0755));
  r = RunCommand({"tar", "-C", dst, "-xpf", tarball});
  ASSERT_TRUE(r.ok()) << "tar -x into the volume: " << r.err;
  r = RunCommand({"diff", "-r", "--no-dereference", src, dst});
  EXPECT_TRUE(r.ok()) << "diff -r found differences:\n" << r.out << r.err;

  std::string error_a, error_b;
  auto a = TreeDigest(src, true, &error_a);
  auto b = TreeDigest(dst, true, &error_b);
  ASSERT_EQ(error_a, "");
  ASSERT_EQ(error_b, "");
  EXPECT_EQ(DiffDigests(a, b), "");
  EXPECT_GT(a.size(), 250u);
  // tar recreated the hard link as a link.
  struct stat s1, s2;
  ASSERT_SYS(stat((dst + "/hardlink.bin").c_str(), &s1));
  ASSERT_SYS(stat((dst + "/dir2/file3.bin").c_str(), &s2));
  EXPECT_EQ(s1.st_ino, s2.st_ino);

  // And the volume's copy archives back to the same bytes.
  r = RunCommand({"tar", "-C", dst, "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "-cf",
                  scratch() + "/again.tar", "."});
  ASSERT_TRUE(r.ok()) << r.err;
  r = RunCommand({"tar", "-C", src, "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "-cf",
                  scratch() + "/orig.tar", "."});
  ASSERT_TRUE(r.ok()) << r.err;
  EXPECT_TRUE(ReadFile(scratch() + "/again.tar") == ReadFile(scratch() + "/orig.tar"))
      << "archives of the source and of the extracted copy differ";
}

TEST_F(WorkloadTest, CompileAndRunProgram) {
  std::string dir = Path("build");
  ASSERT_SYS(mkdir(dir.c_str(), 0755));
  ASSERT_TRUE(WriteFile(dir + "/util.h", "unsigned long long mix(unsigned long long x);\n"));
  ASSERT_TRUE(WriteFile(dir + "/util.c",
                        "#include \"util.h\"\n"
                        "unsigned long long mix(unsigned long long x) {\n"
                        "  x ^= x >> 31; x *= 0x7fb5d329728ea185ULL; x ^= x >> 27;\n"
                        "  return x;\n}\n"));
  ASSERT_TRUE(WriteFile(dir + "/main.c",
                        "#include <stdio.h>\n#include \"util.h\"\n"
                        "int main(int argc, char **argv) {\n"
                        "  unsigned long long h = 0;\n"
                        "  for (int i = 0; i < 1000; ++i) h = mix(h + i);\n"
                        "  FILE *f = fopen(argv[1], \"w\");\n"
                        "  if (!f) return 2;\n"
                        "  fprintf(f, \"%llu\\n\", h);\n"
                        "  printf(\"hash=%llu\\n\", h);\n"
                        "  return fclose(f) == 0 ? 0 : 3;\n}\n"));
  for (const char* unit : {"util", "main"}) {
    auto r =
        RunCommand({"cc", "-O2", "-c", "-o", dir + "/" + unit + ".o", dir + "/" + unit + ".c"});
    ASSERT_TRUE(r.ok()) << "cc " << unit << ".c: " << r.err;
  }
  auto r = RunCommand({"cc", "-o", dir + "/prog", dir + "/main.o", dir + "/util.o"});
  ASSERT_TRUE(r.ok()) << "link: " << r.err;
  struct stat st;
  ASSERT_SYS(stat((dir + "/prog").c_str(), &st));
  EXPECT_TRUE(st.st_mode & S_IXUSR);

  // The same program built on local disk is the reference.
  std::string ref = scratch() + "/ref";
  ASSERT_SYS(mkdir(ref.c_str(), 0755));
  for (const char* f : {"util.h", "util.c", "main.c"}) {
    ASSERT_TRUE(WriteFile(ref + "/" + f, ReadFile(dir + "/" + f)));
  }
  r = RunCommand({"cc", "-O2", "-o", ref + "/prog", ref + "/main.c", ref + "/util.c"});
  ASSERT_TRUE(r.ok()) << r.err;
  auto want = RunCommand({ref + "/prog", ref + "/out"});
  ASSERT_TRUE(want.ok());

  r = RunCommand({dir + "/prog", dir + "/out.txt"});
  ASSERT_TRUE(r.ok()) << "running the program from the volume: " << r.Describe({"prog"});
  EXPECT_EQ(r.out, want.out);
  EXPECT_EQ(ReadFile(dir + "/out.txt"), ReadFile(ref + "/out"));
  EXPECT_TRUE(want.out.starts_with("hash="));
}

// --- fsx: random operations against a local reference copy --------------------

struct FsxOptions {
  uint64_t seed = 0;
  int ops = 0;
  uint64_t base = 0;  // operations fall in [base, base + span)
  uint64_t span = 0;
  int compare_every = 100;
};

class Fsx {
 public:
  Fsx(std::string real, std::string ref, FsxOptions opt)
      : real_path_(std::move(real)), ref_path_(std::move(ref)), opt_(opt), rng_(opt.seed) {}

  // Runs the operations; the failure names the op and the recent history.
  ::testing::AssertionResult Run() {
    if (auto r = Open(); !r) return r;
    for (int i = 0; i < opt_.ops; ++i) {
      op_index_ = i;
      if (auto r = Step(); !r) return r;
      if ((i + 1) % opt_.compare_every == 0) {
        if (auto r = Compare(false); !r) return r;
      }
    }
    if (auto r = Compare(true); !r) return r;
    Close();
    if (auto r = Open(); !r) return r;  // and once more through a fresh open
    auto r = Compare(true);
    Close();
    return r;
  }

 private:
  ::testing::AssertionResult Fail(const std::string& what) {
    std::ostringstream s;
    s << "op " << op_index_ << " (seed " << opt_.seed << "): " << what << "\nrecent ops:";
    for (const auto& h : history_) s << "\n  " << h;
    return ::testing::AssertionFailure() << s.str();
  }
  void Log(const std::string& op) {
    history_.push_back(std::to_string(op_index_) + ": " + op);
    if (history_.size() > 25) history_.pop_front();
  }

  ::testing::AssertionResult Open() {
    real_.reset(open(real_path_.c_str(), O_RDWR | O_CREAT, 0644));
    ref_.reset(open(ref_path_.c_str(), O_RDWR | O_CREAT, 0644));
    if (!real_.ok() || !ref_.ok()) return Fail("open: " + ErrnoText(errno));
    return ::testing::AssertionSuccess();
  }
  void Close() {
    real_.reset();
    ref_.reset();
  }

  uint64_t Size(int fd) {
    struct stat st;
    return fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : UINT64_MAX;
  }
  uint64_t Pick(uint64_t lo, uint64_t hi) {  // [lo, hi]
    return lo + (hi > lo ? rng_() % (hi - lo + 1) : 0);
  }
  uint64_t Offset() { return opt_.base + Pick(0, opt_.span - 1); }
  size_t Length(uint64_t off, size_t max) {
    size_t len = static_cast<size_t>(Pick(1, max));
    return static_cast<size_t>(std::min<uint64_t>(len, opt_.base + opt_.span - off));
  }

  static std::string Pread(int fd, size_t len, uint64_t off) {
    std::string buf(len, '\0');
    size_t done = 0;
    while (done < len) {
      ssize_t n = pread(fd, buf.data() + done, len - done, static_cast<off_t>(off + done));
      if (n < 0) return "<error " + ErrnoText(errno) + ">";
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    buf.resize(done);
    return buf;
  }
  static bool Pwrite(int fd, std::string_view data, uint64_t off) {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n =
          pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(off + done));
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }
  static std::string FirstDifference(const std::string& got, const std::string& want,
                                     uint64_t base) {
    size_t n = std::min(got.size(), want.size());
    size_t i = 0;
    while (i < n && got[i] == want[i]) ++i;
    std::ostringstream s;
    s << "first difference at offset " << base + i << " (read " << got.size() << " bytes, want "
      << want.size() << ")";
    return s.str();
  }

  ::testing::AssertionResult Compare(bool whole) {
    uint64_t real_size = Size(real_.get());
    uint64_t ref_size = Size(ref_.get());
    if (real_size != ref_size) {
      return Fail("size " + std::to_string(real_size) + ", want " + std::to_string(ref_size));
    }
    uint64_t from = whole ? 0 : std::min(opt_.base, ref_size);
    for (uint64_t off = from; off < ref_size; off += 1 << 20) {
      size_t len = static_cast<size_t>(std::min<uint64_t>(1 << 20, ref_size - off));
      std::string got = Pread(real_.get(), len, off);
      std::string want = Pread(ref_.get(), len, off);
      if (got != want) return Fail("compare: " + FirstDifference(got, want, off));
    }
    return ::testing::AssertionSuccess();
  }

  ::testing::AssertionResult Step() {
    int kind = static_cast<int>(rng_() % 100);
    uint64_t size = Size(ref_.get());
    if (kind < 35) {  // write
      uint64_t off = Offset();
      size_t len = Length(off, 200000);
      std::string data = Pattern(len, rng_());
      Log("write " + std::to_string(off) + "+" + std::to_string(len));
      if (!Pwrite(real_.get(), data, off)) return Fail("write: " + ErrnoText(errno));
      if (!Pwrite(ref_.get(), data, off)) return Fail("reference write failed");
    } else if (kind < 55) {  // read
      uint64_t off = Offset();
      size_t len = Length(off, 300000);
      Log("read " + std::to_string(off) + "+" + std::to_string(len));
      std::string got = Pread(real_.get(), len, off);
      std::string want = Pread(ref_.get(), len, off);
      if (got != want) return Fail("read: " + FirstDifference(got, want, off));
    } else if (kind < 65) {  // mmap read
      if (size == 0) return ::testing::AssertionSuccess();
      uint64_t off = Pick(0, size - 1) & ~uint64_t{4095};
      size_t len = static_cast<size_t>(std::min<uint64_t>(Pick(1, 300000), size - off));
      Log("mmap-read " + std::to_string(off) + "+" + std::to_string(len));
      void* p = mmap(nullptr, len, PROT_READ, MAP_SHARED, real_.get(), static_cast<off_t>(off));
      if (p == MAP_FAILED) return Fail("mmap: " + ErrnoText(errno));
      std::string got(static_cast<const char*>(p), len);
      munmap(p, len);
      std::string want = Pread(ref_.get(), len, off);
      if (got != want) return Fail("mmap read: " + FirstDifference(got, want, off));
    } else if (kind < 73) {  // truncate
      uint64_t len =
          Pick(0, 3) == 0 ? Pick(0, opt_.base + opt_.span) : opt_.base + Pick(0, opt_.span);
      Log("truncate " + std::to_string(len));
      if (ftruncate(real_.get(), static_cast<off_t>(len)) != 0) {
        return Fail("ftruncate: " + ErrnoText(errno));
      }
      if (ftruncate(ref_.get(), static_cast<off_t>(len)) != 0) return Fail("reference truncate");
    } else if (kind < 81) {  // punch a hole
      if (size == 0) return ::testing::AssertionSuccess();
      uint64_t off = Pick(std::min(opt_.base, size - 1), size - 1);
      uint64_t len = Pick(1, 300000);
      Log("punch " + std::to_string(off) + "+" + std::to_string(len));
      int mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
      if (fallocate(real_.get(), mode, static_cast<off_t>(off), static_cast<off_t>(len)) != 0) {
        return Fail("punch: " + ErrnoText(errno));
      }
      if (fallocate(ref_.get(), mode, static_cast<off_t>(off), static_cast<off_t>(len)) != 0) {
        return Fail("reference punch");
      }
    } else if (kind < 85) {  // fallocate that may extend
      uint64_t off = Offset();
      uint64_t len = Length(off, 200000);
      Log("fallocate " + std::to_string(off) + "+" + std::to_string(len));
      if (fallocate(real_.get(), 0, static_cast<off_t>(off), static_cast<off_t>(len)) != 0) {
        return Fail("fallocate: " + ErrnoText(errno));
      }
      if (fallocate(ref_.get(), 0, static_cast<off_t>(off), static_cast<off_t>(len)) != 0) {
        return Fail("reference fallocate");
      }
    } else if (kind < 90) {  // mmap write inside the file
      if (size == 0) return ::testing::AssertionSuccess();
      uint64_t off = Pick(0, size - 1) & ~uint64_t{4095};
      size_t len = static_cast<size_t>(std::min<uint64_t>(Pick(1, 100000), size - off));
      std::string data = Pattern(len, rng_());
      Log("mmap-write " + std::to_string(off) + "+" + std::to_string(len));
      void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, real_.get(),
                     static_cast<off_t>(off));
      if (p == MAP_FAILED) return Fail("mmap: " + ErrnoText(errno));
      std::memcpy(p, data.data(), len);
      int rc = msync(p, len, MS_SYNC);
      munmap(p, len);
      if (rc != 0) return Fail("msync: " + ErrnoText(errno));
      if (!Pwrite(ref_.get(), data, off)) return Fail("reference write failed");
    } else if (kind < 95) {
      Log("fsync");
      if (fsync(real_.get()) != 0) return Fail("fsync: " + ErrnoText(errno));
    } else {
      Log("close+open");
      Close();
      return Open();
    }
    return ::testing::AssertionSuccess();
  }

  std::string real_path_, ref_path_;
  FsxOptions opt_;
  std::mt19937_64 rng_;
  ScopedFd real_, ref_;
  int op_index_ = 0;
  std::deque<std::string> history_;
};

TEST_F(WorkloadTest, FsxAcrossBlocks) {
  // Within 9 MiB: crosses the 4 MiB block boundaries often.
  Fsx fsx(Path("fsx.bin"), scratch() + "/fsx.ref",
          {.seed = 20240611, .ops = 3000, .base = 0, .span = 9 << 20, .compare_every = 100});
  EXPECT_TRUE(fsx.Run());
}

TEST_F(WorkloadTest, FsxAroundChunkBoundary) {
  // A sparse file whose data sits around the 64 MiB chunk boundary.
  Fsx fsx(Path("fsx-chunk.bin"), scratch() + "/fsx-chunk.ref",
          {.seed = 7,
           .ops = 1200,
           .base = (64ull << 20) - (2 << 20),
           .span = 4 << 20,
           .compare_every = 100});
  EXPECT_TRUE(fsx.Run());
}

TEST_F(WorkloadTest, TreeSurvivesRemount) {
  SHOAL_REQUIRE_MOUNT();
  ASSERT_TRUE(MakeTree(Path("tree"), 2));
  ASSERT_SYS(setxattr(Path("tree/big.bin").c_str(), "user.origin", "test", 4, 0));
  ASSERT_SYS(chown(Path("tree/dir1").c_str(), 65534, 65534));
  ASSERT_SYS(mkfifo(Path("tree/fifo").c_str(), 0640));
  // An overwritten and a truncated file: their final state must persist.
  ASSERT_TRUE(WriteFile(Path("tree/rewritten"), Pattern(3 << 20, 5)));
  {
    ScopedFd fd(open(Path("tree/rewritten").c_str(), O_RDWR));
    ASSERT_TRUE(fd.ok());
    std::string patch = Pattern(100000, 6);
    ASSERT_EQ(pwrite(fd.get(), patch.data(), patch.size(), 4000000), 100000);
    ASSERT_SYS(ftruncate(fd.get(), 2 << 20));
  }
  std::string error;
  auto before = TreeDigest(Path("tree"), true, &error);
  ASSERT_EQ(error, "");
  ASSERT_GT(before.size(), 250u);

  ASSERT_TRUE(volume().Remount());
  auto after = TreeDigest(Path("tree"), true, &error);
  ASSERT_EQ(error, "");
  EXPECT_EQ(DiffDigests(before, after), "");

  // Still writable after the remount, and removable as a whole.
  ASSERT_TRUE(WriteFile(Path("tree/after-remount"), "yes"));
  auto r = RunCommand({"rm", "-rf", Path("tree")});
  EXPECT_TRUE(r.ok()) << r.err;
  struct stat st;
  EXPECT_ERRNO(ENOENT, stat(Path("tree").c_str(), &st));
}

}  // namespace
}  // namespace shoal::testing
