// POSIX system calls on a mounted volume, each checked for its result and its
// errno as Linux's local file systems (ext4) give them. Run with
// SHOAL_TEST_TARGET_DIR=/some/ext4/dir to check the expectations themselves.
#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <deque>
#include <initializer_list>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "mount_fixture.h"

namespace shoal::testing {
namespace {

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;

class PosixOpsTest : public MountTest {
 protected:
  std::string P(std::string_view rel) const { return Path(rel); }
  const char* C(std::string_view rel) {
    paths_.push_back(Path(rel));
    return paths_.back().c_str();
  }

  struct stat Stat(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(stat(path.c_str(), &st), 0) << path << ": " << ErrnoText(errno);
    return st;
  }
  struct stat Lstat(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(lstat(path.c_str(), &st), 0) << path << ": " << ErrnoText(errno);
    return st;
  }
  void Touch(const std::string& path, std::string_view data = "") {
    ASSERT_TRUE(WriteFile(path, data));
  }

 private:
  std::deque<std::string> paths_;  // keeps C()'s strings alive for the test
};

int RenameAt2(const std::string& from, const std::string& to, unsigned flags) {
  return static_cast<int>(
      syscall(SYS_renameat2, AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), flags));
}

std::string PreadAll(int fd, size_t len, off_t off) {
  std::string buf(len, '\0');
  size_t done = 0;
  while (done < len) {
    ssize_t n = pread(fd, buf.data() + done, len - done, off + static_cast<off_t>(done));
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  buf.resize(done);
  return buf;
}

bool PwriteAll(int fd, std::string_view data, off_t off) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = pwrite(fd, data.data() + done, data.size() - done, off + static_cast<off_t>(done));
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

std::vector<std::string> ListDir(const std::string& path, std::string* error = nullptr) {
  std::vector<std::string> names;
  DIR* d = opendir(path.c_str());
  if (d == nullptr) {
    if (error != nullptr) *error = ErrnoText(errno);
    return names;
  }
  errno = 0;
  while (dirent* e = readdir(d)) {
    names.push_back(e->d_name);
    errno = 0;
  }
  if (errno != 0 && error != nullptr) *error = ErrnoText(errno);
  closedir(d);
  return names;
}

// Accumulates failures inside a forked child (no gtest there).
class ChildChecks {
 public:
  void Errno(bool returned_minus_one, int err, int want, const char* what) {
    if (!returned_minus_one) {
      failures_ += std::string(what) + ": succeeded, expected " + ErrnoText(want) + "\n";
    } else if (err != want) {
      failures_ +=
          std::string(what) + ": got " + ErrnoText(err) + ", expected " + ErrnoText(want) + "\n";
    }
  }
  void ErrnoOneOf(bool returned_minus_one, int err, std::initializer_list<int> want,
                  const char* what) {
    if (!returned_minus_one) {
      failures_ += std::string(what) + ": succeeded, expected an error\n";
    } else if (std::find(want.begin(), want.end(), err) == want.end()) {
      failures_ += std::string(what) + ": got " + ErrnoText(err) + "\n";
    }
  }
  void Ok(bool ok, const char* what) {
    if (!ok) failures_ += std::string(what) + ": " + ErrnoText(errno) + "\n";
  }
  void True(bool cond, const std::string& what) {
    if (!cond) failures_ += what + "\n";
  }
  std::string result() const { return failures_; }

 private:
  std::string failures_;
};
#define CHILD_ERRNO(checks, want, call)            \
  do {                                             \
    errno = 0;                                     \
    bool minus_one = (call) == -1;                 \
    (checks).Errno(minus_one, errno, want, #call); \
  } while (0)
#define CHILD_ERRNO_ONE_OF(checks, call, ...)                    \
  do {                                                           \
    errno = 0;                                                   \
    bool minus_one = (call) == -1;                               \
    (checks).ErrnoOneOf(minus_one, errno, {__VA_ARGS__}, #call); \
  } while (0)
#define CHILD_OK(checks, call) (checks).Ok((call) != -1, #call)

// --- open, read, write -----------------------------------------------------

TEST_F(PosixOpsTest, CreateExclusiveTruncateAppend) {
  std::string f = P("f");
  ScopedFd fd(open(f.c_str(), O_RDWR | O_CREAT | O_EXCL, 0644));
  ASSERT_TRUE(fd.ok()) << ErrnoText(errno);
  ASSERT_EQ(write(fd.get(), "hello world", 11), 11);
  fd.reset();
  EXPECT_ERRNO(EEXIST, open(f.c_str(), O_RDWR | O_CREAT | O_EXCL, 0644));
  EXPECT_EQ(Stat(f).st_size, 11);

  // O_CREAT without O_EXCL opens the existing file and keeps its data.
  fd.reset(open(f.c_str(), O_RDWR | O_CREAT, 0644));
  ASSERT_TRUE(fd.ok());
  EXPECT_EQ(Stat(f).st_size, 11);
  fd.reset();

  fd.reset(open(f.c_str(), O_WRONLY | O_TRUNC));
  ASSERT_TRUE(fd.ok());
  struct stat st;
  ASSERT_EQ(fstat(fd.get(), &st), 0);
  EXPECT_EQ(st.st_size, 0);
  ASSERT_EQ(write(fd.get(), "abc", 3), 3);
  fd.reset();

  // O_APPEND writes at the end whatever the offset.
  fd.reset(open(f.c_str(), O_RDWR | O_APPEND));
  ASSERT_TRUE(fd.ok());
  ASSERT_EQ(lseek(fd.get(), 0, SEEK_SET), 0);
  ASSERT_EQ(write(fd.get(), "def", 3), 3);
  EXPECT_EQ(lseek(fd.get(), 0, SEEK_CUR), 6);
  fd.reset();
  EXPECT_EQ(ReadFile(f), "abcdef");

  // O_EXCL fails on a dangling symlink too, and does not follow it.
  ASSERT_SYS(symlink("missing-target", C("dangling")));
  EXPECT_ERRNO(EEXIST, open(C("dangling"), O_WRONLY | O_CREAT | O_EXCL, 0644));
  EXPECT_ERRNO(ENOENT, access(C("missing-target"), F_OK));

  EXPECT_ERRNO(ENOENT, open(C("nope"), O_RDONLY));
  EXPECT_ERRNO(ENOENT, open(C("nodir/f"), O_RDWR | O_CREAT, 0644));
  EXPECT_ERRNO(ENOTDIR, open(C("f/g"), O_RDWR | O_CREAT, 0644));
  EXPECT_ERRNO(ENOTDIR, open(f.c_str(), O_RDONLY | O_DIRECTORY));
  EXPECT_ERRNO(ELOOP, open(C("dangling"), O_RDONLY | O_NOFOLLOW));
  ASSERT_SYS(mkdir(C("d"), 0755));
  EXPECT_ERRNO(EISDIR, open(C("d"), O_WRONLY));
  EXPECT_ERRNO(EISDIR, open(C("d"), O_RDWR | O_CREAT, 0644));
}

TEST_F(PosixOpsTest, ReadWriteAtOffsets) {
  std::string f = P("f");
  ScopedFd fd(open(f.c_str(), O_RDWR | O_CREAT, 0644));
  ASSERT_TRUE(fd.ok());
  // 6 MiB crosses the default 4 MiB block boundary.
  std::string data = Pattern(6 << 20, 1);
  ASSERT_TRUE(PwriteAll(fd.get(), data, 0));
  EXPECT_EQ(PreadAll(fd.get(), 1 << 20, (4 << 20) - 4096), data.substr((4 << 20) - 4096, 1 << 20));

  // Overwrite in the middle with pwrite; the file position does not move.
  ASSERT_EQ(lseek(fd.get(), 100, SEEK_SET), 100);
  std::string patch = Pattern(10000, 2);
  ASSERT_TRUE(PwriteAll(fd.get(), patch, 3000000));
  EXPECT_EQ(lseek(fd.get(), 0, SEEK_CUR), 100);
  data.replace(3000000, patch.size(), patch);

  // write() and read() advance the position.
  ASSERT_EQ(write(fd.get(), "XYZ", 3), 3);
  data.replace(100, 3, "XYZ");
  EXPECT_EQ(lseek(fd.get(), 0, SEEK_CUR), 103);
  char buf[4];
  ASSERT_EQ(lseek(fd.get(), 99, SEEK_SET), 99);
  ASSERT_EQ(read(fd.get(), buf, 4), 4);
  EXPECT_EQ(std::string(buf, 4), data.substr(99, 4));

  // Reads at and past the end.
  EXPECT_EQ(pread(fd.get(), buf, 4, static_cast<off_t>(data.size())), 0);
  EXPECT_EQ(pread(fd.get(), buf, 4, static_cast<off_t>(data.size()) + 100), 0);
  EXPECT_EQ(pread(fd.get(), buf, 4, static_cast<off_t>(data.size()) - 2), 2);
  EXPECT_EQ(lseek(fd.get(), 0, SEEK_END), static_cast<off_t>(data.size()));
  fd.reset();

  // A new open sees everything (close-to-open).
  EXPECT_TRUE(ReadFile(f) == data) << "file content differs after close";
  EXPECT_EQ(Stat(f).st_size, static_cast<off_t>(data.size()));

  // Reading a descriptor opened write-only fails.
  fd.reset(open(f.c_str(), O_WRONLY));
  EXPECT_ERRNO(EBADF, read(fd.get(), buf, 1));
  fd.reset(open(f.c_str(), O_RDONLY));
  EXPECT_ERRNO(EBADF, write(fd.get(), "x", 1));
}

TEST_F(PosixOpsTest, SparseFilesReadZeros) {
  std::string f = P("sparse");
  ScopedFd fd(open(f.c_str(), O_RDWR | O_CREAT, 0644));
  ASSERT_TRUE(fd.ok());
  ASSERT_TRUE(PwriteAll(fd.get(), "end", 10 << 20));
  // Past the 64 MiB chunk boundary, with a hole that spans it.
  ASSERT_TRUE(PwriteAll(fd.get(), "far", (70 << 20) + 5));
  fd.reset();
  fd.reset(open(f.c_str(), O_RDONLY));
  struct stat st;
  ASSERT_EQ(fstat(fd.get(), &st), 0);
  EXPECT_EQ(st.st_size, (70 << 20) + 8);
  EXPECT_EQ(PreadAll(fd.get(), 1 << 20, 4 << 20), std::string(1 << 20, '\0'));
  EXPECT_EQ(PreadAll(fd.get(), 8, (10 << 20) - 5), std::string(5, '\0') + "end");
  EXPECT_EQ(PreadAll(fd.get(), 2 << 20, (63 << 20)), std::string(2 << 20, '\0'));
  EXPECT_EQ(PreadAll(fd.get(), 16, (70 << 20)), std::string(5, '\0') + "far");
}

TEST_F(PosixOpsTest, TruncateGrowAndShrink) {
  std::string f = P("t");
  ASSERT_TRUE(WriteFile(f, std::string(100, 'a')));
  ASSERT_SYS(truncate(f.c_str(), 50));
  EXPECT_EQ(Stat(f).st_size, 50);
  // Growing again must not bring the old bytes back.
  ASSERT_SYS(truncate(f.c_str(), 200));
  EXPECT_EQ(ReadFile(f), std::string(50, 'a') + std::string(150, '\0'));

  ScopedFd fd(open(f.c_str(), O_RDWR));
  ASSERT_TRUE(fd.ok());
  ASSERT_SYS(ftruncate(fd.get(), 10));
  struct stat st;
  ASSERT_EQ(fstat(fd.get(), &st), 0);
  EXPECT_EQ(st.st_size, 10);
  ASSERT_SYS(ftruncate(fd.get(), 5 << 20));
  EXPECT_EQ(PreadAll(fd.get(), 20, 0), std::string(10, 'a') + std::string(10, '\0'));
  EXPECT_EQ(PreadAll(fd.get(), 10, (5 << 20) - 10), std::string(10, '\0'));
  ASSERT_SYS(ftruncate(fd.get(), 0));
  EXPECT_EQ(PreadAll(fd.get(), 10, 0), "");
  fd.reset();
  EXPECT_EQ(Stat(f).st_size, 0);

  EXPECT_ERRNO(ENOENT, truncate(C("missing"), 0));
  ASSERT_SYS(mkdir(C("d"), 0755));
  EXPECT_ERRNO(EISDIR, truncate(C("d"), 0));
  EXPECT_ERRNO(EINVAL, truncate(f.c_str(), -1));
  fd.reset(open(f.c_str(), O_RDONLY));
  EXPECT_ERRNO(EINVAL, ftruncate(fd.get(), 0));  // not open for writing
}

TEST_F(PosixOpsTest, UnlinkWhileOpen) {
  std::string f = P("doomed");
  std::string data = Pattern(300000, 3);
  ASSERT_TRUE(WriteFile(f, data));
  ScopedFd fd(open(f.c_str(), O_RDWR));
  ASSERT_TRUE(fd.ok());
  ASSERT_SYS(unlink(f.c_str()));
  struct stat st;
  EXPECT_ERRNO(ENOENT, stat(f.c_str(), &st));
  ASSERT_EQ(fstat(fd.get(), &st), 0);
  EXPECT_EQ(st.st_nlink, 0u);
  EXPECT_EQ(PreadAll(fd.get(), data.size(), 0), data);
  // Still writable, and a new file of the same name is a different file.
  ASSERT_TRUE(PwriteAll(fd.get(), "tail", static_cast<off_t>(data.size())));
  EXPECT_EQ(PreadAll(fd.get(), 4, static_cast<off_t>(data.size())), "tail");
  ASSERT_TRUE(WriteFile(f, "new"));
  EXPECT_EQ(ReadFile(f), "new");
  EXPECT_EQ(PreadAll(fd.get(), 3, 0), data.substr(0, 3));
  fd.reset();
  EXPECT_EQ(ReadFile(f), "new");
  EXPECT_ERRNO(ENOENT, unlink(C("missing")));
}

// --- directories -------------------------------------------------------------

TEST_F(PosixOpsTest, MkdirRmdirErrors) {
  ASSERT_SYS(mkdir(C("d"), 0755));
  struct stat st = Stat(P("d"));
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  EXPECT_ERRNO(EEXIST, mkdir(C("d"), 0755));
  Touch(P("d/f"));
  EXPECT_ERRNO(ENOTEMPTY, rmdir(C("d")));
  EXPECT_ERRNO(ENOTDIR, rmdir(C("d/f")));
  EXPECT_ERRNO(EISDIR, unlink(C("d")));
  EXPECT_ERRNO(ENOENT, rmdir(C("missing")));
  EXPECT_ERRNO(ENOENT, mkdir(C("missing/sub"), 0755));
  EXPECT_ERRNO(ENOTDIR, mkdir(C("d/f/sub"), 0755));
  EXPECT_ERRNO(EEXIST, mkdir(C("d/f"), 0755));
  EXPECT_ERRNO(EINVAL, rmdir(C("d/.")));
  EXPECT_ERRNO(ENOTEMPTY, rmdir(C("d/..")));
  ASSERT_SYS(unlink(C("d/f")));
  ASSERT_SYS(rmdir(C("d")));
  EXPECT_ERRNO(ENOENT, stat(C("d"), &st));
}

TEST_F(PosixOpsTest, DirectoryLinkCounts) {
  ASSERT_SYS(mkdir(C("d"), 0755));
  EXPECT_EQ(Stat(P("d")).st_nlink, 2u);
  ASSERT_SYS(mkdir(C("d/a"), 0755));
  ASSERT_SYS(mkdir(C("d/b"), 0755));
  Touch(P("d/file"));
  EXPECT_EQ(Stat(P("d")).st_nlink, 4u);
  ASSERT_SYS(rmdir(C("d/a")));
  EXPECT_EQ(Stat(P("d")).st_nlink, 3u);
  // Moving a directory moves its ".." link to the new parent.
  ASSERT_SYS(mkdir(C("e"), 0755));
  ASSERT_SYS(rename(C("d/b"), C("e/b")));
  EXPECT_EQ(Stat(P("d")).st_nlink, 2u);
  EXPECT_EQ(Stat(P("e")).st_nlink, 3u);
  EXPECT_EQ(Stat(P("e/b/..")).st_ino, Stat(P("e")).st_ino);
}

TEST_F(PosixOpsTest, RenameFiles) {
  ASSERT_TRUE(WriteFile(P("a"), "A"));
  ASSERT_TRUE(WriteFile(P("b"), "B"));
  ASSERT_SYS(link(C("b"), C("b2")));
  ino_t a_ino = Stat(P("a")).st_ino;
  ASSERT_SYS(rename(C("a"), C("b")));
  struct stat st;
  EXPECT_ERRNO(ENOENT, stat(C("a"), &st));
  EXPECT_EQ(ReadFile(P("b")), "A");
  EXPECT_EQ(Stat(P("b")).st_ino, a_ino);
  // The replaced inode lost one link and keeps its data under its other name.
  EXPECT_EQ(Stat(P("b2")).st_nlink, 1u);
  EXPECT_EQ(ReadFile(P("b2")), "B");

  // Renaming onto itself, or onto another link of the same inode, is a no-op.
  ASSERT_SYS(rename(C("b"), C("b")));
  ASSERT_SYS(link(C("b"), C("b3")));
  ASSERT_SYS(rename(C("b"), C("b3")));
  EXPECT_EQ(ReadFile(P("b")), "A");
  EXPECT_EQ(ReadFile(P("b3")), "A");
  EXPECT_EQ(Stat(P("b")).st_nlink, 2u);

  EXPECT_ERRNO(ENOENT, rename(C("missing"), C("x")));
  EXPECT_ERRNO(ENOENT, rename(C("b"), C("missing/x")));

  // Across directories.
  ASSERT_SYS(mkdir(C("d"), 0755));
  ASSERT_SYS(rename(C("b2"), C("d/moved")));
  EXPECT_EQ(ReadFile(P("d/moved")), "B");
  auto names = ListDir(P("d"));
  EXPECT_EQ(std::count(names.begin(), names.end(), "moved"), 1);
}

TEST_F(PosixOpsTest, RenameDirectories) {
  ASSERT_SYS(mkdir(C("src"), 0755));
  Touch(P("src/inside"), "x");
  ASSERT_SYS(mkdir(C("empty"), 0755));
  ASSERT_SYS(mkdir(C("full"), 0755));
  Touch(P("full/f"));
  Touch(P("file"));

  EXPECT_ERRNO(ENOTEMPTY, rename(C("src"), C("full")));
  EXPECT_ERRNO(ENOTDIR, rename(C("src"), C("file")));
  EXPECT_ERRNO(EISDIR, rename(C("file"), C("empty")));
  ASSERT_SYS(mkdir(C("src/sub"), 0755));
  EXPECT_ERRNO(EINVAL, rename(C("src"), C("src/sub/deeper")));
  EXPECT_ERRNO(EINVAL, rename(C("src"), C("src/sub")));

  // Over an empty directory: replaces it.
  ASSERT_SYS(rename(C("src"), C("empty")));
  EXPECT_EQ(ReadFile(P("empty/inside")), "x");
  struct stat st;
  EXPECT_ERRNO(ENOENT, stat(C("src"), &st));
  EXPECT_EQ(Stat(P("empty/sub/..")).st_ino, Stat(P("empty")).st_ino);
}

TEST_F(PosixOpsTest, RenameNoReplaceAndExchange) {
  ASSERT_TRUE(WriteFile(P("one"), "1"));
  ASSERT_TRUE(WriteFile(P("two"), "2"));
  EXPECT_ERRNO(EEXIST, RenameAt2(P("one"), P("two"), RENAME_NOREPLACE));
  EXPECT_EQ(ReadFile(P("one")), "1");
  EXPECT_EQ(ReadFile(P("two")), "2");
  ASSERT_SYS(RenameAt2(P("one"), P("three"), RENAME_NOREPLACE));
  EXPECT_EQ(ReadFile(P("three")), "1");

  ASSERT_SYS(RenameAt2(P("three"), P("two"), RENAME_EXCHANGE));
  EXPECT_EQ(ReadFile(P("three")), "2");
  EXPECT_EQ(ReadFile(P("two")), "1");

  // A file and a directory in different parents trade places.
  ASSERT_SYS(mkdir(C("d"), 0755));
  ASSERT_SYS(mkdir(C("e"), 0755));
  ASSERT_SYS(mkdir(C("e/sub"), 0755));
  Touch(P("e/sub/marker"), "m");
  ASSERT_SYS(RenameAt2(P("two"), P("e/sub"), RENAME_EXCHANGE));
  EXPECT_EQ(ReadFile(P("e/sub")), "1");
  EXPECT_EQ(ReadFile(P("two/marker")), "m");
  EXPECT_EQ(Stat(P("two/..")).st_ino, Stat(root()).st_ino);

  EXPECT_ERRNO(ENOENT, RenameAt2(P("three"), P("missing"), RENAME_EXCHANGE));
  EXPECT_ERRNO(EINVAL, RenameAt2(P("three"), P("two"), RENAME_EXCHANGE | RENAME_NOREPLACE));
}

// --- links -----------------------------------------------------------------

TEST_F(PosixOpsTest, HardLinksSymlinksReadlink) {
  ASSERT_TRUE(WriteFile(P("f"), "data"));
  ASSERT_SYS(link(C("f"), C("g")));
  EXPECT_EQ(Stat(P("f")).st_ino, Stat(P("g")).st_ino);
  EXPECT_EQ(Stat(P("f")).st_nlink, 2u);
  EXPECT_EQ(Stat(P("g")).st_nlink, 2u);
  ASSERT_TRUE(WriteFile(P("g"), "changed"));
  EXPECT_EQ(ReadFile(P("f")), "changed");
  EXPECT_ERRNO(EEXIST, link(C("f"), C("g")));
  ASSERT_SYS(mkdir(C("d"), 0755));
  EXPECT_ERRNO(EPERM, link(C("d"), C("d2")));
  EXPECT_ERRNO(ENOENT, link(C("missing"), C("x")));
  ASSERT_SYS(unlink(C("f")));
  EXPECT_EQ(Stat(P("g")).st_nlink, 1u);
  EXPECT_EQ(ReadFile(P("g")), "changed");

  const std::string target = "d/../g";
  ASSERT_SYS(symlink(target.c_str(), C("s")));
  struct stat st = Lstat(P("s"));
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(st.st_size, static_cast<off_t>(target.size()));
  char buf[256];
  ssize_t n = readlink(C("s"), buf, sizeof(buf));
  ASSERT_EQ(n, static_cast<ssize_t>(target.size()));
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), target);
  // A short buffer truncates silently.
  EXPECT_EQ(readlink(C("s"), buf, 3), 3);
  EXPECT_EQ(std::string(buf, 3), "d/.");
  EXPECT_EQ(ReadFile(P("s")), "changed");
  EXPECT_EQ(Stat(P("s")).st_ino, Stat(P("g")).st_ino);

  EXPECT_ERRNO(EINVAL, readlink(C("g"), buf, sizeof(buf)));
  EXPECT_ERRNO(EEXIST, symlink("x", C("g")));
  ASSERT_SYS(symlink("nowhere", C("dangling")));
  EXPECT_ERRNO(ENOENT, stat(C("dangling"), &st));
  // A link to a long target (4095 bytes is the most Linux takes).
  std::string long_target(4000, 'x');
  ASSERT_SYS(symlink(long_target.c_str(), C("long")));
  std::string lbuf(5000, '\0');
  EXPECT_EQ(readlink(C("long"), lbuf.data(), lbuf.size()), 4000);
  // Hard link to a symlink links the symlink itself.
  ASSERT_SYS(link(C("s"), C("s2")));
  EXPECT_TRUE(S_ISLNK(Lstat(P("s2")).st_mode));
  EXPECT_EQ(Lstat(P("s")).st_nlink, 2u);
}

// --- attributes ----------------------------------------------------------------

TEST_F(PosixOpsTest, ChmodChownUtimens) {
  SHOAL_REQUIRE_ROOT();
  std::string f = P("f");
  ASSERT_TRUE(WriteFile(f, "x"));
  ASSERT_SYS(chmod(f.c_str(), 0640));
  EXPECT_EQ(Stat(f).st_mode & 07777, 0640u);
  EXPECT_TRUE(S_ISREG(Stat(f).st_mode));
  ASSERT_SYS(chmod(f.c_str(), 04755));
  EXPECT_EQ(Stat(f).st_mode & 07777, 04755u);
  ASSERT_SYS(chown(f.c_str(), kNobody, kNogroup));
  struct stat st = Stat(f);
  EXPECT_EQ(st.st_uid, kNobody);
  EXPECT_EQ(st.st_gid, kNogroup);
  // chown clears set-user-ID (Linux does it even for root).
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  ASSERT_SYS(chown(f.c_str(), static_cast<uid_t>(-1), 0));
  EXPECT_EQ(Stat(f).st_uid, kNobody);
  EXPECT_EQ(Stat(f).st_gid, 0u);

  // Explicit times.
  struct timespec times[2] = {{1000000000, 123456789}, {1100000000, 987654321}};
  ASSERT_SYS(utimensat(AT_FDCWD, f.c_str(), times, 0));
  st = Stat(f);
  EXPECT_EQ(st.st_atim.tv_sec, 1000000000);
  EXPECT_EQ(st.st_atim.tv_nsec, 123456789);
  EXPECT_EQ(st.st_mtim.tv_sec, 1100000000);
  EXPECT_EQ(st.st_mtim.tv_nsec, 987654321);
  struct timespec before_ctime = st.st_ctim;

  // UTIME_OMIT keeps atime; UTIME_NOW sets mtime to now.
  time_t now = time(nullptr);
  struct timespec omit_now[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
  ASSERT_SYS(utimensat(AT_FDCWD, f.c_str(), omit_now, 0));
  st = Stat(f);
  EXPECT_EQ(st.st_atim.tv_sec, 1000000000);
  EXPECT_EQ(st.st_atim.tv_nsec, 123456789);
  EXPECT_GE(st.st_mtim.tv_sec, now - 2);
  EXPECT_LE(st.st_mtim.tv_sec, now + 2);
  EXPECT_GE(st.st_ctim.tv_sec, before_ctime.tv_sec);

  struct timespec now_omit[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
  ASSERT_SYS(utimensat(AT_FDCWD, f.c_str(), now_omit, 0));
  struct stat st2 = Stat(f);
  EXPECT_GE(st2.st_atim.tv_sec, now - 2);
  EXPECT_EQ(st2.st_mtim.tv_sec, st.st_mtim.tv_sec);
  EXPECT_EQ(st2.st_mtim.tv_nsec, st.st_mtim.tv_nsec);

  // A write moves mtime and ctime forward.
  ASSERT_SYS(utimensat(AT_FDCWD, f.c_str(), times, 0));
  ASSERT_TRUE(WriteFile(f, "later"));
  st = Stat(f);
  EXPECT_GE(st.st_mtim.tv_sec, now - 2);
  EXPECT_GE(st.st_ctim.tv_sec, now - 2);

  // Creating an entry moves the directory's mtime forward.
  ASSERT_SYS(mkdir(C("d"), 0755));
  ASSERT_SYS(utimensat(AT_FDCWD, C("d"), times, 0));
  Touch(P("d/new"));
  EXPECT_GE(Stat(P("d")).st_mtim.tv_sec, now - 2);

  // Symlink's own times with AT_SYMLINK_NOFOLLOW.
  ASSERT_SYS(symlink("f", C("s")));
  ASSERT_SYS(utimensat(AT_FDCWD, C("s"), times, AT_SYMLINK_NOFOLLOW));
  EXPECT_EQ(Lstat(P("s")).st_mtim.tv_sec, 1100000000);
  EXPECT_ERRNO(ENOENT, chmod(C("missing"), 0644));
}

TEST_F(PosixOpsTest, MknodFifoSocketCharDevice) {
  SHOAL_REQUIRE_ROOT();
  ASSERT_SYS(mkfifo(C("fifo"), 0644));
  EXPECT_TRUE(S_ISFIFO(Lstat(P("fifo")).st_mode));
  ASSERT_SYS(mknod(C("sock"), S_IFSOCK | 0644, 0));
  EXPECT_TRUE(S_ISSOCK(Lstat(P("sock")).st_mode));
  ASSERT_SYS(mknod(C("chr"), S_IFCHR | 0600, makedev(1, 3)));
  struct stat st = Lstat(P("chr"));
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(1, 3));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_ERRNO(EEXIST, mkfifo(C("fifo"), 0644));

  // A FIFO on the volume carries data between two descriptors.
  ScopedFd fd(open(C("fifo"), O_RDWR | O_NONBLOCK));
  ASSERT_TRUE(fd.ok()) << ErrnoText(errno);
  ASSERT_EQ(write(fd.get(), "pipe", 4), 4);
  char buf[8];
  EXPECT_EQ(read(fd.get(), buf, sizeof(buf)), 4);
  EXPECT_EQ(std::string(buf, 4), "pipe");
  auto names = ListDir(root());
  std::set<std::string> set(names.begin(), names.end());
  EXPECT_TRUE(set.contains("fifo") && set.contains("sock") && set.contains("chr"));
}

TEST_F(PosixOpsTest, ExtendedAttributes) {
  std::string f = P("f");
  Touch(f);
  ASSERT_SYS(setxattr(f.c_str(), "user.color", "blue", 4, 0));
  char buf[256];
  EXPECT_EQ(getxattr(f.c_str(), "user.color", buf, sizeof(buf)), 4);
  EXPECT_EQ(std::string(buf, 4), "blue");
  EXPECT_EQ(getxattr(f.c_str(), "user.color", nullptr, 0), 4);  // size query
  EXPECT_ERRNO(ERANGE, getxattr(f.c_str(), "user.color", buf, 2));
  EXPECT_ERRNO(EEXIST, setxattr(f.c_str(), "user.color", "red", 3, XATTR_CREATE));
  EXPECT_ERRNO(ENODATA, setxattr(f.c_str(), "user.size", "1", 1, XATTR_REPLACE));
  ASSERT_SYS(setxattr(f.c_str(), "user.color", "red", 3, XATTR_REPLACE));
  EXPECT_EQ(getxattr(f.c_str(), "user.color", buf, sizeof(buf)), 3);
  ASSERT_SYS(setxattr(f.c_str(), "user.empty", "", 0, XATTR_CREATE));
  EXPECT_EQ(getxattr(f.c_str(), "user.empty", buf, sizeof(buf)), 0);
  std::string big = Pattern(2000, 9);
  ASSERT_SYS(setxattr(f.c_str(), "user.big", big.data(), big.size(), 0));
  std::string big_buf(8000, '\0');
  ASSERT_EQ(getxattr(f.c_str(), "user.big", big_buf.data(), big_buf.size()), 2000);
  EXPECT_EQ(big_buf.substr(0, 2000), big);

  ssize_t len = listxattr(f.c_str(), nullptr, 0);
  ASSERT_GT(len, 0);
  std::string list(static_cast<size_t>(len), '\0');
  ASSERT_EQ(listxattr(f.c_str(), list.data(), list.size()), len);
  std::set<std::string> names;
  for (size_t i = 0; i < list.size(); i += strlen(list.c_str() + i) + 1)
    names.insert(list.c_str() + i);
  EXPECT_TRUE(names.contains("user.color"));
  EXPECT_TRUE(names.contains("user.empty"));
  EXPECT_TRUE(names.contains("user.big"));
  EXPECT_ERRNO(ERANGE, listxattr(f.c_str(), list.data(), 3));

  ASSERT_SYS(removexattr(f.c_str(), "user.color"));
  EXPECT_ERRNO(ENODATA, getxattr(f.c_str(), "user.color", buf, sizeof(buf)));
  EXPECT_ERRNO(ENODATA, removexattr(f.c_str(), "user.color"));
  EXPECT_ERRNO(ENODATA, getxattr(f.c_str(), "user.never", buf, sizeof(buf)));

  // Directories carry xattrs too; the xattrs belong to the inode.
  ASSERT_SYS(mkdir(C("d"), 0755));
  ASSERT_SYS(setxattr(C("d"), "user.k", "v", 1, 0));
  EXPECT_EQ(getxattr(C("d"), "user.k", buf, sizeof(buf)), 1);
  ASSERT_SYS(link(f.c_str(), C("f2")));
  EXPECT_EQ(getxattr(C("f2"), "user.empty", buf, sizeof(buf)), 0);
  EXPECT_ERRNO(ENOENT, getxattr(C("missing"), "user.k", buf, sizeof(buf)));
}

TEST_F(PosixOpsTest, StatFs) {
  struct statvfs sv;
  ASSERT_SYS(statvfs(root().c_str(), &sv));
  EXPECT_GT(sv.f_bsize, 0u);
  EXPECT_GT(sv.f_blocks, 0u);
  EXPECT_LE(sv.f_bfree, sv.f_blocks);
  EXPECT_LE(sv.f_bavail, sv.f_bfree);
  EXPECT_EQ(sv.f_namemax, 255u);
  Touch(P("f"));
  struct statvfs sv2;
  ASSERT_SYS(statvfs(C("f"), &sv2));
  EXPECT_EQ(sv2.f_fsid, sv.f_fsid);
}

TEST_F(PosixOpsTest, NameLengthLimits) {
  std::string name255(255, 'n');
  std::string name256(256, 'n');
  ASSERT_TRUE(WriteFile(P(name255), "ok"));
  EXPECT_EQ(ReadFile(P(name255)), "ok");
  ASSERT_SYS(mkdir(C(std::string(255, 'd')), 0755));
  auto names = ListDir(root());
  EXPECT_EQ(std::count(names.begin(), names.end(), name255), 1);
  EXPECT_ERRNO(ENAMETOOLONG, open(C(name256), O_RDWR | O_CREAT, 0644));
  EXPECT_ERRNO(ENAMETOOLONG, mkdir(C(name256), 0755));
  struct stat st;
  EXPECT_ERRNO(ENAMETOOLONG, stat(C(name256), &st));
  EXPECT_ERRNO(ENAMETOOLONG, rename(C(name255), C(name256)));
  EXPECT_ERRNO(ENAMETOOLONG, symlink("x", C(name256)));
  EXPECT_ERRNO(ENAMETOOLONG, link(C(name255), C(name256)));
  // UTF-8 names are bytes: 127 two-byte characters are 254 bytes.
  std::string utf8;
  for (int i = 0; i < 127; ++i) utf8 += "\xc3\xa9";
  ASSERT_TRUE(WriteFile(P(utf8), "e"));
  EXPECT_EQ(ReadFile(P(utf8)), "e");
}

TEST_F(PosixOpsTest, DeepNesting) {
  constexpr int kDepth = 100;
  std::string rel;
  for (int i = 0; i < kDepth; ++i) {
    rel += (rel.empty() ? "" : "/") + std::string("level") + std::to_string(i);
    ASSERT_SYS(mkdir(C(rel), 0755)) << "depth " << i;
  }
  ASSERT_TRUE(WriteFile(P(rel + "/bottom"), "deep"));
  EXPECT_EQ(ReadFile(P(rel + "/bottom")), "deep");
  // Walk down with openat and back up with "..".
  ScopedFd dir(open(root().c_str(), O_RDONLY | O_DIRECTORY));
  for (int i = 0; i < kDepth; ++i) {
    std::string name = "level" + std::to_string(i);
    int next = openat(dir.get(), name.c_str(), O_RDONLY | O_DIRECTORY);
    ASSERT_GE(next, 0) << name << ": " << ErrnoText(errno);
    dir.reset(next);
  }
  struct stat st;
  ASSERT_SYS(fstatat(dir.get(), "bottom", &st, 0));
  EXPECT_EQ(st.st_size, 4);
  // Remove from the bottom up.
  ASSERT_SYS(unlink(C(rel + "/bottom")));
  for (int i = kDepth - 1; i >= 0; --i) {
    ASSERT_SYS(rmdir(C(rel))) << "depth " << i;
    rel = rel.substr(0, rel.rfind('/') == std::string::npos ? 0 : rel.rfind('/'));
  }
  EXPECT_ERRNO(ENOENT, stat(C("level0"), &st));
}

TEST_F(PosixOpsTest, ReaddirThousandEntries) {
  constexpr int kCount = 1000;
  ASSERT_SYS(mkdir(C("d"), 0755));
  std::set<std::string> want;
  for (int i = 0; i < kCount; ++i) {
    char name[64];
    snprintf(name, sizeof(name), "file-%04d", i);
    want.insert(name);
    if (i % 10 == 0) {
      ASSERT_SYS(mkdir(C(std::string("d/") + name), 0755));
    } else {
      Touch(P(std::string("d/") + name));
    }
  }
  DIR* d = opendir(C("d"));
  ASSERT_NE(d, nullptr);
  std::multiset<std::string> got;
  bool saw_dot = false, saw_dotdot = false;
  errno = 0;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == ".") {
      saw_dot = true;
    } else if (name == "..") {
      saw_dotdot = true;
    } else {
      got.insert(name);
      int i = std::stoi(name.substr(5));
      unsigned char want_type = i % 10 == 0 ? DT_DIR : DT_REG;
      EXPECT_EQ(e->d_type, want_type) << name;
      struct stat st;
      EXPECT_EQ(fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW), 0) << name;
      EXPECT_EQ(st.st_ino, e->d_ino) << name;
    }
    errno = 0;
  }
  EXPECT_EQ(errno, 0) << ErrnoText(errno);
  // rewinddir starts over.
  rewinddir(d);
  int again = 0;
  while (readdir(d) != nullptr) ++again;
  closedir(d);
  EXPECT_TRUE(saw_dot);
  EXPECT_TRUE(saw_dotdot);
  EXPECT_EQ(got.size(), want.size());
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), want);
  EXPECT_EQ(again, kCount + 2);
}

TEST_F(PosixOpsTest, ReaddirWhileDeleting) {
  constexpr int kKept = 600;     // deleted only after readdir returned them
  constexpr int kVictims = 300;  // deleted before readdir may reach them
  ASSERT_SYS(mkdir(C("d"), 0755));
  for (int i = 0; i < kKept; ++i) Touch(P("d/kept-entry-with-a-longish-name-" + std::to_string(i)));
  for (int i = 0; i < kVictims; ++i) {
    Touch(P("d/victim-entry-with-a-longish-name-" + std::to_string(i)));
  }
  DIR* d = opendir(C("d"));
  ASSERT_NE(d, nullptr);
  std::set<std::string> seen;
  std::set<std::string> deleted;  // victims removed by name
  int next_victim = 0;
  errno = 0;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    EXPECT_TRUE(seen.insert(name).second) << "returned twice: " << name;
    // A victim already removed may still be returned (POSIX leaves it open).
    if (!deleted.contains(name)) {
      EXPECT_SYS(unlinkat(dirfd(d), name.c_str(), 0)) << name;
      deleted.insert(name);
    }
    if (next_victim < kVictims) {
      std::string victim = "victim-entry-with-a-longish-name-" + std::to_string(next_victim++);
      if (!deleted.contains(victim)) {
        EXPECT_SYS(unlink(C("d/" + victim)));
        deleted.insert(victim);
      }
    }
    errno = 0;
  }
  EXPECT_EQ(errno, 0) << ErrnoText(errno);
  closedir(d);
  std::string missing;
  int missing_count = 0;
  for (int i = 0; i < kKept; ++i) {
    if (!seen.contains("kept-entry-with-a-longish-name-" + std::to_string(i))) {
      if (++missing_count <= 10) missing += " " + std::to_string(i);
    }
  }
  EXPECT_EQ(missing_count, 0) << "entries present throughout but never returned, e.g." << missing;
  auto left = ListDir(P("d"));
  EXPECT_EQ(left.size(), 2u) << "entries left after deleting everything";
  EXPECT_SYS(rmdir(C("d")));
}

// --- locks -------------------------------------------------------------------

TEST_F(PosixOpsTest, FlockBetweenDescriptors) {
  std::string f = P("locked");
  Touch(f);
  ScopedFd a(open(f.c_str(), O_RDWR));
  ScopedFd b(open(f.c_str(), O_RDWR));
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_SYS(flock(a.get(), LOCK_EX));
  EXPECT_ERRNO(EWOULDBLOCK, flock(b.get(), LOCK_EX | LOCK_NB));
  EXPECT_ERRNO(EWOULDBLOCK, flock(b.get(), LOCK_SH | LOCK_NB));
  ASSERT_SYS(flock(a.get(), LOCK_UN));
  ASSERT_SYS(flock(b.get(), LOCK_SH | LOCK_NB));
  ASSERT_SYS(flock(a.get(), LOCK_SH | LOCK_NB));  // shared locks coexist
  EXPECT_ERRNO(EWOULDBLOCK, flock(a.get(), LOCK_EX | LOCK_NB));
  // Closing the descriptor drops its lock. The kernel may hand that unlock to
  // the daemon after close() returns (a FUSE release is asynchronous), so
  // allow it a moment; a lock that is never dropped still fails here.
  b.reset();
  SysResult upgraded{-1, 0};
  for (int i = 0; i < 100; ++i) {
    upgraded = SHOAL_SYS_RESULT_(flock(a.get(), LOCK_EX | LOCK_NB));
    if (upgraded.ret == 0 || upgraded.err != EWOULDBLOCK) break;
    usleep(10000);
  }
  ASSERT_TRUE(Succeeds("flock(a.get(), LOCK_EX | LOCK_NB) after closing b", upgraded));
  // Another process sees the lock too.
  std::string child = RunInChild([&] {
    ChildChecks c;
    ScopedFd fd(open(f.c_str(), O_RDWR));
    CHILD_ERRNO(c, EWOULDBLOCK, flock(fd.get(), LOCK_SH | LOCK_NB));
    return c.result();
  });
  EXPECT_EQ(child, "");
}

TEST_F(PosixOpsTest, FcntlRangeLocksBetweenProcesses) {
  std::string f = P("ranges");
  ASSERT_TRUE(WriteFile(f, std::string(1000, 'x')));
  ScopedFd fd(open(f.c_str(), O_RDWR));
  ASSERT_TRUE(fd.ok());
  auto set_lock = [](int fd, short type, off_t start, off_t len) {
    struct flock fl {};
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = start;
    fl.l_len = len;
    return fcntl(fd, F_SETLK, &fl);
  };
  ASSERT_SYS(set_lock(fd.get(), F_WRLCK, 0, 100));
  const pid_t parent = getpid();

  std::string child = RunInChild([&] {
    ChildChecks c;
    ScopedFd cfd(open(f.c_str(), O_RDWR));
    CHILD_ERRNO_ONE_OF(c, set_lock(cfd.get(), F_WRLCK, 50, 10), EAGAIN, EACCES);
    CHILD_ERRNO_ONE_OF(c, set_lock(cfd.get(), F_RDLCK, 99, 1), EAGAIN, EACCES);
    CHILD_OK(c, set_lock(cfd.get(), F_WRLCK, 100, 100));
    struct flock probe {};
    probe.l_type = F_WRLCK;
    probe.l_whence = SEEK_SET;
    probe.l_start = 10;
    probe.l_len = 5;
    CHILD_OK(c, fcntl(cfd.get(), F_GETLK, &probe));
    c.True(probe.l_type == F_WRLCK, "F_GETLK should report the parent's write lock");
    c.True(probe.l_pid == parent,
           "F_GETLK pid " + std::to_string(probe.l_pid) + ", want " + std::to_string(parent));
    c.True(probe.l_start == 0 && probe.l_len == 100,
           "F_GETLK range " + std::to_string(probe.l_start) + "+" + std::to_string(probe.l_len));
    return c.result();
  });
  EXPECT_EQ(child, "");

  // Unlocking the middle splits the parent's lock in two.
  ASSERT_SYS(set_lock(fd.get(), F_UNLCK, 40, 20));
  child = RunInChild([&] {
    ChildChecks c;
    ScopedFd cfd(open(f.c_str(), O_RDWR));
    struct flock probe {};
    probe.l_type = F_WRLCK;
    probe.l_whence = SEEK_SET;
    probe.l_start = 45;
    probe.l_len = 10;
    CHILD_OK(c, fcntl(cfd.get(), F_GETLK, &probe));
    c.True(probe.l_type == F_UNLCK, "the unlocked middle should be free");
    CHILD_OK(c, set_lock(cfd.get(), F_RDLCK, 40, 20));
    CHILD_ERRNO_ONE_OF(c, set_lock(cfd.get(), F_RDLCK, 30, 1), EAGAIN, EACCES);
    CHILD_ERRNO_ONE_OF(c, set_lock(cfd.get(), F_RDLCK, 60, 1), EAGAIN, EACCES);
    return c.result();
  });
  EXPECT_EQ(child, "");

  // Read locks are shared; a write lock over a read lock is refused.
  ASSERT_SYS(set_lock(fd.get(), F_UNLCK, 0, 0));
  ASSERT_SYS(set_lock(fd.get(), F_RDLCK, 0, 0));  // to end of file
  child = RunInChild([&] {
    ChildChecks c;
    ScopedFd cfd(open(f.c_str(), O_RDWR));
    CHILD_OK(c, set_lock(cfd.get(), F_RDLCK, 500, 10));
    CHILD_ERRNO_ONE_OF(c, set_lock(cfd.get(), F_WRLCK, 100000, 1), EAGAIN, EACCES);
    return c.result();
  });
  EXPECT_EQ(child, "");
  // Closing any descriptor of the file drops the process's POSIX locks.
  ScopedFd other(open(f.c_str(), O_RDONLY));
  other.reset();
  child = RunInChild([&] {
    ChildChecks c;
    ScopedFd cfd(open(f.c_str(), O_RDWR));
    CHILD_OK(c, set_lock(cfd.get(), F_WRLCK, 0, 0));
    return c.result();
  });
  EXPECT_EQ(child, "");
}

// --- space -----------------------------------------------------------------

TEST_F(PosixOpsTest, FallocateAndPunchHole) {
  std::string f = P("alloc");
  ScopedFd fd(open(f.c_str(), O_RDWR | O_CREAT, 0644));
  ASSERT_TRUE(fd.ok());
  ASSERT_SYS(fallocate(fd.get(), 0, 0, 1 << 20));
  struct stat st;
  ASSERT_EQ(fstat(fd.get(), &st), 0);
  EXPECT_EQ(st.st_size, 1 << 20);
  EXPECT_EQ(PreadAll(fd.get(), 1 << 20, 0), std::string(1 << 20, '\0'));
  // KEEP_SIZE does not change the length.
  ASSERT_SYS(fallocate(fd.get(), FALLOC_FL_KEEP_SIZE, 0, 2 << 20));
  ASSERT_EQ(fstat(fd.get(), &st), 0);
  EXPECT_EQ(st.st_size, 1 << 20);

  std::string data(256 << 10, 'x');
  ASSERT_TRUE(PwriteAll(fd.get(), data, 0));
  ASSERT_SYS(fallocate(fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 8192));
  data.replace(4096, 8192, std::string(8192, '\0'));
  // A hole that is not block-aligned zeroes exactly its bytes.
  ASSERT_SYS(fallocate(fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100001, 777));
  data.replace(100001, 777, std::string(777, '\0'));
  EXPECT_TRUE(PreadAll(fd.get(), data.size(), 0) == data) << "punched ranges differ";
  ASSERT_EQ(fstat(fd.get(), &st), 0);
  EXPECT_EQ(st.st_size, 1 << 20);
  fd.reset();
  EXPECT_TRUE(ReadFile(f).substr(0, data.size()) == data) << "differs after reopen";
  // PUNCH_HOLE without KEEP_SIZE is invalid.
  fd.reset(open(f.c_str(), O_RDWR));
  EXPECT_ERRNO(EOPNOTSUPP, fallocate(fd.get(), FALLOC_FL_PUNCH_HOLE, 0, 10));
}

TEST_F(PosixOpsTest, MmapWriteThenRead) {
  std::string f = P("mapped");
  constexpr size_t kSize = 3 << 20;
  std::string data = Pattern(kSize, 7);
  {
    ScopedFd fd(open(f.c_str(), O_RDWR | O_CREAT, 0644));
    ASSERT_TRUE(fd.ok());
    ASSERT_SYS(ftruncate(fd.get(), kSize));
    void* p = mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    ASSERT_NE(p, MAP_FAILED) << ErrnoText(errno);
    std::memcpy(p, data.data(), kSize);
    EXPECT_SYS(msync(p, kSize, MS_SYNC));
    EXPECT_SYS(munmap(p, kSize));
  }
  EXPECT_TRUE(ReadFile(f) == data) << "read() after munmap differs";
  // And a read-only mapping sees what write() wrote.
  ScopedFd fd(open(f.c_str(), O_RDWR));
  ASSERT_TRUE(PwriteAll(fd.get(), "written", 4096));
  void* p = mmap(nullptr, kSize, PROT_READ, MAP_SHARED, fd.get(), 0);
  ASSERT_NE(p, MAP_FAILED);
  EXPECT_EQ(std::string(static_cast<char*>(p) + 4096, 7), "written");
  munmap(p, kSize);
}

// --- permissions as another user --------------------------------------------

TEST_F(PosixOpsTest, PermissionsAsAnotherUser) {
  SHOAL_REQUIRE_ROOT();
  std::string secret = P("secret");
  ASSERT_TRUE(WriteFile(secret, "s"));
  ASSERT_SYS(chmod(secret.c_str(), 0600));
  std::string shared = P("shared");
  ASSERT_TRUE(WriteFile(shared, "w"));
  ASSERT_SYS(chmod(shared.c_str(), 0666));
  std::string readonly = P("readonly");
  ASSERT_TRUE(WriteFile(readonly, "r"));
  ASSERT_SYS(mkdir(C("private"), 0700));
  ASSERT_SYS(mkdir(C("closed"), 0755));

  std::string child = RunInChild(
      [&] {
        ChildChecks c;
        CHILD_ERRNO(c, EACCES, open(secret.c_str(), O_RDONLY));
        CHILD_ERRNO(c, EACCES, open(secret.c_str(), O_WRONLY));
        CHILD_ERRNO(c, EACCES, access(secret.c_str(), R_OK));
        CHILD_ERRNO(c, EACCES, open(readonly.c_str(), O_WRONLY));
        CHILD_ERRNO(c, EACCES, truncate(readonly.c_str(), 0));
        CHILD_ERRNO(c, EACCES, open(Path("private/x").c_str(), O_RDONLY));
        CHILD_ERRNO(c, EACCES, open(Path("closed/x").c_str(), O_RDWR | O_CREAT, 0644));
        CHILD_ERRNO(c, EACCES, mkdir(Path("closed/sub").c_str(), 0755));
        CHILD_ERRNO(c, EPERM, chmod(readonly.c_str(), 0777));
        CHILD_ERRNO(c, EPERM, chown(readonly.c_str(), kNobody, kNogroup));
        struct timespec times[2] = {{1, 0}, {1, 0}};
        CHILD_ERRNO(c, EPERM, utimensat(AT_FDCWD, shared.c_str(), times, 0));
        // Write permission is enough to set the times to now.
        CHILD_OK(c, utimensat(AT_FDCWD, shared.c_str(), nullptr, 0));
        CHILD_ERRNO(c, EACCES, utimensat(AT_FDCWD, readonly.c_str(), nullptr, 0));
        CHILD_ERRNO(c, EACCES, setxattr(readonly.c_str(), "user.x", "1", 1, 0));
        int fd = open(shared.c_str(), O_WRONLY | O_APPEND);
        c.Ok(fd >= 0, "open shared O_WRONLY");
        if (fd >= 0) {
          c.True(write(fd, "+", 1) == 1, "write to a 0666 file");
          close(fd);
        }
        return c.result();
      },
      kNobody, kNogroup);
  EXPECT_EQ(child, "");
  EXPECT_EQ(ReadFile(shared), "w+");
  EXPECT_EQ(ReadFile(readonly), "r");
}

TEST_F(PosixOpsTest, StickyDirectory) {
  SHOAL_REQUIRE_ROOT();
  ASSERT_SYS(mkdir(C("tmp"), 0777));
  ASSERT_SYS(chmod(C("tmp"), 01777));
  EXPECT_EQ(Stat(P("tmp")).st_mode & 07777, 01777u);
  ASSERT_TRUE(WriteFile(P("tmp/roots"), "r"));
  ASSERT_SYS(chmod(C("tmp/roots"), 0666));
  std::string dir = P("tmp");
  std::string child = RunInChild(
      [&] {
        ChildChecks c;
        CHILD_ERRNO_ONE_OF(c, unlink((dir + "/roots").c_str()), EPERM, EACCES);
        CHILD_ERRNO_ONE_OF(c, rename((dir + "/roots").c_str(), (dir + "/stolen").c_str()), EPERM,
                           EACCES);
        // Its own files it may remove.
        int fd = open((dir + "/mine").c_str(), O_RDWR | O_CREAT | O_EXCL, 0644);
        c.Ok(fd >= 0, "create in sticky dir");
        if (fd >= 0) close(fd);
        struct stat st;
        CHILD_OK(c, stat((dir + "/mine").c_str(), &st));
        c.True(st.st_uid == kNobody, "new file owned by the creator");
        CHILD_OK(c, rename((dir + "/mine").c_str(), (dir + "/mine2").c_str()));
        CHILD_OK(c, unlink((dir + "/mine2").c_str()));
        return c.result();
      },
      kNobody, kNogroup);
  EXPECT_EQ(child, "");
  EXPECT_EQ(ReadFile(P("tmp/roots")), "r");
  // Root (the directory's owner) may delete anyone's file.
  ASSERT_SYS(unlink(C("tmp/roots")));
}

TEST_F(PosixOpsTest, SetgidDirectoryInheritance) {
  SHOAL_REQUIRE_ROOT();
  constexpr gid_t kGroup = 4321;
  ASSERT_SYS(mkdir(C("sg"), 0775));
  ASSERT_SYS(chown(C("sg"), 0, kGroup));
  ASSERT_SYS(chmod(C("sg"), 02775));
  EXPECT_EQ(Stat(P("sg")).st_mode & 07777, 02775u);
  ASSERT_TRUE(WriteFile(P("sg/file"), "f"));
  EXPECT_EQ(Stat(P("sg/file")).st_gid, kGroup);
  ASSERT_SYS(mkdir(C("sg/sub"), 0755));
  struct stat st = Stat(P("sg/sub"));
  EXPECT_EQ(st.st_gid, kGroup);
  EXPECT_TRUE(st.st_mode & S_ISGID) << std::oct << st.st_mode;
  // And on down.
  ASSERT_SYS(mkdir(C("sg/sub/deeper"), 0755));
  st = Stat(P("sg/sub/deeper"));
  EXPECT_EQ(st.st_gid, kGroup);
  EXPECT_TRUE(st.st_mode & S_ISGID);
  ASSERT_SYS(symlink("file", C("sg/link")));
  EXPECT_EQ(Lstat(P("sg/link")).st_gid, kGroup);
  // Outside the setgid dir, new files get the creator's group.
  ASSERT_TRUE(WriteFile(P("plain"), "p"));
  EXPECT_EQ(Stat(P("plain")).st_gid, getegid());
}

}  // namespace
}  // namespace shoal::testing
