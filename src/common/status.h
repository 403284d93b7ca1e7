// Status and Result: how every layer below fuse/ reports failure.
//
// A Status carries a code from one table (kCodeTable in status.cc, which also
// gives each code its errno) and a message written for the user: what was
// wrong, and where it helps, what to do. Only fuse/ and gateway/ turn a code
// into an errno or an HTTP status.
//
// Result<T> is std::expected<T, Status>. A Status converts implicitly into any
// Result<T>, so `return NotFound("...")` works in functions of either type.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace shoal {

// Keep in step with kCodeTable in status.cc.
enum class Code : int {
  kOk = 0,
  kNotFound,      // ENOENT
  kExists,        // EEXIST
  kNotDir,        // ENOTDIR
  kIsDir,         // EISDIR
  kNotEmpty,      // ENOTEMPTY
  kAccess,        // EACCES: permission bits deny it
  kNotPermitted,  // EPERM: not the owner, sticky bit, immutable
  kInvalid,       // EINVAL
  kNameTooLong,   // ENAMETOOLONG
  kNoSpace,       // ENOSPC
  kIo,            // EIO: the object store or the metadata engine failed
  kConflict,      // EAGAIN inside a transaction: retried by the engine
  kUnavailable,   // EIO: a backend cannot be reached
  kCorrupt,       // EIO: stored data does not decode
  kUnsupported,   // EOPNOTSUPP
  kNoData,        // ENODATA: no such xattr
  kRange,         // ERANGE: buffer too small
  kBadHandle,     // EBADF
  kLoop,          // ELOOP
  kCrossDevice,   // EXDEV
  kBusy,          // EBUSY
  kWouldBlock,    // EAGAIN: a lock is held by another owner
  kInterrupted,   // EINTR
  kTooManyLinks,  // EMLINK
  kFileTooBig,    // EFBIG
  kReadOnly,      // EROFS
  kDeadlock,      // EDEADLK
  kVersion,       // EIO: the volume was written by a format this binary does not know
  kInternal,      // EIO: a bug
};

class [[nodiscard]] Status;

class Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // "not found: volume 'demo' is not formatted in rocksdb:///x".
  std::string ToString() const;

  // Adds context in front of the message: "reading block 7: " + message.
  Status Annotate(std::string_view context) const;

  // Lets `return SomeError(...)` compile in a function returning Result<T>.
  template <typename T>
  operator std::expected<T, Status>() const {  // NOLINT(google-explicit-constructor)
    return std::unexpected<Status>(*this);
  }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

template <typename T>
using Result = std::expected<T, Status>;

inline Status OkStatus() { return Status(); }
inline Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
inline Status Exists(std::string m) { return {Code::kExists, std::move(m)}; }
inline Status NotDir(std::string m) { return {Code::kNotDir, std::move(m)}; }
inline Status IsDir(std::string m) { return {Code::kIsDir, std::move(m)}; }
inline Status NotEmpty(std::string m) { return {Code::kNotEmpty, std::move(m)}; }
inline Status AccessDenied(std::string m) { return {Code::kAccess, std::move(m)}; }
inline Status NotPermitted(std::string m) { return {Code::kNotPermitted, std::move(m)}; }
inline Status Invalid(std::string m) { return {Code::kInvalid, std::move(m)}; }
inline Status IoError(std::string m) { return {Code::kIo, std::move(m)}; }
inline Status Conflict(std::string m) { return {Code::kConflict, std::move(m)}; }
inline Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
inline Status Corrupt(std::string m) { return {Code::kCorrupt, std::move(m)}; }
inline Status Unsupported(std::string m) { return {Code::kUnsupported, std::move(m)}; }
inline Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }

// The errno of a code (EIO for codes that have no better one).
int ErrnoOf(Code code);
// The short name of a code, e.g. "not found".
std::string_view CodeName(Code code);

namespace internal {
inline Status StatusOf(const Status& s) { return s; }
template <typename T>
Status StatusOf(const Result<T>& r) {
  return r.has_value() ? Status() : r.error();
}
}  // namespace internal

}  // namespace shoal

#define SHOAL_CONCAT_INNER(a, b) a##b
#define SHOAL_CONCAT(a, b) SHOAL_CONCAT_INNER(a, b)

// Returns the Status of `expr` (a Status or a Result) if it is not ok.
#define RETURN_IF_ERROR(expr)                                               \
  do {                                                                      \
    if (::shoal::Status _st = ::shoal::internal::StatusOf(expr); !_st.ok()) \
      return _st;                                                           \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, FnReturningResult())`: binds the value or returns the error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(SHOAL_CONCAT(_result_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.has_value()) return tmp.error();   \
  lhs = std::move(*tmp)
