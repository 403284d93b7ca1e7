#include "model_ops.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace shoal::model {

std::string RandomBytes(uint64_t seed, size_t len) {
  std::string out(len, '\0');
  uint64_t x = seed;
  for (size_t i = 0; i < len; i += 8) {
    x += 0x9e3779b97f4a7c15ull;  // splitmix64
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    std::memcpy(out.data() + i, &z, std::min<size_t>(8, len - i));
  }
  return out;
}

Path Split(std::string_view s) {
  Path out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t slash = s.find('/', start);
    if (slash == std::string_view::npos) slash = s.size();
    if (slash > start) out.emplace_back(s.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

std::string Join(const Path& p, size_t n) {
  std::string out;
  for (size_t i = 0; i < n && i < p.size(); ++i) {
    if (i) out += '/';
    out += p[i];
  }
  return out;
}

std::string Join(const Path& p) { return Join(p, p.size()); }

bool IsPrefix(const Path& prefix, const Path& p) {
  return prefix.size() <= p.size() && std::equal(prefix.begin(), prefix.end(), p.begin());
}

std::string ErrName(int err) {
  if (err == 0) return "ok";
  const char* name = strerrorname_np(err);
  return name ? name : fmt::format("errno {}", err);
}

std::string Quote(std::string_view s) {
  if (s.size() > 40) return fmt::format("\"{}...({} bytes)\"", s.substr(0, 12), s.size());
  return fmt::format("\"{}\"", s);
}

std::string Hex(std::string_view s, size_t max) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < max; ++i)
    out += fmt::format("{:02x}", static_cast<unsigned char>(s[i]));
  if (s.size() > max) out += "..";
  return out;
}

std::string DescribeDataDiff(std::string_view real, std::string_view shoal) {
  size_t i = 0;
  while (i < real.size() && i < shoal.size() && real[i] == shoal[i]) ++i;
  if (i == real.size() && i == shoal.size()) return "";
  return fmt::format("{} vs {} bytes, first difference at offset {}: real {} shoal {}", real.size(),
                     shoal.size(), i, Hex(real.substr(std::min(i, real.size()))),
                     Hex(shoal.substr(std::min(i, shoal.size()))));
}

uint32_t TypeBits(FileType t) {
  switch (t) {
    case FileType::kFile:
      return S_IFREG;
    case FileType::kDir:
      return S_IFDIR;
    case FileType::kSymlink:
      return S_IFLNK;
    case FileType::kFifo:
      return S_IFIFO;
    case FileType::kCharDev:
      return S_IFCHR;
    case FileType::kBlockDev:
      return S_IFBLK;
    case FileType::kSocket:
      return S_IFSOCK;
  }
  return 0;
}

std::string TypeName(uint32_t bits) {
  switch (bits) {
    case S_IFREG:
      return "file";
    case S_IFDIR:
      return "dir";
    case S_IFLNK:
      return "symlink";
    case S_IFIFO:
      return "fifo";
    default:
      return fmt::format("type {:o}", bits);
  }
}

Attrs FromShoal(const Attr& a) {
  Attrs out;
  out.type = TypeBits(a.type);
  out.mode = a.mode & 07777;
  out.nlink = a.nlink;
  out.size = a.length;
  out.uid = a.uid;
  out.gid = a.gid;
  out.atime = a.atime;
  out.mtime = a.mtime;
  return out;
}

Attrs FromStat(const struct stat& st) {
  Attrs out;
  out.type = st.st_mode & S_IFMT;
  out.mode = st.st_mode & 07777;
  out.nlink = st.st_nlink;
  out.size = static_cast<uint64_t>(st.st_size);
  out.uid = st.st_uid;
  out.gid = st.st_gid;
  out.atime = Timespec{st.st_atim.tv_sec, static_cast<uint32_t>(st.st_atim.tv_nsec)};
  out.mtime = Timespec{st.st_mtim.tv_sec, static_cast<uint32_t>(st.st_mtim.tv_nsec)};
  return out;
}

std::string TimeText(const Timespec& t) { return fmt::format("{}.{:09}", t.sec, t.nsec); }

std::string AttrsText(const Attrs& a) {
  return fmt::format("{} mode={:04o} nlink={} size={} uid={} gid={} mtime={}", TypeName(a.type),
                     a.mode, a.nlink, a.size, a.uid, a.gid, TimeText(a.mtime));
}

std::string DiffAttrs(const Attrs& real, const Attrs& shoal, bool atime, bool mtime) {
  std::string d;
  auto add = [&d](std::string s) {
    if (!d.empty()) d += ", ";
    d += s;
  };
  if (real.type != shoal.type)
    add(fmt::format("type {} vs {}", TypeName(real.type), TypeName(shoal.type)));
  if (real.mode != shoal.mode) add(fmt::format("mode {:04o} vs {:04o}", real.mode, shoal.mode));
  if (real.nlink != shoal.nlink) add(fmt::format("nlink {} vs {}", real.nlink, shoal.nlink));
  if (real.type != S_IFDIR && real.size != shoal.size)
    add(fmt::format("size {} vs {}", real.size, shoal.size));
  if (real.uid != shoal.uid) add(fmt::format("uid {} vs {}", real.uid, shoal.uid));
  if (real.gid != shoal.gid) add(fmt::format("gid {} vs {}", real.gid, shoal.gid));
  if (atime && !(real.atime == shoal.atime))
    add(fmt::format("atime {} vs {}", TimeText(real.atime), TimeText(shoal.atime)));
  if (mtime && !(real.mtime == shoal.mtime))
    add(fmt::format("mtime {} vs {}", TimeText(real.mtime), TimeText(shoal.mtime)));
  return d;
}

bool IsHandleOp(Kind k) {
  return k == Kind::kWrite || k == Kind::kRead || k == Kind::kFstat || k == Kind::kClose ||
         k == Kind::kFsync || k == Kind::kFtruncate || k == Kind::kFallocate;
}

std::string OpenFlagsText(int flags) {
  std::string s;
  auto add = [&s](const char* f) {
    if (!s.empty()) s += '|';
    s += f;
  };
  if (flags & O_EXCL) add("O_EXCL");
  if (flags & O_TRUNC) add("O_TRUNC");
  if (flags & O_APPEND) add("O_APPEND");
  return s.empty() ? "0" : s;
}

std::string FallocText(int mode) {
  if (mode == 0) return "0";
  std::string s;
  auto add = [&s](const char* f) {
    if (!s.empty()) s += '|';
    s += f;
  };
  if (mode & FALLOC_FL_KEEP_SIZE) add("KEEP_SIZE");
  if (mode & FALLOC_FL_PUNCH_HOLE) add("PUNCH_HOLE");
  if (mode & FALLOC_FL_ZERO_RANGE) add("ZERO_RANGE");
  return s;
}

std::string RenameFlagsText(int flags) {
  if (flags == RENAME_NOREPLACE) return " NOREPLACE";
  if (flags == RENAME_EXCHANGE) return " EXCHANGE";
  return "";
}

std::string XattrFlagsText(int flags) {
  if (flags == XATTR_CREATE) return " XATTR_CREATE";
  if (flags == XATTR_REPLACE) return " XATTR_REPLACE";
  return "";
}

const char* FollowText(bool follow) { return follow ? "" : " nofollow"; }

Outcome FromStatus(const Status& s) {
  Outcome o;
  if (!s.ok()) {
    o.err = ErrnoOf(s.code());
    o.detail = s.ToString();
  }
  return o;
}

Outcome FromSyscall(long rc) {
  Outcome o;
  if (rc < 0) o.err = errno;
  return o;
}

std::string OutcomeText(const Outcome& o) {
  std::string s = ErrName(o.err);
  if (o.count) s += fmt::format(" count={}", *o.count);
  if (o.data) s += fmt::format(" data[{}]={}", o.data->size(), Hex(*o.data, 24));
  if (o.attrs) s += " " + AttrsText(*o.attrs);
  if (!o.detail.empty()) s += " (" + o.detail + ")";
  return s;
}

std::string BackendName(Backend b) { return b == Backend::kMem ? "mem" : "rocksdb+file"; }

}  // namespace shoal::model
