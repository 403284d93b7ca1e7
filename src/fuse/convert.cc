#include "fuse/convert.h"

#include <fuse_lowlevel.h>
#include <sys/file.h>
#include <sys/xattr.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <string>

namespace shoal::fuse {
namespace {

struct timespec TimespecOf(const meta::Timespec& t) {
  struct timespec ts {};
  ts.tv_sec = static_cast<time_t>(t.sec);
  ts.tv_nsec = static_cast<long>(t.nsec);
  return ts;
}

meta::Timespec MetaTimeOf(const struct timespec& ts) {
  return meta::Timespec{static_cast<int64_t>(ts.tv_sec), static_cast<uint32_t>(ts.tv_nsec)};
}

}  // namespace

struct stat StatOf(meta::Ino ino, const meta::Attr& attr) {
  struct stat st {};
  st.st_ino = ino;
  st.st_mode = attr.FullMode();
  st.st_nlink = attr.nlink;
  st.st_uid = attr.uid;
  st.st_gid = attr.gid;
  st.st_rdev = static_cast<dev_t>(attr.rdev);
  st.st_size = static_cast<off_t>(attr.length);
  st.st_blocks = static_cast<blkcnt_t>((attr.length + 511) / 512);
  st.st_blksize = kStatBlockSize;
  st.st_atim = TimespecOf(attr.atime);
  st.st_mtim = TimespecOf(attr.mtime);
  st.st_ctim = TimespecOf(attr.ctime);
  return st;
}

SetAttrArgs SetAttrArgsOf(const struct stat& attr, int to_set) {
  SetAttrArgs out;
  meta::SetAttrRequest& req = out.req;
  if (to_set & FUSE_SET_ATTR_MODE) {
    req.mask |= meta::kSetMode;
    req.mode = attr.st_mode & 07777;
  }
  if (to_set & FUSE_SET_ATTR_UID) {
    req.mask |= meta::kSetUid;
    req.uid = attr.st_uid;
  }
  if (to_set & FUSE_SET_ATTR_GID) {
    req.mask |= meta::kSetGid;
    req.gid = attr.st_gid;
  }
  // The kernel sends ATIME together with ATIME_NOW for UTIME_NOW: "now" wins,
  // because its permission rule (write access suffices) differs.
  if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
    req.mask |= meta::kSetAtimeNow;
  } else if (to_set & FUSE_SET_ATTR_ATIME) {
    req.mask |= meta::kSetAtime;
    req.atime = MetaTimeOf(attr.st_atim);
  }
  if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
    req.mask |= meta::kSetMtimeNow;
  } else if (to_set & FUSE_SET_ATTR_MTIME) {
    req.mask |= meta::kSetMtime;
    req.mtime = MetaTimeOf(attr.st_mtim);
  }
  if (to_set & FUSE_SET_ATTR_CTIME) {
    req.mask |= meta::kSetCtime;
    req.ctime = MetaTimeOf(attr.st_ctim);
  }
  if (to_set & FUSE_SET_ATTR_SIZE) out.size = static_cast<uint64_t>(attr.st_size);
  return out;
}

Result<meta::RenameFlags> RenameFlagsOf(unsigned int flags) {
  switch (flags) {
    case 0:
      return meta::RenameFlags::kNone;
    case RENAME_NOREPLACE:
      return meta::RenameFlags::kNoReplace;
    case RENAME_EXCHANGE:
      return meta::RenameFlags::kExchange;
    default:
      return Invalid("rename flags " + std::to_string(flags) +
                     " are not supported: only RENAME_NOREPLACE or RENAME_EXCHANGE, alone");
  }
}

Result<meta::XattrFlags> XattrFlagsOf(int flags) {
  switch (flags) {
    case 0:
      return meta::XattrFlags::kAny;
    case XATTR_CREATE:
      return meta::XattrFlags::kCreate;
    case XATTR_REPLACE:
      return meta::XattrFlags::kReplace;
    default:
      return Invalid("setxattr flags " + std::to_string(flags) +
                     " are not supported: use XATTR_CREATE or XATTR_REPLACE, alone");
  }
}

Result<meta::PosixLock> PosixLockOf(const struct flock& lock) {
  meta::PosixLock out;
  switch (lock.l_type) {
    case F_RDLCK:
      out.type = meta::LockType::kRead;
      break;
    case F_WRLCK:
      out.type = meta::LockType::kWrite;
      break;
    case F_UNLCK:
      out.type = meta::LockType::kUnlock;
      break;
    default:
      return Invalid("lock type " + std::to_string(lock.l_type) + " is unknown");
  }
  if (lock.l_start < 0 || lock.l_len < 0) {
    return Invalid("lock range start " + std::to_string(lock.l_start) + " length " +
                   std::to_string(lock.l_len) + " is negative");
  }
  out.start = static_cast<uint64_t>(lock.l_start);
  if (lock.l_len == 0) {
    out.end = std::numeric_limits<uint64_t>::max();
  } else {
    // start + len - 1 cannot overflow: both are at most INT64_MAX.
    out.end = out.start + static_cast<uint64_t>(lock.l_len) - 1;
  }
  out.pid = static_cast<uint32_t>(lock.l_pid);
  return out;
}

struct flock FlockOf(const meta::PosixLock& lock) {
  struct flock out {};
  switch (lock.type) {
    case meta::LockType::kRead:
      out.l_type = F_RDLCK;
      break;
    case meta::LockType::kWrite:
      out.l_type = F_WRLCK;
      break;
    case meta::LockType::kUnlock:
      out.l_type = F_UNLCK;
      break;
  }
  out.l_whence = SEEK_SET;
  constexpr uint64_t kMaxOff = static_cast<uint64_t>(std::numeric_limits<off_t>::max());
  out.l_start = static_cast<off_t>(std::min(lock.start, kMaxOff));
  if (lock.end == std::numeric_limits<uint64_t>::max() || lock.end >= kMaxOff) {
    out.l_len = 0;
  } else {
    out.l_len = static_cast<off_t>(lock.end - lock.start + 1);
  }
  out.l_pid = static_cast<pid_t>(lock.pid);
  return out;
}

Result<meta::LockType> FlockTypeOf(int op) {
  switch (op & ~LOCK_NB) {
    case LOCK_SH:
      return meta::LockType::kRead;
    case LOCK_EX:
      return meta::LockType::kWrite;
    case LOCK_UN:
      return meta::LockType::kUnlock;
    default:
      return Invalid("flock operation " + std::to_string(op) + " is unknown");
  }
}

struct statvfs StatVfsOf(const meta::StatFs& fs) {
  struct statvfs st {};
  st.f_bsize = kStatFsBlockSize;
  st.f_frsize = kStatFsBlockSize;
  uint64_t used = std::min(fs.used_bytes, fs.total_bytes);
  st.f_blocks = fs.total_bytes / kStatFsBlockSize;
  // Round used bytes up so that df never shows a partly used block as free.
  uint64_t used_blocks = (used + kStatFsBlockSize - 1) / kStatFsBlockSize;
  st.f_bfree = st.f_blocks > used_blocks ? st.f_blocks - used_blocks : 0;
  st.f_bavail = st.f_bfree;
  st.f_files = fs.total_inodes;
  st.f_ffree = fs.total_inodes > fs.used_inodes ? fs.total_inodes - fs.used_inodes : 0;
  st.f_favail = st.f_ffree;
  st.f_namemax = meta::kMaxName;
  return st;
}

}  // namespace shoal::fuse
