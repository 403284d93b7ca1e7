#include "common/status.h"

#include <cerrno>

namespace shoal {
namespace {

struct CodeInfo {
  Code code;
  int err;
  std::string_view name;
};

// The one table of codes: their errno and their name. Indexed by Code.
constexpr CodeInfo kCodeTable[] = {
    {Code::kOk, 0, "ok"},
    {Code::kNotFound, ENOENT, "not found"},
    {Code::kExists, EEXIST, "already exists"},
    {Code::kNotDir, ENOTDIR, "not a directory"},
    {Code::kIsDir, EISDIR, "is a directory"},
    {Code::kNotEmpty, ENOTEMPTY, "directory not empty"},
    {Code::kAccess, EACCES, "permission denied"},
    {Code::kNotPermitted, EPERM, "operation not permitted"},
    {Code::kInvalid, EINVAL, "invalid argument"},
    {Code::kNameTooLong, ENAMETOOLONG, "name too long"},
    {Code::kNoSpace, ENOSPC, "no space left"},
    {Code::kIo, EIO, "i/o error"},
    {Code::kConflict, EAGAIN, "transaction conflict"},
    {Code::kUnavailable, EIO, "unavailable"},
    {Code::kCorrupt, EIO, "corrupt data"},
    {Code::kUnsupported, EOPNOTSUPP, "not supported"},
    {Code::kNoData, ENODATA, "no data"},
    {Code::kRange, ERANGE, "out of range"},
    {Code::kBadHandle, EBADF, "bad handle"},
    {Code::kLoop, ELOOP, "too many levels of links"},
    {Code::kCrossDevice, EXDEV, "cross-device link"},
    {Code::kBusy, EBUSY, "busy"},
    {Code::kWouldBlock, EAGAIN, "would block"},
    {Code::kInterrupted, EINTR, "interrupted"},
    {Code::kTooManyLinks, EMLINK, "too many links"},
    {Code::kFileTooBig, EFBIG, "file too big"},
    {Code::kReadOnly, EROFS, "read-only"},
    {Code::kDeadlock, EDEADLK, "deadlock"},
    {Code::kVersion, EIO, "unknown format version"},
    {Code::kInternal, EIO, "internal error"},
};

static_assert(sizeof(kCodeTable) / sizeof(kCodeTable[0]) == static_cast<size_t>(Code::kInternal) + 1,
              "kCodeTable must list every Code in order");

const CodeInfo& InfoOf(Code code) {
  auto i = static_cast<size_t>(code);
  if (i >= sizeof(kCodeTable) / sizeof(kCodeTable[0])) return kCodeTable[static_cast<size_t>(Code::kInternal)];
  return kCodeTable[i];
}

}  // namespace

int ErrnoOf(Code code) { return InfoOf(code).err; }
std::string_view CodeName(Code code) { return InfoOf(code).name; }

std::string Status::ToString() const {
  if (ok()) return "ok";
  std::string s(CodeName(code_));
  if (!message_.empty()) {
    s += ": ";
    s += message_;
  }
  return s;
}

Status Status::Annotate(std::string_view context) const {
  if (ok()) return *this;
  std::string m(context);
  m += ": ";
  m += message_;
  return Status(code_, std::move(m));
}

}  // namespace shoal
