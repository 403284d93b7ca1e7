#include "fuse/convert.h"

#include <fuse_lowlevel.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <cstdio>
#include <limits>

namespace shoal::fuse {
namespace {

void ExpectSameLock(const meta::PosixLock& a, const meta::PosixLock& b) {
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.start, b.start);
  EXPECT_EQ(a.end, b.end);
  EXPECT_EQ(a.pid, b.pid);
}

meta::Attr SampleAttr() {
  meta::Attr a;
  a.type = meta::FileType::kFile;
  a.mode = 04755;
  a.uid = 1000;
  a.gid = 100;
  a.nlink = 2;
  a.length = 1025;
  a.rdev = 0;
  a.atime = {1700000000, 1};
  a.mtime = {1700000001, 2};
  a.ctime = {1700000002, 999999999};
  return a;
}

TEST(StatOf, CopiesEveryField) {
  struct stat st = StatOf(42, SampleAttr());
  EXPECT_EQ(st.st_ino, 42u);
  EXPECT_EQ(st.st_mode, static_cast<mode_t>(S_IFREG | 04755));
  EXPECT_EQ(st.st_nlink, 2u);
  EXPECT_EQ(st.st_uid, 1000u);
  EXPECT_EQ(st.st_gid, 100u);
  EXPECT_EQ(st.st_size, 1025);
  EXPECT_EQ(st.st_blocks, 3);  // 1025 bytes round up to three 512-byte units
  EXPECT_EQ(st.st_blksize, kStatBlockSize);
  EXPECT_EQ(st.st_atim.tv_sec, 1700000000);
  EXPECT_EQ(st.st_atim.tv_nsec, 1);
  EXPECT_EQ(st.st_mtim.tv_sec, 1700000001);
  EXPECT_EQ(st.st_mtim.tv_nsec, 2);
  EXPECT_EQ(st.st_ctim.tv_sec, 1700000002);
  EXPECT_EQ(st.st_ctim.tv_nsec, 999999999);
}

TEST(StatOf, TypesAndDevices) {
  meta::Attr a = SampleAttr();
  a.type = meta::FileType::kDir;
  a.mode = 01777;
  EXPECT_EQ(StatOf(1, a).st_mode, static_cast<mode_t>(S_IFDIR | 01777));
  a.type = meta::FileType::kCharDev;
  a.mode = 0600;
  a.rdev = makedev(1, 3);
  struct stat st = StatOf(9, a);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(major(st.st_rdev), 1u);
  EXPECT_EQ(minor(st.st_rdev), 3u);
  a.type = meta::FileType::kSymlink;
  a.length = 0;
  st = StatOf(9, a);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(st.st_blocks, 0);
}

TEST(SetAttrArgsOf, ModeOwnerSize) {
  struct stat st {};
  st.st_mode = S_IFREG | 0640;
  st.st_uid = 5;
  st.st_gid = 6;
  st.st_size = 12345;
  SetAttrArgs args = SetAttrArgsOf(
      st, FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID | FUSE_SET_ATTR_SIZE);
  EXPECT_EQ(args.req.mask, meta::kSetMode | meta::kSetUid | meta::kSetGid);
  EXPECT_EQ(args.req.mode, 0640u);  // type bits stripped
  EXPECT_EQ(args.req.uid, 5u);
  EXPECT_EQ(args.req.gid, 6u);
  ASSERT_TRUE(args.size.has_value());
  EXPECT_EQ(*args.size, 12345u);
}

TEST(SetAttrArgsOf, NothingSetMeansNothing) {
  struct stat st {};
  st.st_size = 7;
  SetAttrArgs args = SetAttrArgsOf(st, 0);
  EXPECT_EQ(args.req.mask, 0u);
  EXPECT_FALSE(args.size.has_value());
}

TEST(SetAttrArgsOf, ExplicitTimes) {
  struct stat st {};
  st.st_atim = {100, 5};
  st.st_mtim = {200, 6};
  st.st_ctim = {300, 7};
  SetAttrArgs args =
      SetAttrArgsOf(st, FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_CTIME);
  EXPECT_EQ(args.req.mask, meta::kSetAtime | meta::kSetMtime | meta::kSetCtime);
  EXPECT_EQ(args.req.atime, (meta::Timespec{100, 5}));
  EXPECT_EQ(args.req.mtime, (meta::Timespec{200, 6}));
  EXPECT_EQ(args.req.ctime, (meta::Timespec{300, 7}));
}

TEST(SetAttrArgsOf, NowWinsOverExplicitTime) {
  struct stat st {};
  // The kernel sends FATTR_ATIME together with FATTR_ATIME_NOW for UTIME_NOW.
  SetAttrArgs args = SetAttrArgsOf(st, FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW |
                                           FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW);
  EXPECT_EQ(args.req.mask, meta::kSetAtimeNow | meta::kSetMtimeNow);
}

TEST(RenameFlagsOf, AcceptsOneKnownFlag) {
  EXPECT_EQ(*RenameFlagsOf(0), meta::RenameFlags::kNone);
  EXPECT_EQ(*RenameFlagsOf(RENAME_NOREPLACE), meta::RenameFlags::kNoReplace);
  EXPECT_EQ(*RenameFlagsOf(RENAME_EXCHANGE), meta::RenameFlags::kExchange);
  Result<meta::RenameFlags> both = RenameFlagsOf(RENAME_NOREPLACE | RENAME_EXCHANGE);
  ASSERT_FALSE(both.has_value());
  EXPECT_EQ(both.error().code(), Code::kInvalid);
  EXPECT_FALSE(RenameFlagsOf(RENAME_WHITEOUT).has_value());
}

TEST(XattrFlagsOf, AcceptsOneKnownFlag) {
  EXPECT_EQ(*XattrFlagsOf(0), meta::XattrFlags::kAny);
  EXPECT_EQ(*XattrFlagsOf(XATTR_CREATE), meta::XattrFlags::kCreate);
  EXPECT_EQ(*XattrFlagsOf(XATTR_REPLACE), meta::XattrFlags::kReplace);
  Result<meta::XattrFlags> both = XattrFlagsOf(XATTR_CREATE | XATTR_REPLACE);
  ASSERT_FALSE(both.has_value());
  EXPECT_EQ(both.error().code(), Code::kInvalid);
}

TEST(PosixLockOf, RangesAndTypes) {
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = 10;
  fl.l_len = 5;
  fl.l_pid = 77;
  Result<meta::PosixLock> l = PosixLockOf(fl);
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->type, meta::LockType::kWrite);
  EXPECT_EQ(l->start, 10u);
  EXPECT_EQ(l->end, 14u);  // inclusive
  EXPECT_EQ(l->pid, 77u);

  fl.l_type = F_RDLCK;
  fl.l_len = 0;  // to the end of the file
  l = PosixLockOf(fl);
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->type, meta::LockType::kRead);
  EXPECT_EQ(l->end, std::numeric_limits<uint64_t>::max());

  fl.l_type = F_UNLCK;
  EXPECT_EQ(PosixLockOf(fl)->type, meta::LockType::kUnlock);

  fl.l_type = 99;
  EXPECT_FALSE(PosixLockOf(fl).has_value());
  fl.l_type = F_RDLCK;
  fl.l_start = -1;
  EXPECT_FALSE(PosixLockOf(fl).has_value());
}

TEST(FlockOf, RoundTrips) {
  meta::PosixLock l{meta::LockType::kWrite, 100, 199, 12};
  struct flock fl = FlockOf(l);
  EXPECT_EQ(fl.l_type, F_WRLCK);
  EXPECT_EQ(fl.l_whence, SEEK_SET);
  EXPECT_EQ(fl.l_start, 100);
  EXPECT_EQ(fl.l_len, 100);
  EXPECT_EQ(fl.l_pid, 12);
  ExpectSameLock(*PosixLockOf(fl), l);

  meta::PosixLock to_end{meta::LockType::kRead, 5, std::numeric_limits<uint64_t>::max(), 3};
  fl = FlockOf(to_end);
  EXPECT_EQ(fl.l_len, 0);
  ExpectSameLock(*PosixLockOf(fl), to_end);

  meta::PosixLock none{meta::LockType::kUnlock, 0, 0, 0};
  EXPECT_EQ(FlockOf(none).l_type, F_UNLCK);
}

TEST(FlockTypeOf, Operations) {
  EXPECT_EQ(*FlockTypeOf(LOCK_SH), meta::LockType::kRead);
  EXPECT_EQ(*FlockTypeOf(LOCK_EX | LOCK_NB), meta::LockType::kWrite);
  EXPECT_EQ(*FlockTypeOf(LOCK_UN), meta::LockType::kUnlock);
  EXPECT_FALSE(FlockTypeOf(0).has_value());
  EXPECT_FALSE(FlockTypeOf(LOCK_SH | LOCK_EX).has_value());
}

TEST(StatVfsOf, BlocksAndInodes) {
  meta::StatFs fs;
  fs.total_bytes = 1ull << 30;
  fs.used_bytes = 4097;  // two blocks, partly
  fs.total_inodes = 1000;
  fs.used_inodes = 10;
  struct statvfs st = StatVfsOf(fs);
  EXPECT_EQ(st.f_bsize, kStatFsBlockSize);
  EXPECT_EQ(st.f_frsize, kStatFsBlockSize);
  EXPECT_EQ(st.f_blocks, (1ull << 30) / 4096);
  EXPECT_EQ(st.f_bfree, st.f_blocks - 2);
  EXPECT_EQ(st.f_bavail, st.f_bfree);
  EXPECT_EQ(st.f_files, 1000u);
  EXPECT_EQ(st.f_ffree, 990u);
  EXPECT_EQ(st.f_namemax, 255u);
}

TEST(StatVfsOf, OverfullNeverUnderflows) {
  meta::StatFs fs;
  fs.total_bytes = 8192;
  fs.used_bytes = 1 << 20;
  fs.total_inodes = 5;
  fs.used_inodes = 9;
  struct statvfs st = StatVfsOf(fs);
  EXPECT_EQ(st.f_bfree, 0u);
  EXPECT_EQ(st.f_ffree, 0u);
}

}  // namespace
}  // namespace shoal::fuse
