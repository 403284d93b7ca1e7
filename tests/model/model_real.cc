#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <string>

#include "model_run.h"

namespace shoal::model {

// ---------------------------------------------------------------------------
// The real side.

Outcome ModelRun::RealStat(Outcome o, const std::string& path, bool follow) {
  struct stat st;
  if (o.err == 0 && fstatat(real_fd_, path.c_str(), &st, follow ? 0 : AT_SYMLINK_NOFOLLOW) == 0)
    o.attrs = FromStat(st);
  return o;
}

Outcome ModelRun::RealFstat(Outcome o, int fd) {
  struct stat st;
  if (o.err == 0 && fstat(fd, &st) == 0) o.attrs = FromStat(st);
  return o;
}

Outcome ModelRun::RealApply(const Op& op, int* new_fd) {
  const char* a = op.a.c_str();
  const char* b = op.b.c_str();
  int fd = IsHandleOp(op.kind) ? handles_[op.handle].fd : -1;
  switch (op.kind) {
    case Kind::kCreate:
    case Kind::kOpen: {
      int flags = O_RDWR | op.flags | O_CLOEXEC;
      if (op.kind == Kind::kCreate) flags |= O_CREAT | O_NOFOLLOW;
      if (!op.follow) flags |= O_NOFOLLOW;
      int nfd = openat(real_fd_, a, flags, op.mode);
      Outcome o = FromSyscall(nfd);
      if (nfd >= 0) *new_fd = nfd;
      return RealFstat(o, nfd);
    }
    case Kind::kWrite: {
      std::string data = RandomBytes(op.data_seed, op.len);
      ssize_t n = pwrite(fd, data.data(), data.size(), static_cast<off_t>(op.off));
      Outcome o = FromSyscall(n);
      if (n >= 0) o.count = static_cast<uint64_t>(n);
      return o;
    }
    case Kind::kRead: {
      std::string buf(op.len, '\0');
      ssize_t n = pread(fd, buf.data(), buf.size(), static_cast<off_t>(op.off));
      Outcome o = FromSyscall(n);
      if (n >= 0) o.data = buf.substr(0, static_cast<size_t>(n));
      return o;
    }
    case Kind::kFstat:
      return RealFstat(Outcome{}, fd);
    case Kind::kClose: {
      Outcome o = FromSyscall(close(fd));
      handles_[op.handle].fd = -1;
      return o;
    }
    case Kind::kFsync:
      return FromSyscall(op.flags ? fdatasync(fd) : fsync(fd));
    case Kind::kTruncate:
      return RealStat(FromSyscall(truncate(RealPath(op.a).c_str(), static_cast<off_t>(op.len))),
                      op.a, true);
    case Kind::kFtruncate:
      return RealFstat(FromSyscall(ftruncate(fd, static_cast<off_t>(op.len))), fd);
    case Kind::kFallocate:
      return RealFstat(FromSyscall(fallocate(fd, op.flags, static_cast<off_t>(op.off),
                                             static_cast<off_t>(op.len))),
                       fd);
    case Kind::kRename:
      return FromSyscall(renameat2(real_fd_, a, real_fd_, b, static_cast<unsigned>(op.flags)));
    case Kind::kLink:
      return RealStat(FromSyscall(linkat(real_fd_, a, real_fd_, b, 0)), op.b, false);
    case Kind::kUnlink:
      return FromSyscall(unlinkat(real_fd_, a, 0));
    case Kind::kRmdir:
      return FromSyscall(unlinkat(real_fd_, a, AT_REMOVEDIR));
    case Kind::kMkdir:
      return RealStat(FromSyscall(mkdirat(real_fd_, a, op.mode)), op.a, false);
    case Kind::kSymlink:
      return RealStat(FromSyscall(symlinkat(op.text.c_str(), real_fd_, a)), op.a, false);
    case Kind::kReadlink: {
      std::string buf(4096, '\0');
      ssize_t n = readlinkat(real_fd_, a, buf.data(), buf.size());
      Outcome o = FromSyscall(n);
      if (n >= 0) o.data = buf.substr(0, static_cast<size_t>(n));
      return o;
    }
    case Kind::kMknodFifo:
      return RealStat(FromSyscall(mknodat(real_fd_, a, S_IFIFO | op.mode, 0)), op.a, false);
    case Kind::kStat: {
      struct stat st;
      Outcome o = FromSyscall(fstatat(real_fd_, a, &st, op.follow ? 0 : AT_SYMLINK_NOFOLLOW));
      if (o.err == 0) o.attrs = FromStat(st);
      return o;
    }
    case Kind::kChmod:
      return RealStat(FromSyscall(fchmodat(real_fd_, a, op.mode, 0)), op.a, true);
    case Kind::kChown:
      return RealStat(
          FromSyscall(fchownat(real_fd_, a, op.uid, op.gid, op.follow ? 0 : AT_SYMLINK_NOFOLLOW)),
          op.a, op.follow);
    case Kind::kUtimens: {
      struct timespec ts[2];
      ts[0].tv_sec = op.atime.sec;
      ts[0].tv_nsec = op.atime_omit ? UTIME_OMIT : op.atime_now ? UTIME_NOW : op.atime.nsec;
      ts[1].tv_sec = op.mtime.sec;
      ts[1].tv_nsec = op.mtime_now ? UTIME_NOW : op.mtime.nsec;
      Outcome o =
          RealStat(FromSyscall(utimensat(real_fd_, a, ts, op.follow ? 0 : AT_SYMLINK_NOFOLLOW)),
                   op.a, op.follow);
      if (o.err == 0 && !op.mtime_now) {
        struct stat st;
        if (fstatat(real_fd_, a, &st, op.follow ? 0 : AT_SYMLINK_NOFOLLOW) == 0)
          explicit_mtime_[st.st_ino] = op.mtime;
      }
      return o;
    }
    case Kind::kSetXattr: {
      Outcome o = FromSyscall(setxattr(RealPath(op.a).c_str(), op.text.c_str(), op.value.data(),
                                       op.value.size(), op.flags));
      if (o.err == 0) {
        xattr_paths_.push_back(op.a);
        if (xattr_paths_.size() > 8) xattr_paths_.erase(xattr_paths_.begin());
      }
      return o;
    }
    case Kind::kGetXattr: {
      std::string buf(meta::kMaxXattrValue, '\0');
      ssize_t n = getxattr(RealPath(op.a).c_str(), op.text.c_str(), buf.data(), buf.size());
      Outcome o = FromSyscall(n);
      if (n >= 0) o.data = buf.substr(0, static_cast<size_t>(n));
      return o;
    }
    case Kind::kRemoveXattr:
      return FromSyscall(removexattr(RealPath(op.a).c_str(), op.text.c_str()));
    case Kind::kCollectGarbage:
    case Kind::kRemount:
      return Outcome{};
  }
  return Outcome{};
}

}  // namespace shoal::model
