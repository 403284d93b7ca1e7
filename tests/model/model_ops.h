// Building blocks of the model runs (see model_harness.h): operations, what
// each side answered, and the attributes both sides are compared on.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "meta/meta.h"
#include "model_harness.h"

namespace shoal::model {

using meta::Attr;
using meta::Entry;
using meta::FileType;
using meta::Ino;
using meta::Timespec;
using Path = std::vector<std::string>;

// Seeded randomness: the one source of every choice a run makes.
class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  uint64_t Next() { return gen_(); }
  // Uniform in [lo, hi].
  uint64_t Range(uint64_t lo, uint64_t hi) { return lo + gen_() % (hi - lo + 1); }
  // True with probability p (in steps of 1/2^20, plenty here).
  bool Chance(double p) { return static_cast<double>(gen_() & 0xfffff) < p * 0x100000; }
  double Unit() { return static_cast<double>(gen_() & 0xfffff) / 0x100000; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[Range(0, v.size() - 1)];
  }

 private:
  std::mt19937_64 gen_;
};

// Deterministic bytes for a write, so that an operation's description (seed
// and length) is enough to reproduce its data.
std::string RandomBytes(uint64_t seed, size_t len);
Path Split(std::string_view s);
std::string Join(const Path& p, size_t n);
std::string Join(const Path& p);
bool IsPrefix(const Path& prefix, const Path& p);
std::string ErrName(int err);
// Names as they appear in messages: long ones shortened.
std::string Quote(std::string_view s);
std::string Hex(std::string_view s, size_t max = 16);
// Where two byte strings first differ, for messages.
std::string DescribeDataDiff(std::string_view real, std::string_view shoal);

// Attributes both sides can be compared on.
struct Attrs {
  uint32_t type = 0;  // S_IFMT bits
  uint32_t mode = 0;  // 07777
  uint64_t nlink = 0;
  uint64_t size = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  Timespec atime, mtime;
};

uint32_t TypeBits(FileType t);
std::string TypeName(uint32_t bits);
Attrs FromShoal(const Attr& a);
Attrs FromStat(const struct stat& st);
std::string TimeText(const Timespec& t);
std::string AttrsText(const Attrs& a);
// "" when equal. Directory sizes are not compared (ext4 reports its blocks).
std::string DiffAttrs(const Attrs& real, const Attrs& shoal, bool atime, bool mtime);

enum class Kind {
  kCreate,
  kOpen,
  kWrite,
  kRead,
  kFstat,
  kClose,
  kFsync,
  kTruncate,
  kFtruncate,
  kFallocate,
  kRename,
  kLink,
  kUnlink,
  kMkdir,
  kRmdir,
  kSymlink,
  kReadlink,
  kMknodFifo,
  kStat,
  kChmod,
  kChown,
  kUtimens,
  kSetXattr,
  kGetXattr,
  kRemoveXattr,
  kCollectGarbage,
  kRemount,
};

bool IsHandleOp(Kind k);

struct Op {
  Kind kind = Kind::kStat;
  std::string a;      // path, relative to the root
  std::string b;      // second path (rename, link)
  std::string text;   // symlink target or xattr name
  std::string value;  // xattr value
  size_t handle = 0;  // index into the handle pool
  uint64_t off = 0;
  uint64_t len = 0;
  uint64_t data_seed = 0;  // a write's bytes: RandomBytes(data_seed, len)
  int flags = 0;           // open, rename, xattr or fallocate flags; datasync for fsync
  uint32_t mode = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  bool follow = true;  // follow a symlink in the last component
  Timespec atime, mtime;
  bool atime_now = false, mtime_now = false, atime_omit = false;
};

std::string OpenFlagsText(int flags);
std::string FallocText(int mode);
std::string RenameFlagsText(int flags);
std::string XattrFlagsText(int flags);
const char* FollowText(bool follow);

// What one side answered to one operation.
struct Outcome {
  int err = 0;
  std::string detail;               // shoal's message, or what the harness decided
  std::optional<std::string> data;  // bytes read, an xattr value, a symlink target
  std::optional<uint64_t> count;    // bytes written
  std::optional<Attrs> attrs;       // attributes the operation replied with
};

Outcome FromStatus(const Status& s);
// The real side: -1 from a system call means errno.
Outcome FromSyscall(long rc);
std::string OutcomeText(const Outcome& o);

// An open file: one descriptor on the real side and one handle on shoal's.
struct Handle {
  int fd = -1;
  Ino ino = 0;
  uint64_t fh = 0;
  std::string opened_as;
};

// A node reached by walking a path on shoal's side: `phys` is its path from
// the root with every symlink resolved (the rename loop checks need it).
struct Node {
  Ino ino = 0;
  Attr attr;
  Path phys;
};

struct ParentAndName {
  Node dir;
  std::string name;
};

std::string BackendName(Backend b);

}  // namespace shoal::model
