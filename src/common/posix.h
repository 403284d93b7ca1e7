// Small helpers over POSIX calls, shared by the layers that touch local files
// (the file object store, the disk cache, the bench command).
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>

namespace shoal {

// A file descriptor closed on destruction (errors of close are checked where
// they matter, with Close()).
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now and returns close()'s errno (a FUSE flush or an NFS write-back
  // may report a write error only here), or 0.
  int Close() {
    int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

// strerror's text, thread-safe.
inline std::string ErrnoText(int err) {
  return std::error_code(err, std::generic_category()).message();
}

// Creates directory `path` (absolute) and its missing parents: 0, or the
// errno of the failure (ENOTDIR when `path` exists and is not a directory).
inline int MakeDirs(const std::string& path) {
  for (size_t pos = path.find('/', 1);; pos = path.find('/', pos + 1)) {
    std::string dir = path.substr(0, pos);
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return errno;
    if (pos == std::string::npos) break;
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return errno;
  return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
}

}  // namespace shoal
