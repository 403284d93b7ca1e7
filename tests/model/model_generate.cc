#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "model_run.h"

namespace shoal::model {

namespace {

// Tunables of the operation mix.
constexpr size_t kMaxHandles = 10;        // open handles over all files at once
constexpr size_t kCrowded = 60;           // past this many entries, removals are favoured
constexpr size_t kMaxDepth = 3;           // new names go into directories at most this deep
constexpr double kRemountChance = 0.004;  // per operation, when remounts are on

const std::vector<std::string> kNames = {"a", "b", "c", "d", "e", "f"};
const std::vector<std::string> kXattrNames = {"user.a", "user.b", "user.c"};
const std::vector<uint32_t> kUids = {0, 1000, 65534};
const std::vector<uint32_t> kGids = {0, 100, 65534};

}  // namespace

// ---------------------------------------------------------------------------
// Generation. Choices look at the real tree, which is the same for a given
// seed on every run (listings are sorted), so a seed always makes the same ops.

std::vector<ModelRun::SnapEntry> ModelRun::Snapshot() {
  std::vector<SnapEntry> out;
  std::function<void(int, const std::string&, size_t)> walk = [&](int dirfd, const std::string& rel,
                                                                  size_t depth) {
    int fd = dup(dirfd);
    DIR* d = fdopendir(fd);
    if (!d) {
      close(fd);
      return;
    }
    rewinddir(d);  // the duplicate shares its offset with dirfd
    std::vector<std::string> names;
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    std::sort(names.begin(), names.end());
    for (const std::string& n : names) {
      struct stat st;
      if (fstatat(dirfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      std::string path = rel.empty() ? n : rel + "/" + n;
      out.push_back({path, static_cast<uint32_t>(st.st_mode & S_IFMT), depth});
      if (S_ISDIR(st.st_mode)) {
        int child = openat(dirfd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
        if (child >= 0) {
          walk(child, path, depth + 1);
          close(child);
        }
      }
    }
    closedir(d);
  };
  walk(real_fd_, "", 1);
  return out;
}

std::string ModelRun::NewName() {
  if (rng_.Chance(0.01)) return std::string(256, 'n');  // ENAMETOOLONG
  if (rng_.Chance(0.01)) return std::string(255, 'm');  // the longest allowed
  return rng_.Pick(kNames);
}

std::string ModelRun::RandomPath(size_t max_depth) {
  size_t depth = rng_.Range(1, max_depth);
  Path p;
  for (size_t i = 0; i < depth; ++i) p.push_back(rng_.Pick(kNames));
  return Join(p);
}

std::string ModelRun::AnyPath(const std::vector<SnapEntry>& snap) {
  if (!snap.empty() && rng_.Chance(0.85)) return rng_.Pick(snap).path;
  return RandomPath(3);
}

std::string ModelRun::PathOf(const std::vector<SnapEntry>& snap, uint32_t type) {
  std::vector<std::string> match;
  for (const SnapEntry& e : snap)
    if (e.type == type) match.push_back(e.path);
  if (!match.empty() && rng_.Chance(0.9)) return rng_.Pick(match);
  return AnyPath(snap);
}

std::string ModelRun::NewPath(const std::vector<SnapEntry>& snap) {
  std::vector<std::string> dirs = {""};
  for (const SnapEntry& e : snap)
    if (e.type == S_IFDIR && e.depth < kMaxDepth) dirs.push_back(e.path);
  std::string parent = rng_.Chance(0.9) ? rng_.Pick(dirs) : RandomPath(2);
  std::string name = NewName();
  return parent.empty() ? name : parent + "/" + name;
}

// Offsets favour the end of file and the 64 KiB, 1 MiB and 4 MiB (block)
// boundaries, where buffering, slicing and block splitting change behaviour.
uint64_t ModelRun::Offset(uint64_t size) {
  double r = rng_.Unit();
  uint64_t off;
  if (r < 0.35) {
    off = rng_.Range(size > 4096 ? size - 4096 : 0, size + 4096);
  } else if (r < 0.55) {
    off = rng_.Range(0, std::max<uint64_t>(size, 1));
  } else if (r < 0.72) {
    off = (rng_.Range(1, 20) << 16) + rng_.Range(0, 128) - 64;
  } else if (r < 0.90) {
    off = (rng_.Range(1, 7) << 20) + rng_.Range(0, 128) - 64;
  } else if (r < 0.95) {
    off = (4ull << 20) + rng_.Range(0, 8192) - 4096;
  } else if (r < 0.975 && options_.max_file_size > kChunkSize) {
    off = kChunkSize + rng_.Range(0, 8192) - 4096;  // across the first chunk boundary
  } else {
    off = rng_.Range(0, options_.max_file_size - 1);
  }
  return std::min(off, options_.max_file_size - 1);
}

uint64_t ModelRun::Length() {
  double r = rng_.Unit();
  if (r < 0.45) return rng_.Range(1, 512);
  if (r < 0.75) return rng_.Range(1, 70000);
  if (r < 0.93) return rng_.Range(1, 300000);
  return rng_.Range(1, 1200000);
}

uint64_t ModelRun::NewSize(uint64_t size) {
  double r = rng_.Unit();
  uint64_t n;
  if (r < 0.35) {
    n = rng_.Range(0, size);
  } else if (r < 0.65) {
    n = size + rng_.Range(0, 200000);
  } else if (r < 0.8) {
    n = (rng_.Range(0, 20) << 16) + rng_.Range(0, 2) - 1;
  } else if (r < 0.95) {
    n = (rng_.Range(1, 7) << 20) + rng_.Range(0, 2) - 1;
  } else if (r < 0.975 && options_.max_file_size > kChunkSize) {
    n = kChunkSize + rng_.Range(0, 2) - 1;
  } else {
    n = rng_.Range(0, options_.max_file_size - 1);
  }
  return std::min(n, options_.max_file_size - 1);
}

uint64_t ModelRun::RealSize(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_size);
}

// The type of what `path` names on the real side (0 if nothing).
uint32_t ModelRun::RealTypeAt(const std::string& path, bool follow) {
  struct stat st;
  if (fstatat(real_fd_, path.c_str(), &st, follow ? 0 : AT_SYMLINK_NOFOLLOW) != 0) return 0;
  return st.st_mode & S_IFMT;
}

Op ModelRun::Generate(const std::vector<SnapEntry>& snap) {
  bool crowded = snap.size() > kCrowded;
  const std::vector<std::pair<Kind, int>> table = {
      {Kind::kCreate, crowded ? 3 : 10},
      {Kind::kOpen, 6},
      {Kind::kWrite, 20},
      {Kind::kRead, 10},
      {Kind::kFstat, 3},
      {Kind::kClose, 6},
      {Kind::kFsync, 3},
      {Kind::kTruncate, 3},
      {Kind::kFtruncate, 3},
      {Kind::kFallocate, 4},
      {Kind::kRename, 9},
      {Kind::kLink, crowded ? 1 : 4},
      {Kind::kUnlink, crowded ? 14 : 5},
      {Kind::kMkdir, crowded ? 1 : 5},
      {Kind::kRmdir, crowded ? 8 : 3},
      {Kind::kSymlink, crowded ? 1 : 4},
      {Kind::kReadlink, 2},
      {Kind::kMknodFifo, crowded ? 0 : 1},
      {Kind::kStat, 4},
      {Kind::kChmod, 3},
      {Kind::kChown, 2},
      {Kind::kUtimens, 3},
      {Kind::kSetXattr, 4},
      {Kind::kGetXattr, 3},
      {Kind::kRemoveXattr, 2},
      {Kind::kCollectGarbage, 1},
  };
  Op op;
  if (options_.remounts && rng_.Chance(kRemountChance)) {
    op.kind = Kind::kRemount;
    return op;
  }
  int total = 0;
  for (const auto& [k, w] : table) total += w;
  int pick = static_cast<int>(rng_.Range(0, total - 1));
  for (const auto& [k, w] : table) {
    if (pick < w) {
      op.kind = k;
      break;
    }
    pick -= w;
  }
  if (IsHandleOp(op.kind) && handles_.empty())
    op.kind = rng_.Chance(0.5) ? Kind::kCreate : Kind::kOpen;
  if ((op.kind == Kind::kCreate || op.kind == Kind::kOpen) && handles_.size() >= kMaxHandles)
    op.kind = Kind::kClose;
  if (IsHandleOp(op.kind)) op.handle = rng_.Range(0, handles_.size() - 1);

  switch (op.kind) {
    case Kind::kCreate:
      op.a = rng_.Chance(0.6) ? NewPath(snap) : PathOf(snap, S_IFREG);
      if (rng_.Chance(0.25)) op.flags |= O_EXCL;
      if (rng_.Chance(0.25)) op.flags |= O_TRUNC;
      if (rng_.Chance(0.1)) op.flags |= O_APPEND;
      op.mode = 0600 | static_cast<uint32_t>(rng_.Range(0, 0777));
      if (rng_.Chance(0.05)) op.mode |= rng_.Chance(0.5) ? S_ISUID : (S_ISGID | S_IXGRP);
      // Opening a fifo for reading and writing would succeed and then block.
      if (RealTypeAt(op.a, false) == S_IFIFO) op.flags |= O_EXCL;
      break;
    case Kind::kOpen:
      op.a = PathOf(snap, S_IFREG);
      op.follow = rng_.Chance(0.7);
      if (rng_.Chance(0.2)) op.flags |= O_TRUNC;
      if (rng_.Chance(0.1)) op.flags |= O_APPEND;
      if (RealTypeAt(op.a, op.follow) == S_IFIFO) op.kind = Kind::kStat;
      break;
    case Kind::kWrite: {
      uint64_t size = RealSize(handles_[op.handle].fd);
      op.off = Offset(size);
      op.len = std::min(Length(), options_.max_file_size - op.off);
      op.data_seed = rng_.Next();
      break;
    }
    case Kind::kRead: {
      uint64_t size = RealSize(handles_[op.handle].fd);
      op.off = rng_.Chance(0.8) ? rng_.Range(0, size + 100) : Offset(size);
      op.len = rng_.Range(1, rng_.Chance(0.8) ? 70000 : 300000);
      break;
    }
    case Kind::kFsync:
      op.flags = rng_.Chance(0.3) ? 1 : 0;
      break;
    case Kind::kFtruncate:
      op.len = NewSize(RealSize(handles_[op.handle].fd));
      break;
    case Kind::kTruncate: {
      op.a = PathOf(snap, S_IFREG);
      struct stat st;
      uint64_t size = fstatat(real_fd_, op.a.c_str(), &st, 0) == 0 ? st.st_size : 0;
      op.len = NewSize(size);
      break;
    }
    case Kind::kFallocate: {
      const std::vector<int> modes = {FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                      FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                      FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                      FALLOC_FL_ZERO_RANGE,
                                      FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
                                      0,
                                      FALLOC_FL_KEEP_SIZE};
      op.flags = rng_.Pick(modes);
      uint64_t size = RealSize(handles_[op.handle].fd);
      op.off = rng_.Chance(0.7) ? rng_.Range(0, std::max<uint64_t>(size, 1)) : Offset(size);
      op.len = std::min(Length(), options_.max_file_size - op.off);
      break;
    }
    case Kind::kRename: {
      op.a = AnyPath(snap);
      double r = rng_.Unit();
      if (r < 0.3) {
        op.b = AnyPath(snap);
      } else if (r < 0.65) {
        op.b = NewPath(snap);
      } else if (r < 0.8) {
        op.b = op.a + "/" + rng_.Pick(kNames);  // into its own subtree
      } else if (r < 0.9 && op.a.find('/') != std::string::npos) {
        Path p = Split(op.a);
        op.b = Join(p, rng_.Range(1, p.size() - 1));  // onto one of its ancestors
      } else {
        op.b = RandomPath(3);
      }
      double f = rng_.Unit();
      op.flags = f < 0.1 ? RENAME_NOREPLACE : f < 0.2 ? RENAME_EXCHANGE : 0;
      break;
    }
    case Kind::kLink:
      op.a = rng_.Chance(0.7) ? PathOf(snap, S_IFREG) : AnyPath(snap);
      op.b = rng_.Chance(0.75) ? NewPath(snap) : AnyPath(snap);
      break;
    case Kind::kUnlink:
      op.a = rng_.Chance(0.5)   ? PathOf(snap, S_IFREG)
             : rng_.Chance(0.5) ? PathOf(snap, S_IFLNK)
                                : AnyPath(snap);
      break;
    case Kind::kRmdir:
      op.a = rng_.Chance(0.8) ? PathOf(snap, S_IFDIR) : AnyPath(snap);
      break;
    case Kind::kMkdir:
      op.a = rng_.Chance(0.9) ? NewPath(snap) : AnyPath(snap);
      op.mode = static_cast<uint32_t>(0700 | rng_.Range(0, 0777));
      if (rng_.Chance(0.1)) op.mode |= S_ISVTX;
      break;
    case Kind::kSymlink: {
      op.a = NewPath(snap);
      double r = rng_.Unit();
      if (r < 0.6 && !snap.empty()) {
        op.text = rng_.Pick(snap).path;
      } else if (r < 0.9) {
        op.text = RandomPath(2);
      } else {
        op.text = Split(op.a).back();  // points at itself: ELOOP when followed
      }
      break;
    }
    case Kind::kReadlink:
      op.a = rng_.Chance(0.8) ? PathOf(snap, S_IFLNK) : AnyPath(snap);
      break;
    case Kind::kMknodFifo:
      op.a = NewPath(snap);
      op.mode = static_cast<uint32_t>(rng_.Range(0, 0777));
      break;
    case Kind::kStat:
      op.a = AnyPath(snap);
      op.follow = rng_.Chance(0.5);
      break;
    case Kind::kChmod:
      op.a = AnyPath(snap);
      op.mode = static_cast<uint32_t>(rng_.Range(0, 0777));
      if (rng_.Chance(0.2)) op.mode |= static_cast<uint32_t>(rng_.Range(0, 07) << 9);
      break;
    case Kind::kChown:
      op.a = AnyPath(snap);
      op.uid = rng_.Pick(kUids);
      op.gid = rng_.Pick(kGids);
      op.follow = rng_.Chance(0.8);
      break;
    case Kind::kUtimens:
      op.a = AnyPath(snap);
      op.follow = rng_.Chance(0.8);
      op.atime = Timespec{static_cast<int64_t>(rng_.Range(0, (1ull << 31) - 1)),
                          static_cast<uint32_t>(rng_.Range(0, 999999999))};
      op.mtime = Timespec{static_cast<int64_t>(rng_.Range(0, (1ull << 31) - 1)),
                          static_cast<uint32_t>(rng_.Range(0, 999999999))};
      op.atime_omit = rng_.Chance(0.1);
      op.atime_now = !op.atime_omit && rng_.Chance(0.05);
      op.mtime_now = rng_.Chance(0.05);
      break;
    case Kind::kSetXattr: {
      op.a = AnyPath(snap);
      op.text = rng_.Pick(kXattrNames);
      op.value = RandomBytes(rng_.Next(), rng_.Range(0, 48));
      double f = rng_.Unit();
      op.flags = f < 0.6 ? 0 : f < 0.8 ? XATTR_CREATE : XATTR_REPLACE;
      break;
    }
    case Kind::kGetXattr:
    case Kind::kRemoveXattr:
      op.a = !xattr_paths_.empty() && rng_.Chance(0.5) ? rng_.Pick(xattr_paths_) : AnyPath(snap);
      op.text = rng_.Pick(kXattrNames);
      break;
    default:
      break;
  }
  return op;
}

std::string ModelRun::Describe(const Op& op) const {
  auto h = [&]() {
    if (op.handle >= handles_.size()) return fmt::format("h{}", op.handle);
    return fmt::format("h{}(ino {}, opened as {})", op.handle, handles_[op.handle].ino,
                       Quote(handles_[op.handle].opened_as));
  };
  switch (op.kind) {
    case Kind::kCreate:
      return fmt::format("create {} flags={} mode={:04o}", Quote(op.a), OpenFlagsText(op.flags),
                         op.mode);
    case Kind::kOpen:
      return fmt::format("open {} flags={}{}", Quote(op.a), OpenFlagsText(op.flags),
                         FollowText(op.follow));
    case Kind::kWrite:
      return fmt::format("write {} off={} len={} data_seed={:#x}", h(), op.off, op.len,
                         op.data_seed);
    case Kind::kRead:
      return fmt::format("read {} off={} len={}", h(), op.off, op.len);
    case Kind::kFstat:
      return fmt::format("fstat {}", h());
    case Kind::kClose:
      return fmt::format("close {}", h());
    case Kind::kFsync:
      return fmt::format("{} {}", op.flags ? "fdatasync" : "fsync", h());
    case Kind::kTruncate:
      return fmt::format("truncate {} to {}", Quote(op.a), op.len);
    case Kind::kFtruncate:
      return fmt::format("ftruncate {} to {}", h(), op.len);
    case Kind::kFallocate:
      return fmt::format("fallocate {} mode={} off={} len={}", h(), FallocText(op.flags), op.off,
                         op.len);
    case Kind::kRename:
      return fmt::format("rename {} -> {}{}", Quote(op.a), Quote(op.b), RenameFlagsText(op.flags));
    case Kind::kLink:
      return fmt::format("link {} -> {}", Quote(op.a), Quote(op.b));
    case Kind::kUnlink:
      return fmt::format("unlink {}", Quote(op.a));
    case Kind::kMkdir:
      return fmt::format("mkdir {} mode={:04o}", Quote(op.a), op.mode);
    case Kind::kRmdir:
      return fmt::format("rmdir {}", Quote(op.a));
    case Kind::kSymlink:
      return fmt::format("symlink {} -> {}", Quote(op.a), Quote(op.text));
    case Kind::kReadlink:
      return fmt::format("readlink {}", Quote(op.a));
    case Kind::kMknodFifo:
      return fmt::format("mkfifo {} mode={:04o}", Quote(op.a), op.mode);
    case Kind::kStat:
      return fmt::format("stat {}{}", Quote(op.a), FollowText(op.follow));
    case Kind::kChmod:
      return fmt::format("chmod {} {:04o}", Quote(op.a), op.mode);
    case Kind::kChown:
      return fmt::format("chown {} {}:{}{}", Quote(op.a), op.uid, op.gid, FollowText(op.follow));
    case Kind::kUtimens:
      return fmt::format("utimens {} atime={} mtime={}{}", Quote(op.a),
                         op.atime_omit  ? "OMIT"
                         : op.atime_now ? "NOW"
                                        : TimeText(op.atime),
                         op.mtime_now ? "NOW" : TimeText(op.mtime), FollowText(op.follow));
    case Kind::kSetXattr:
      return fmt::format("setxattr {} {} value[{}]={}{}", Quote(op.a), op.text, op.value.size(),
                         Hex(op.value), XattrFlagsText(op.flags));
    case Kind::kGetXattr:
      return fmt::format("getxattr {} {}", Quote(op.a), op.text);
    case Kind::kRemoveXattr:
      return fmt::format("removexattr {} {}", Quote(op.a), op.text);
    case Kind::kCollectGarbage:
      return "collect garbage";
    case Kind::kRemount:
      return "remount (close every handle, shut down, open again)";
  }
  return "?";
}

}  // namespace shoal::model
