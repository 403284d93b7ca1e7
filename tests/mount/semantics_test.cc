// Where shoal's POSIX behaviour differs from a local Linux file system (ext4),
// one test per difference, each asserting what shoal does today; and a few
// behaviours that docs/semantics.md promises. A test here that fails means
// the behaviour changed: update docs/semantics.md together with the test.
//
// These tests describe shoal itself, so they skip under SHOAL_TEST_TARGET_DIR
// (a local file system is expected to behave differently).
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "mount_fixture.h"
#include "nlohmann/json.hpp"

#ifndef FUSE_SUPER_MAGIC
#define FUSE_SUPER_MAGIC 0x65735546
#endif

namespace shoal::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;
constexpr uint64_t kMiB = 1ull << 20;
// The largest file: 2^32 chunks of 64 MiB.
constexpr off_t kMaxFileSize = off_t{1} << 58;
// What statfs reports as the capacity of a volume formatted without one.
constexpr uint64_t kUnlimitedBytes = 1ull << 50;
// statfs always reports this many free inodes.
constexpr uint64_t kInodeHeadroom = 10'000'000;

class SemanticsTest : public MountTest {
 protected:
  void SetUp() override {
    MountTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (!real_mount()) {
      GTEST_SKIP() << "describes shoal's own behaviour, which a local file system does not share";
    }
  }

  struct stat Stat(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(stat(path.c_str(), &st), 0) << path << ": " << ErrnoText(errno);
    return st;
  }

  // The reserved user.shoal.info answer for `path`: its stored layout.
  nlohmann::json Info(const std::string& path) {
    std::string value(64 << 10, '\0');
    ssize_t n = getxattr(path.c_str(), "user.shoal.info", value.data(), value.size());
    if (n < 0) {
      ADD_FAILURE() << "getxattr user.shoal.info " << path << ": " << ErrnoText(errno);
      return nlohmann::json();
    }
    value.resize(static_cast<size_t>(n));
    nlohmann::json j = nlohmann::json::parse(value, nullptr, false);
    if (j.is_discarded()) ADD_FAILURE() << "user.shoal.info is not JSON: " << value;
    return j;
  }

  // How many slices the volume's metadata holds for `path` (written data
  // that has left the mount's write buffer).
  size_t StoredSlices(const std::string& path) {
    nlohmann::json j = Info(path);
    size_t n = 0;
    if (!j.is_object() || !j.contains("chunks")) return n;
    for (const auto& chunk : j["chunks"]) n += chunk["slices"].size();
    return n;
  }

  // Slice ids the metadata holds for `path`.
  std::set<uint64_t> SliceIds(const std::string& path) {
    nlohmann::json j = Info(path);
    std::set<uint64_t> ids;
    if (!j.is_object() || !j.contains("chunks")) return ids;
    for (const auto& chunk : j["chunks"]) {
      for (const auto& slice : chunk["slices"]) ids.insert(slice["id"].get<uint64_t>());
    }
    return ids;
  }

  // Data objects in the volume's bucket (the file store's temp dir aside).
  size_t ObjectCount() {
    size_t n = 0;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(volume().bucket(), ec), end; !ec && it != end;
         it.increment(ec)) {
      if (it->path().filename() == ".tmp") {
        it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file(ec)) ++n;
    }
    return n;
  }
};

// Mounted with long kernel cache timeouts, to show they do not matter to a
// single mount.
class SemanticsLongCacheTest : public SemanticsTest {
 protected:
  std::vector<std::string> MountArgs() const override {
    return {"--attr-timeout", "60", "--entry-timeout", "60"};
  }
};

bool PwriteAll(int fd, std::string_view data, off_t off) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = pwrite(fd, data.data() + done, data.size() - done, off + static_cast<off_t>(done));
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

void SetTimes(const std::string& path, struct timespec atime, struct timespec mtime) {
  struct timespec times[2] = {atime, mtime};
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, 0), 0) << path << ": " << ErrnoText(errno);
}

std::vector<std::string> ListXattrNames(const std::string& path) {
  std::vector<std::string> names;
  ssize_t len = listxattr(path.c_str(), nullptr, 0);
  if (len <= 0) return names;
  std::string list(static_cast<size_t>(len), '\0');
  len = listxattr(path.c_str(), list.data(), list.size());
  if (len <= 0) return names;
  for (size_t i = 0; i < static_cast<size_t>(len); i += strlen(list.c_str() + i) + 1) {
    names.emplace_back(list.c_str() + i);
  }
  return names;
}

// A POSIX access ACL in the kernel's xattr encoding (version 2, then
// tag/perm/id entries, little-endian: written in host order, which the
// machines that run these tests share), ordered as the kernel requires.
std::string AccessAcl(uint16_t owner_perm, uint32_t user, uint16_t user_perm, uint16_t group_perm,
                      uint16_t mask_perm, uint16_t other_perm) {
  constexpr uint32_t kVersion = 2;  // POSIX_ACL_XATTR_VERSION
  constexpr uint32_t kNoId = 0xffffffff;
  constexpr uint16_t kUserObj = 0x01, kUser = 0x02, kGroupObj = 0x04, kMask = 0x10, kOther = 0x20;
  std::string out(reinterpret_cast<const char*>(&kVersion), sizeof(kVersion));
  auto entry = [&](uint16_t tag, uint16_t perm, uint32_t id) {
    out.append(reinterpret_cast<const char*>(&tag), sizeof(tag));
    out.append(reinterpret_cast<const char*>(&perm), sizeof(perm));
    out.append(reinterpret_cast<const char*>(&id), sizeof(id));
  };
  entry(kUserObj, owner_perm, kNoId);
  entry(kUser, user_perm, user);
  entry(kGroupObj, group_perm, kNoId);
  entry(kMask, mask_perm, kNoId);
  entry(kOther, other_perm, kNoId);
  return out;
}

// --- time stamps and sizes --------------------------------------------------

TEST_F(SemanticsTest, ReadsDoNotUpdateAtime) {
  // ext4 (relatime) would move an atime that is older than the mtime on the
  // next read; shoal never changes atime except through utimensat(2).
  std::string f = Path("f");
  ASSERT_TRUE(WriteFile(f, "hello"));
  SetTimes(f, {1000, 0}, {UTIME_OMIT, 0});
  EXPECT_EQ(ReadFile(f), "hello");
  {
    ScopedFd fd(open(f.c_str(), O_RDONLY));
    ASSERT_TRUE(fd.ok());
    void* p = mmap(nullptr, 5, PROT_READ, MAP_SHARED, fd.get(), 0);
    ASSERT_NE(p, MAP_FAILED) << ErrnoText(errno);
    EXPECT_EQ(std::string(static_cast<const char*>(p), 5), "hello");
    munmap(p, 5);
  }
  EXPECT_EQ(Stat(f).st_atim.tv_sec, 1000);

  std::string d = Path("d");
  ASSERT_SYS(mkdir(d.c_str(), 0755));
  ASSERT_TRUE(WriteFile(d + "/inside", "x"));
  SetTimes(d, {1000, 0}, {UTIME_OMIT, 0});
  DIR* dir = opendir(d.c_str());
  ASSERT_NE(dir, nullptr);
  int entries = 0;
  while (readdir(dir) != nullptr) ++entries;
  closedir(dir);
  EXPECT_EQ(entries, 3);
  EXPECT_EQ(Stat(d).st_atim.tv_sec, 1000);

  // Setting it explicitly works.
  SetTimes(f, {2000, 5}, {UTIME_OMIT, 0});
  EXPECT_EQ(Stat(f).st_atim.tv_sec, 2000);
  EXPECT_EQ(Stat(f).st_atim.tv_nsec, 5);
}

TEST_F(SemanticsTest, BlocksFollowLengthNotAllocation) {
  // st_blocks is the length rounded up to 512-byte units, whatever is
  // stored: holes count, and fallocate(KEEP_SIZE) past the end adds nothing.
  std::string f = Path("sparse");
  ScopedFd fd(open(f.c_str(), O_RDWR | O_CREAT, 0644));
  ASSERT_TRUE(fd.ok());
  struct stat st;
  ASSERT_SYS(fstat(fd.get(), &st));
  EXPECT_EQ(st.st_blocks, 0);
  ASSERT_TRUE(PwriteAll(fd.get(), "x", static_cast<off_t>(10 * kMiB) - 1));
  ASSERT_SYS(fstat(fd.get(), &st));
  EXPECT_EQ(st.st_size, static_cast<off_t>(10 * kMiB));
  EXPECT_EQ(st.st_blocks, static_cast<blkcnt_t>(10 * kMiB / 512));  // ext4: 8
  EXPECT_EQ(st.st_blksize, 4096);

  ASSERT_SYS(fallocate(fd.get(), FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(20 * kMiB)));
  ASSERT_SYS(fstat(fd.get(), &st));
  EXPECT_EQ(st.st_blocks, static_cast<blkcnt_t>(10 * kMiB / 512));  // ext4: 40960
  ASSERT_SYS(fallocate(fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
                       static_cast<off_t>(8 * kMiB)));
  ASSERT_SYS(fstat(fd.get(), &st));
  EXPECT_EQ(st.st_blocks, static_cast<blkcnt_t>(10 * kMiB / 512));

  ASSERT_TRUE(WriteFile(Path("odd"), std::string(513, 'o')));
  EXPECT_EQ(Stat(Path("odd")).st_blocks, 2);
  // A symlink's length is its target's: one block here (ext4: 0).
  ASSERT_SYS(symlink("target", Path("link").c_str()));
  ASSERT_SYS(lstat(Path("link").c_str(), &st));
  EXPECT_EQ(st.st_size, 6);
  EXPECT_EQ(st.st_blocks, 1);
}

TEST_F(SemanticsTest, DirectorySizeIsAlways4096) {
  std::string d = Path("d");
  ASSERT_SYS(mkdir(d.c_str(), 0755));
  EXPECT_EQ(Stat(d).st_size, 4096);
  for (int i = 0; i < 300; ++i) {
    std::string name = d + "/" + std::string(100, 'n') + std::to_string(i);
    ScopedFd fd(open(name.c_str(), O_WRONLY | O_CREAT, 0644));
    ASSERT_TRUE(fd.ok()) << name << ": " << ErrnoText(errno);
  }
  struct stat st = Stat(d);
  EXPECT_EQ(st.st_size, 4096);  // ext4 grows to ~40 KiB here
  EXPECT_EQ(st.st_blocks, 8);
  EXPECT_EQ(st.st_nlink, 2u);
}

TEST_F(SemanticsTest, NoBirthTime) {
  ASSERT_TRUE(WriteFile(Path("f"), "x"));
  struct statx sx {};
  ASSERT_SYS(statx(AT_FDCWD, Path("f").c_str(), 0, STATX_BASIC_STATS | STATX_BTIME, &sx));
  EXPECT_EQ(sx.stx_mask & STATX_BTIME, 0u) << "statx now reports a birth time";
  EXPECT_EQ(sx.stx_mask & STATX_BASIC_STATS, static_cast<unsigned>(STATX_BASIC_STATS));
}

TEST_F(SemanticsTest, TruncateUpdatesTimesEvenAtTheSameSize) {
  // As ext4: truncate and O_TRUNC set mtime and ctime even when the size does
  // not change. fallocate(KEEP_SIZE), unlike ext4, changes no time stamp.
  std::string f = Path("f");
  ASSERT_TRUE(WriteFile(f, "abc"));
  ScopedFd fd(open(f.c_str(), O_RDWR));
  ASSERT_TRUE(fd.ok());
  struct timespec old[2] = {{1000, 0}, {1000, 0}};
  ASSERT_SYS(futimens(fd.get(), old));
  ASSERT_SYS(ftruncate(fd.get(), 3));
  struct stat st;
  ASSERT_SYS(fstat(fd.get(), &st));
  EXPECT_EQ(st.st_size, 3);
  EXPECT_GT(st.st_mtim.tv_sec, 1000);
  EXPECT_GT(st.st_ctim.tv_sec, 1000);

  ASSERT_SYS(futimens(fd.get(), old));
  ASSERT_SYS(fallocate(fd.get(), FALLOC_FL_KEEP_SIZE, 0, 1 << 20));
  ASSERT_SYS(fstat(fd.get(), &st));
  EXPECT_EQ(st.st_mtim.tv_sec, 1000);  // ext4: now
  ASSERT_SYS(fallocate(fd.get(), 0, 0, 8192));
  ASSERT_SYS(fstat(fd.get(), &st));
  EXPECT_EQ(st.st_size, 8192);
  EXPECT_GT(st.st_mtim.tv_sec, 1000);
  fd.reset();

  ASSERT_SYS(truncate(f.c_str(), 0));
  SetTimes(f, {1000, 0}, {1000, 0});
  fd.reset(open(f.c_str(), O_WRONLY | O_TRUNC));
  ASSERT_TRUE(fd.ok());
  ASSERT_SYS(fstat(fd.get(), &st));
  EXPECT_GT(st.st_mtim.tv_sec, 1000) << "O_TRUNC of an empty file";
}

// --- unsupported operations -------------------------------------------------

TEST_F(SemanticsTest, SeekDataAndHoleSeeOneDataExtent) {
  // The daemon does not answer lseek; the kernel then treats the whole file
  // as data, holes included.
  std::string f = Path("sparse");
  ScopedFd fd(open(f.c_str(), O_RDWR | O_CREAT, 0644));
  ASSERT_TRUE(fd.ok());
  const off_t size = static_cast<off_t>(10 * kMiB);
  ASSERT_TRUE(PwriteAll(fd.get(), "x", size - 1));
  EXPECT_EQ(lseek(fd.get(), 0, SEEK_DATA), 0);     // ext4: 10 MiB - 4 KiB
  EXPECT_EQ(lseek(fd.get(), 0, SEEK_HOLE), size);  // ext4: 0
  EXPECT_EQ(lseek(fd.get(), 4096, SEEK_HOLE), size);
  EXPECT_ERRNO(ENXIO, lseek(fd.get(), size, SEEK_DATA));
}

TEST_F(SemanticsTest, CopyFileRangeCopiesThroughTheKernel) {
  // No server-side copy: copy_file_range succeeds because the kernel falls
  // back to reading and writing, and the copy gets slices of its own.
  std::string data = Pattern(3 * kMiB + 5, 11);
  ASSERT_TRUE(WriteFile(Path("src"), data));
  {
    ScopedFd in(open(Path("src").c_str(), O_RDONLY));
    ScopedFd out(open(Path("dst").c_str(), O_WRONLY | O_CREAT, 0644));
    ASSERT_TRUE(in.ok() && out.ok());
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = copy_file_range(in.get(), nullptr, out.get(), nullptr, data.size() - done, 0);
      ASSERT_GT(n, 0) << "copy_file_range after " << done << " bytes: " << ErrnoText(errno);
      done += static_cast<size_t>(n);
    }
  }
  EXPECT_TRUE(ReadFile(Path("dst")) == data) << "the copy differs";
  std::set<uint64_t> src = SliceIds(Path("src"));
  std::set<uint64_t> dst = SliceIds(Path("dst"));
  EXPECT_FALSE(src.empty());
  EXPECT_FALSE(dst.empty());
  for (uint64_t id : dst) EXPECT_FALSE(src.contains(id)) << "slice " << id << " is shared";
}

TEST_F(SemanticsTest, FallocateRefusesCollapseInsertUnshare) {
  std::string f = Path("f");
  ASSERT_TRUE(WriteFile(f, std::string(64 << 10, 'a')));
  ScopedFd fd(open(f.c_str(), O_RDWR));
  ASSERT_TRUE(fd.ok());
  EXPECT_ERRNO(EOPNOTSUPP, fallocate(fd.get(), FALLOC_FL_COLLAPSE_RANGE, 0, 4096));  // ext4: ok
  EXPECT_ERRNO(EOPNOTSUPP, fallocate(fd.get(), FALLOC_FL_INSERT_RANGE, 0, 4096));    // ext4: ok
  EXPECT_ERRNO(EOPNOTSUPP, fallocate(fd.get(), FALLOC_FL_UNSHARE_RANGE, 0, 4096));
  // What is supported: ZERO_RANGE, with and without KEEP_SIZE.
  ASSERT_SYS(fallocate(fd.get(), FALLOC_FL_ZERO_RANGE, 100, 50));
  ASSERT_SYS(fallocate(fd.get(), FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 60000, 10000));
  fd.reset();
  std::string want(64 << 10, 'a');
  want.replace(100, 50, std::string(50, '\0'));
  want.replace(60000, want.size() - 60000, std::string(want.size() - 60000, '\0'));
  EXPECT_TRUE(ReadFile(f) == want);
}

TEST_F(SemanticsTest, FallocateReservesNoSpace) {
  // fallocate(mode 0) only sets the length: nothing is written or reserved,
  // so it succeeds for sizes no disk holds, and later writes can still fail.
  std::string f = Path("huge");
  ScopedFd fd(open(f.c_str(), O_RDWR | O_CREAT, 0644));
  ASSERT_TRUE(fd.ok());
  struct statvfs before;
  ASSERT_SYS(statvfs(root().c_str(), &before));
  constexpr off_t kTiB = off_t{1} << 40;
  ASSERT_SYS(fallocate(fd.get(), 0, 0, kTiB));
  struct stat st;
  ASSERT_SYS(fstat(fd.get(), &st));
  EXPECT_EQ(st.st_size, kTiB);
  EXPECT_EQ(StoredSlices(f), 0u);
  EXPECT_EQ(ObjectCount(), 0u);
  // statfs counts the length as used.
  struct statvfs after;
  ASSERT_SYS(statvfs(root().c_str(), &after));
  EXPECT_EQ(before.f_bfree - after.f_bfree, static_cast<fsblkcnt_t>(kTiB / 4096));
  EXPECT_EQ(PwriteAll(fd.get(), "end", kTiB - 3), true);
  char buf[3];
  EXPECT_EQ(pread(fd.get(), buf, 3, kTiB / 2), 3);
  EXPECT_EQ(std::string(buf, 3), std::string(3, '\0'));
}

TEST_F(SemanticsTest, OTmpfileIsNotSupported) {
  EXPECT_ERRNO(EOPNOTSUPP, open(root().c_str(), O_TMPFILE | O_RDWR, 0600));  // ext4: ok
}

TEST_F(SemanticsTest, RenameWhiteoutIsNotSupported) {
  ASSERT_TRUE(WriteFile(Path("a"), "a"));
  EXPECT_ERRNO(EINVAL, syscall(SYS_renameat2, AT_FDCWD, Path("a").c_str(), AT_FDCWD,
                               Path("b").c_str(), RENAME_WHITEOUT));  // ext4: ok
  EXPECT_EQ(ReadFile(Path("a")), "a");
}

TEST_F(SemanticsTest, InodeFlagsIoctlIsNotSupported) {
  // lsattr and chattr fail: the daemon answers no ioctl.
  ASSERT_TRUE(WriteFile(Path("f"), "x"));
  ScopedFd fd(open(Path("f").c_str(), O_RDONLY));
  ASSERT_TRUE(fd.ok());
  int flags = 0;
  EXPECT_ERRNO(ENOTTY, ioctl(fd.get(), FS_IOC_GETFLAGS, &flags));  // ext4: ok
}

TEST_F(SemanticsTest, ODirectIsAcceptedUnalignedAndStillBuffered) {
  // O_DIRECT bypasses the kernel's page cache, but not the mount's write
  // buffer: the bytes are stored at fsync or close like any others. There are
  // no alignment rules (ext4 refuses this write with EINVAL).
  std::string f = Path("direct");
  ScopedFd fd(open(f.c_str(), O_RDWR | O_CREAT | O_DIRECT, 0644));
  ASSERT_TRUE(fd.ok()) << ErrnoText(errno);
  char buf[8] = "xabc";
  EXPECT_EQ(pwrite(fd.get(), buf + 1, 3, 1), 3) << ErrnoText(errno);
  EXPECT_EQ(StoredSlices(f), 0u);
  char back[8] = {};
  EXPECT_EQ(pread(fd.get(), back + 1, 3, 1), 3);
  EXPECT_EQ(std::string(back + 1, 3), "abc");
  fd.reset();
  EXPECT_EQ(StoredSlices(f), 1u);
  EXPECT_EQ(ReadFile(f), std::string("\0abc", 4));
}

// --- limits -----------------------------------------------------------------

TEST_F(SemanticsTest, LargestFileIs2To58Bytes) {
  // ext4's limit is 16 TiB; shoal's is 2^58 bytes (2^32 chunks of 64 MiB).
  ScopedFd fd(open(Path("big").c_str(), O_RDWR | O_CREAT, 0644));
  ASSERT_TRUE(fd.ok());
  ASSERT_SYS(ftruncate(fd.get(), off_t{1} << 44));  // ext4: EFBIG
  EXPECT_EQ(pwrite(fd.get(), "x", 1, kMaxFileSize - 1), 1) << ErrnoText(errno);
  struct stat st;
  ASSERT_SYS(fstat(fd.get(), &st));
  EXPECT_EQ(st.st_size, kMaxFileSize);
  // A write that crosses the limit is cut short at it, as on ext4.
  EXPECT_EQ(pwrite(fd.get(), "xy", 2, kMaxFileSize - 1), 1);
  EXPECT_ERRNO(EFBIG, pwrite(fd.get(), "x", 1, kMaxFileSize));
  EXPECT_ERRNO(EFBIG, ftruncate(fd.get(), kMaxFileSize + 1));
  ASSERT_SYS(fstat(fd.get(), &st));
  EXPECT_EQ(st.st_size, kMaxFileSize);
}

TEST_F(SemanticsTest, XattrValuesUpTo64KiB) {
  // ext4 without ea_inode refuses values that do not fit one block (ENOSPC);
  // shoal stores any value the kernel passes (up to XATTR_SIZE_MAX).
  std::string f = Path("f");
  ASSERT_TRUE(WriteFile(f, ""));
  std::string value = Pattern(64 << 10, 5);
  ASSERT_SYS(setxattr(f.c_str(), "user.big", value.data(), value.size(), 0));
  std::string back(value.size(), '\0');
  EXPECT_EQ(getxattr(f.c_str(), "user.big", back.data(), back.size()),
            static_cast<ssize_t>(value.size()));
  EXPECT_TRUE(back == value);
  std::string too_big(value.size() + 1, 'x');
  EXPECT_ERRNO(E2BIG, setxattr(f.c_str(), "user.too_big", too_big.data(), too_big.size(), 0));
}

TEST_F(SemanticsTest, ListxattrFailsPast64KiBOfNames) {
  // No limit on how many attributes a file holds (ext4: ENOSPC after about
  // one block), so the list of names can outgrow what listxattr(2) returns.
  std::string f = Path("f");
  ASSERT_TRUE(WriteFile(f, ""));
  constexpr int kNames = 330;  // 330 names of ~210 bytes: ~70 KB
  for (int i = 0; i < kNames; ++i) {
    std::string name = "user." + std::string(200, 'n') + std::to_string(i);
    ASSERT_SYS(setxattr(f.c_str(), name.c_str(), "", 0, 0)) << "name " << i;
  }
  std::string list(1 << 20, '\0');
  EXPECT_ERRNO(E2BIG, listxattr(f.c_str(), list.data(), list.size()));
  std::string last = "user." + std::string(200, 'n') + std::to_string(kNames - 1);
  EXPECT_EQ(getxattr(f.c_str(), last.c_str(), nullptr, 0), 0);
}

TEST_F(SemanticsTest, UnknownXattrNamespacesAreStored) {
  std::string f = Path("f");
  ASSERT_TRUE(WriteFile(f, ""));
  ASSERT_SYS(setxattr(f.c_str(), "bogus.name", "v", 1, 0));  // ext4: EOPNOTSUPP
  char buf[4];
  EXPECT_EQ(getxattr(f.c_str(), "bogus.name", buf, sizeof(buf)), 1);
}

TEST_F(SemanticsTest, ReservedXattrNames) {
  std::string f = Path("f");
  ASSERT_TRUE(WriteFile(f, "data"));
  ASSERT_SYS(setxattr(f.c_str(), "user.mine", "1", 1, 0));
  for (const char* name : {"user.shoal.info", "user.shoal.info@0", "user.shoal.status"}) {
    EXPECT_ERRNO(EPERM, setxattr(f.c_str(), name, "x", 1, 0)) << name;
    EXPECT_ERRNO(EPERM, removexattr(f.c_str(), name)) << name;
  }
  EXPECT_EQ(ListXattrNames(f), std::vector<std::string>{"user.mine"});
  nlohmann::json info = Info(f);
  EXPECT_EQ(info.value("ino", uint64_t{0}), Stat(f).st_ino);
  EXPECT_EQ(info.value("size", uint64_t{0}), 4u);
  std::string status(64 << 10, '\0');
  ssize_t n = getxattr(root().c_str(), "user.shoal.status", status.data(), status.size());
  ASSERT_GT(n, 0) << ErrnoText(errno);
  status.resize(static_cast<size_t>(n));
  nlohmann::json j = nlohmann::json::parse(status, nullptr, false);
  ASSERT_TRUE(j.is_object()) << status;
  EXPECT_TRUE(j.contains("volume") && j.contains("usage") && j.contains("sessions")) << status;
}

TEST_F(SemanticsTest, PosixAclsAreRefused) {
  // shoal does not implement POSIX ACLs, so it refuses them as a file system
  // mounted without ACL support does, rather than storing an ACL it would not
  // enforce (ext4 stores and enforces them). Default ACLs exist on
  // directories only (the kernel refuses them elsewhere by itself).
  std::string f = Path("f");
  std::string d = Path("d");
  ASSERT_TRUE(WriteFile(f, "x"));
  ASSERT_SYS(mkdir(d.c_str(), 0755));
  std::string acl = AccessAcl(6, kNobody, 4, 0, 4, 0);
  std::string back(256, '\0');
  for (const auto& [path, name] :
       {std::pair{f, "system.posix_acl_access"}, std::pair{d, "system.posix_acl_access"},
        std::pair{d, "system.posix_acl_default"}}) {
    EXPECT_ERRNO(EOPNOTSUPP, setxattr(path.c_str(), name, acl.data(), acl.size(), 0)) << name;
    EXPECT_ERRNO(EOPNOTSUPP, getxattr(path.c_str(), name, back.data(), back.size())) << name;
  }
  EXPECT_EQ(Stat(f).st_mode & 07777, 0644u);
}

// --- locks ------------------------------------------------------------------

// What one side of the deadlock reported.
struct LockOutcome {
  int ret = 0;
  int err = 0;
  int64_t waited_ms = 0;
};

void IgnoreAlarm(int) {}

// In a forked child: takes byte `mine` with F_SETLK, tells `ready_out`,
// waits for `ready_in`, sleeps `delay`, then asks for byte `theirs` with
// F_SETLKW under an alarm of `alarm_sec`; writes the outcome to `report`.
[[noreturn]] void DeadlockSide(const std::string& path, off_t mine, off_t theirs, int ready_out,
                               int ready_in, milliseconds delay, unsigned alarm_sec, int report) {
  struct sigaction sa {};
  sa.sa_handler = IgnoreAlarm;  // no SA_RESTART: the wait returns EINTR
  sigaction(SIGALRM, &sa, nullptr);
  LockOutcome out{-2, 0, 0};
  int fd = open(path.c_str(), O_RDWR);
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = mine;
  fl.l_len = 1;
  if (fd >= 0 && fcntl(fd, F_SETLK, &fl) == 0) {
    char c = 'x';
    (void)!write(ready_out, &c, 1);
    if (read(ready_in, &c, 1) == 1) {
      std::this_thread::sleep_for(delay);
      fl.l_start = theirs;
      alarm(alarm_sec);
      auto start = Clock::now();
      errno = 0;
      out.ret = fcntl(fd, F_SETLKW, &fl);
      out.err = errno;
      out.waited_ms = std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
      alarm(0);
    }
  }
  (void)!write(report, &out, sizeof(out));
  _exit(0);  // closing the descriptor drops this side's lock
}

TEST_F(SemanticsTest, LockDeadlockIsNotDetected) {
  // A and B each hold one byte and ask for the other's. ext4 answers the
  // second request with EDEADLK at once; shoal lets both wait. A gives up
  // when its alarm fires (EINTR), which lets B's wait succeed.
  std::string f = Path("locked");
  ASSERT_TRUE(WriteFile(f, "01"));
  int a_ready[2], b_ready[2], a_report[2], b_report[2];
  ASSERT_SYS(pipe(a_ready));
  ASSERT_SYS(pipe(b_ready));
  ASSERT_SYS(pipe(a_report));
  ASSERT_SYS(pipe(b_report));
  fflush(nullptr);
  pid_t a = fork();
  ASSERT_GE(a, 0);
  if (a == 0) {
    DeadlockSide(f, 0, 1, a_ready[1], b_ready[0], milliseconds(0), 2, a_report[1]);
  }
  pid_t b = fork();
  if (b == 0) {
    // B asks second, once A is surely waiting.
    DeadlockSide(f, 1, 0, b_ready[1], a_ready[0], milliseconds(300), 6, b_report[1]);
  }
  for (int fd : {a_ready[0], a_ready[1], b_ready[0], b_ready[1], a_report[1], b_report[1]}) {
    close(fd);
  }
  // Both children end within their alarms; the deadline is a last resort.
  auto reap = [](pid_t pid) {
    auto deadline = Clock::now() + seconds(20);
    while (Clock::now() < deadline) {
      if (waitpid(pid, nullptr, WNOHANG) == pid) return true;
      std::this_thread::sleep_for(milliseconds(20));
    }
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return false;
  };
  bool a_done = reap(a);
  bool b_done = b > 0 && reap(b);
  LockOutcome ra, rb;
  ssize_t na = read(a_report[0], &ra, sizeof(ra));
  ssize_t nb = read(b_report[0], &rb, sizeof(rb));
  close(a_report[0]);
  close(b_report[0]);
  ASSERT_TRUE(a_done && b_done) << "a lock wait outlived its alarm";
  ASSERT_EQ(na, static_cast<ssize_t>(sizeof(ra)));
  ASSERT_EQ(nb, static_cast<ssize_t>(sizeof(rb)));
  ASSERT_NE(ra.ret, -2) << "A could not take its first lock";
  ASSERT_NE(rb.ret, -2) << "B could not take its first lock";
  EXPECT_NE(ra.err, EDEADLK);
  EXPECT_NE(rb.err, EDEADLK);
  EXPECT_EQ(ra.ret, -1);
  EXPECT_EQ(ra.err, EINTR) << ErrnoText(ra.err);
  EXPECT_GE(ra.waited_ms, 1500) << "A stopped waiting before its alarm";
  EXPECT_EQ(rb.ret, 0) << "B: " << ErrnoText(rb.err);
  EXPECT_GE(rb.waited_ms, 1000) << "B was granted the lock while A still held it";
}

// The kernel sends no lock owner with the release of a descriptor that held
// only open-file-description locks: shoal remembers which owners locked
// through each handle and drops their locks when the handle is released.
TEST_F(SemanticsTest, OfdLockIsReleasedWhenItsDescriptorCloses) {
  std::string f = Path("f");
  ASSERT_TRUE(WriteFile(f, "x"));
  ScopedFd a(open(f.c_str(), O_RDWR));
  ScopedFd b(open(f.c_str(), O_RDWR));
  ASSERT_TRUE(a.ok() && b.ok());
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_len = 1;
  ASSERT_SYS(fcntl(a.get(), F_OFD_SETLK, &fl));
  EXPECT_ERRNO(EAGAIN, fcntl(b.get(), F_OFD_SETLK, &fl));
  a.reset();
  // The kernel sends the release without waiting for it (see the flock row
  // in docs/semantics.md): allow it up to a second to arrive.
  int rc = -1;
  for (int i = 0; i < 100 && rc != 0; ++i) {
    rc = fcntl(b.get(), F_OFD_SETLK, &fl);
    if (rc != 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(rc, 0) << "the closed descriptor's lock is still held after 1 s";
}

// --- consistency and durability ---------------------------------------------

TEST_F(SemanticsTest, WritesAreStoredAtFsyncOrClose) {
  // Written bytes wait in the mount's write buffer (readable through the
  // mount at once) and reach the volume's metadata and objects at fsync, at
  // the close of any descriptor of the file, with O_SYNC, or when 64 MiB are
  // pending for the file.
  std::string f = Path("f");
  ScopedFd fd(open(f.c_str(), O_WRONLY | O_CREAT, 0644));
  ASSERT_TRUE(fd.ok());
  std::string data = Pattern(1000, 1);
  ASSERT_TRUE(PwriteAll(fd.get(), data, 0));
  EXPECT_EQ(Stat(f).st_size, 1000);
  EXPECT_EQ(StoredSlices(f), 0u) << "stored before fsync or close";
  EXPECT_EQ(ObjectCount(), 0u);
  {
    ScopedFd reader(open(f.c_str(), O_RDONLY));
    ASSERT_TRUE(reader.ok());
    char buf[1000];
    EXPECT_EQ(pread(reader.get(), buf, sizeof(buf), 0), 1000);
    EXPECT_EQ(std::string(buf, sizeof(buf)), data) << "another descriptor sees the bytes at once";
    EXPECT_EQ(StoredSlices(f), 0u);
  }
  EXPECT_EQ(StoredSlices(f), 1u) << "closing a reader's descriptor stores the writer's bytes";
  EXPECT_EQ(ObjectCount(), 1u);

  ASSERT_TRUE(PwriteAll(fd.get(), data, 1000));
  EXPECT_EQ(StoredSlices(f), 1u);
  ASSERT_SYS(fsync(fd.get()));
  EXPECT_EQ(StoredSlices(f), 2u);
  ASSERT_TRUE(PwriteAll(fd.get(), data, 2000));
  fd.reset();
  EXPECT_EQ(StoredSlices(f), 3u) << "close stores what is buffered";

  std::string g = Path("g");
  fd.reset(open(g.c_str(), O_WRONLY | O_CREAT | O_SYNC, 0644));
  ASSERT_TRUE(fd.ok());
  ASSERT_TRUE(PwriteAll(fd.get(), data, 0));
  EXPECT_EQ(StoredSlices(g), 1u) << "an O_SYNC write is stored before it returns";
}

// Makes every object upload of the volume's file store fail (its temp dir
// becomes a file), and returns the path to remove to mend it.
std::string BreakFileStore(Volume& volume) {
  std::string tmp_dir = volume.bucket() + "/.tmp";
  EXPECT_TRUE(WriteFile(volume.mountpoint() + "/warmup", "w"));  // the store made its temp dir
  std::error_code ec;
  fs::remove_all(tmp_dir, ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(WriteFile(tmp_dir, "not a directory"));
  return tmp_dir;
}

TEST_F(SemanticsTest, WriteErrorsAreReportedAtFsyncAndClose) {
  // The bytes go to storage only at fsync or close, so that is where a
  // storage failure shows; write(2) itself succeeded. Without a disk cache
  // the bytes stay buffered and are stored once storage works again.
  ASSERT_TRUE(volume().Unmount());
  ASSERT_TRUE(volume().Mount({"--cache-size", "0"}));
  std::string tmp_dir = BreakFileStore(volume());

  std::string f = Path("f");
  std::string data = Pattern(5000, 2);
  ScopedFd fd(open(f.c_str(), O_WRONLY | O_CREAT, 0644));
  ASSERT_TRUE(fd.ok());
  EXPECT_TRUE(PwriteAll(fd.get(), data, 0)) << ErrnoText(errno);
  EXPECT_ERRNO(EIO, fsync(fd.get()));
  EXPECT_ERRNO(EIO, close(fd.release()));
  EXPECT_EQ(ReadFile(f), data) << "the mount still serves the buffered bytes";
  EXPECT_EQ(StoredSlices(f), 0u);

  ASSERT_SYS(unlink(tmp_dir.c_str()));  // the store recreates its temp dir
  auto deadline = Clock::now() + seconds(15);
  while (StoredSlices(f) == 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_EQ(StoredSlices(f), 1u) << "the background retry did not store the bytes";
  ASSERT_TRUE(volume().Remount());
  EXPECT_EQ(ReadFile(f), data);
}

TEST_F(SemanticsTest, WriteErrorsWithADiskCacheAreReportedOnceAndKeepTheData) {
  // With a disk cache (the default) a block the store refuses is kept there:
  // the write is recorded, fsync reports the failure once, and the block is
  // uploaded when the store works again.
  std::string tmp_dir = BreakFileStore(volume());
  std::string f = Path("f");
  std::string data = Pattern(5000, 5);
  ScopedFd fd(open(f.c_str(), O_WRONLY | O_CREAT, 0644));
  ASSERT_TRUE(fd.ok());
  EXPECT_TRUE(PwriteAll(fd.get(), data, 0)) << ErrnoText(errno);
  EXPECT_ERRNO(EIO, fsync(fd.get()));
  EXPECT_EQ(close(fd.release()), 0) << "reported once, by fsync: " << ErrnoText(errno);
  EXPECT_EQ(ReadFile(f), data);
  EXPECT_EQ(StoredSlices(f), 1u) << "the write is recorded";

  ASSERT_SYS(unlink(tmp_dir.c_str()));
  ASSERT_TRUE(volume().Unmount());  // uploads what the cache kept
  ASSERT_TRUE(volume().Mount({"--cache-size", "0", "--cache-dir", volume().dir() + "/no-cache"}));
  EXPECT_EQ(ReadFile(f), data) << "not in the store";
}

TEST_F(SemanticsTest, UnsyncedWritesAreLostWhenTheDaemonDies) {
  std::string kept = Pattern(100000, 3);
  ASSERT_TRUE(WriteFile(Path("synced"), kept, /*fsync_it=*/true));
  ScopedFd fd(open(Path("pending").c_str(), O_WRONLY | O_CREAT, 0644));
  ASSERT_TRUE(fd.ok());
  ASSERT_TRUE(PwriteAll(fd.get(), Pattern(kMiB, 4), 0));
  ASSERT_TRUE(volume().KillDaemon());
  fd.reset();
  ASSERT_TRUE(volume().Mount());
  // The file's creation was committed when open returned; its bytes were not.
  struct stat st = Stat(Path("pending"));
  EXPECT_EQ(st.st_size, 0);
  EXPECT_EQ(ReadFile(Path("pending")), "");
  EXPECT_TRUE(ReadFile(Path("synced")) == kept);
}

TEST_F(SemanticsTest, UnlinkedOpenFileIsFreedAtTheNextMount) {
  std::string f = Path("held");
  ASSERT_TRUE(WriteFile(f, Pattern(5 * kMiB, 5), /*fsync_it=*/true));
  EXPECT_EQ(ObjectCount(), 2u);  // two blocks of 4 MiB at most
  ScopedFd fd(open(f.c_str(), O_RDONLY));
  ASSERT_TRUE(fd.ok());
  ASSERT_SYS(unlink(f.c_str()));
  ASSERT_TRUE(volume().KillDaemon());
  fd.reset();
  EXPECT_EQ(ObjectCount(), 2u) << "freed before any mount could know the file is closed";
  ASSERT_TRUE(volume().Mount());
  auto deadline = Clock::now() + seconds(15);
  while (ObjectCount() != 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_EQ(ObjectCount(), 0u) << "the next mount did not free the unlinked file";
}

// Usage counters (statfs, `shoal status`) are stored every second; a mount
// that finds the previous client of its rocksdb volume crashed recounts them
// from the inodes, so a kill -9 loses nothing for good.
TEST_F(SemanticsTest, UsageCountersSurviveADaemonCrash) {
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(WriteFile(Path("f" + std::to_string(i)), "1234"));
  struct statvfs before;
  ASSERT_SYS(statvfs(root().c_str(), &before));
  ASSERT_TRUE(volume().CrashAndRemount());
  struct statvfs after;
  ASSERT_SYS(statvfs(root().c_str(), &after));
  EXPECT_EQ(after.f_files - after.f_ffree, before.f_files - before.f_ffree);
  EXPECT_EQ(after.f_bfree, before.f_bfree);
}

TEST_F(SemanticsTest, InodeNumbersAreNeverReused) {
  std::vector<ino_t> seen;
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(WriteFile(Path("f"), "x"));
    seen.push_back(Stat(Path("f")).st_ino);
    ASSERT_SYS(unlink(Path("f").c_str()));
  }
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_GT(seen[i], seen[i - 1]);  // ext4: the same
  ASSERT_TRUE(volume().Remount());
  ASSERT_TRUE(WriteFile(Path("f"), "x"));
  EXPECT_GT(Stat(Path("f")).st_ino, seen.back());
}

TEST_F(SemanticsTest, StatfsReportsOnePebibyteAndFixedInodeHeadroom) {
  struct statfs sf;
  ASSERT_SYS(statfs(root().c_str(), &sf));
  EXPECT_EQ(static_cast<uint64_t>(sf.f_type), static_cast<uint64_t>(FUSE_SUPER_MAGIC));
  struct statvfs sv;
  ASSERT_SYS(statvfs(root().c_str(), &sv));
  EXPECT_EQ(sv.f_frsize, 4096u);
  EXPECT_EQ(static_cast<uint64_t>(sv.f_blocks) * sv.f_frsize, kUnlimitedBytes);
  EXPECT_EQ(sv.f_bfree, sv.f_blocks);
  EXPECT_EQ(sv.f_bavail, sv.f_bfree);
  EXPECT_EQ(sv.f_ffree, kInodeHeadroom);
  EXPECT_EQ(sv.f_files - sv.f_ffree, 1u) << "a new volume holds its root";
  EXPECT_EQ(sv.f_fsid, 0u);  // ext4: derived from the device

  // Used space is the files' lengths (holes included), rounded to blocks.
  ScopedFd fd(open(Path("sparse").c_str(), O_WRONLY | O_CREAT, 0644));
  ASSERT_TRUE(fd.ok());
  ASSERT_TRUE(PwriteAll(fd.get(), "x", static_cast<off_t>(10 * kMiB) - 1));
  fd.reset();
  ASSERT_SYS(mkdir(Path("d").c_str(), 0755));
  ASSERT_SYS(statvfs(root().c_str(), &sv));
  EXPECT_EQ(sv.f_blocks - sv.f_bfree, 10 * kMiB / 4096);
  EXPECT_EQ(sv.f_ffree, kInodeHeadroom);
  EXPECT_EQ(sv.f_files - sv.f_ffree, 3u);
}

// --- permissions and mount options -------------------------------------------

TEST_F(SemanticsTest, DevicesAndSetuidAreDisabledByTheMount) {
  // FUSE mounts are nodev and nosuid: device nodes can be created but not
  // opened, and set-user-id bits are kept but not honoured by exec.
  SHOAL_REQUIRE_ROOT();
  struct statvfs sv;
  ASSERT_SYS(statvfs(root().c_str(), &sv));
  EXPECT_TRUE(sv.f_flag & ST_NODEV);
  EXPECT_TRUE(sv.f_flag & ST_NOSUID);
  ASSERT_SYS(mknod(Path("null").c_str(), S_IFCHR | 0666, makedev(1, 3)));
  EXPECT_ERRNO(EACCES, open(Path("null").c_str(), O_WRONLY));
  ASSERT_TRUE(WriteFile(Path("prog"), "#!/bin/sh\n"));
  ASSERT_SYS(chmod(Path("prog").c_str(), 04755));
  EXPECT_EQ(Stat(Path("prog")).st_mode & 07777, 04755u);
}

TEST_F(SemanticsTest, SupplementaryGroupsAreHonoured) {
  // The kernel checks access with the caller's groups (default_permissions);
  // shoal's own checks read the same groups from /proc/PID/status.
  SHOAL_REQUIRE_ROOT();
  constexpr gid_t kTeam = 4242;
  std::string team = Path("team");
  ASSERT_SYS(mkdir(team.c_str(), 0755));
  ASSERT_SYS(chown(team.c_str(), 0, kTeam));
  ASSERT_SYS(chmod(team.c_str(), 0770));
  std::string shared = team + "/shared";
  ASSERT_TRUE(WriteFile(shared, "s"));
  ASSERT_SYS(chown(shared.c_str(), 0, kTeam));
  ASSERT_SYS(chmod(shared.c_str(), 0060));

  std::string member = RunInChild([&]() -> std::string {
    gid_t groups[] = {kTeam};
    if (setgroups(1, groups) != 0 || setresgid(kNogroup, kNogroup, kNogroup) != 0 ||
        setresuid(kNobody, kNobody, kNobody) != 0) {
      return "cannot switch user: " + ErrnoText(errno);
    }
    std::string failures;
    std::string mine = team + "/mine";
    int fd = open(mine.c_str(), O_WRONLY | O_CREAT, 0640);
    if (fd < 0) return "create in a group-writable dir: " + ErrnoText(errno);
    close(fd);
    if (chown(mine.c_str(), static_cast<uid_t>(-1), kTeam) != 0) {
      failures += "chown to a supplementary group: " + ErrnoText(errno) + "; ";
    }
    fd = open(shared.c_str(), O_RDWR);
    if (fd < 0) {
      failures += "open a group-only file: " + ErrnoText(errno) + "; ";
    } else {
      if (write(fd, "t", 1) != 1) failures += "write: " + ErrnoText(errno) + "; ";
      close(fd);
    }
    return failures;
  });
  EXPECT_EQ(member, "");
  EXPECT_EQ(Stat(team + "/mine").st_gid, kTeam);
  EXPECT_EQ(Stat(team + "/mine").st_uid, kNobody);

  std::string outsider = RunInChild(
      [&]() -> std::string {
        int fd = open((team + "/outsider").c_str(), O_WRONLY | O_CREAT, 0644);
        if (fd >= 0) {
          close(fd);
          return "a non-member created a file in the group's directory";
        }
        return errno == EACCES ? "" : "expected EACCES, got " + ErrnoText(errno);
      },
      kNobody, kNogroup);
  EXPECT_EQ(outsider, "");
}

TEST_F(SemanticsLongCacheTest, KernelCachesAreCoherentWithinOneMount) {
  // Attribute and entry timeouts of 60 s: every change made through this
  // mount, by any process, is still seen at once, because the kernel drops
  // what it cached when it forwards the change.
  std::string a = Path("a");
  ASSERT_TRUE(WriteFile(a, ""));
  ASSERT_SYS(mkdir(Path("d").c_str(), 0755));
  struct stat st = Stat(a);  // cached now
  EXPECT_EQ(st.st_size, 0);
  std::string child = RunInChild([&]() -> std::string {
    int fd = open(a.c_str(), O_WRONLY);
    if (fd < 0 || write(fd, "12345", 5) != 5) return "write: " + ErrnoText(errno);
    close(fd);
    if (chmod(a.c_str(), 0600) != 0) return "chmod: " + ErrnoText(errno);
    if (rename(a.c_str(), Path("d/b").c_str()) != 0) return "rename: " + ErrnoText(errno);
    if (symlink("d/b", a.c_str()) != 0) return "symlink: " + ErrnoText(errno);
    return "";
  });
  ASSERT_EQ(child, "");
  struct stat lst;
  ASSERT_SYS(lstat(a.c_str(), &lst));
  EXPECT_TRUE(S_ISLNK(lst.st_mode));
  st = Stat(Path("d/b"));
  EXPECT_EQ(st.st_size, 5);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(ReadFile(a), "12345");
  ASSERT_TRUE(RunInChild([&]() -> std::string {
                return unlink(Path("d/b").c_str()) == 0 ? "" : ErrnoText(errno);
              }).empty());
  EXPECT_ERRNO(ENOENT, stat(Path("d/b").c_str(), &st));
}

}  // namespace
}  // namespace shoal::testing
