#include "object/file_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <mutex>
#include <random>
#include <system_error>
#include <vector>

#include "common/posix.h"

namespace shoal::object {
namespace {

// A Put whose parent directory is removed by a concurrent Delete in another
// process (Deletes prune empty directories) recreates it and tries again, this
// many times. A retry costs a few system calls; it loses only if the other
// process empties and prunes the directory again within that window. No
// pause between retries: it would only widen the window.
constexpr int kMaxPutAttempts = 100;

Code CodeOfErrno(int err) {
  switch (err) {
    case ENOENT:
      return Code::kNotFound;
    case ENOSPC:
    case EDQUOT:
      return Code::kNoSpace;
    case EROFS:
      return Code::kReadOnly;
    case EACCES:
    case EPERM:
      return Code::kAccess;
    case ENAMETOOLONG:
      return Code::kNameTooLong;
    case EMFILE:
    case ENFILE:
      return Code::kUnavailable;
    default:
      return Code::kIo;
  }
}

int64_t MtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

// Opaque, and different for each Put: rename gives every version a new
// inode, and the size and mtime tell apart versions that reuse an inode number.
std::string EtagOf(const struct stat& st) {
  char buf[64];
  snprintf(buf, sizeof(buf), "%llx-%llx-%llx", static_cast<unsigned long long>(st.st_ino),
           static_cast<unsigned long long>(st.st_size),
           static_cast<unsigned long long>(MtimeNs(st)));
  return buf;
}

// Removes files in the temp directory older than kStaleTempAge. Best effort:
// they only waste space.
void RemoveStaleTemps(const std::string& temp_dir) {
  DIR* dir = ::opendir(temp_dir.c_str());
  if (dir == nullptr) return;
  auto now = std::chrono::system_clock::now().time_since_epoch();
  int64_t cutoff =
      std::chrono::duration_cast<std::chrono::nanoseconds>(now - FileStore::kStaleTempAge).count();
  while (struct dirent* e = ::readdir(dir)) {
    struct stat st;
    if (e->d_name[0] == '.') continue;
    if (::fstatat(::dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISREG(st.st_mode) && MtimeNs(st) < cutoff) ::unlinkat(::dirfd(dir), e->d_name, 0);
  }
  ::closedir(dir);
}

// One entry of a directory, named as it sorts among the keys: a
// subdirectory "d" holds only keys that start with "d/", so it sorts as "d/".
struct DirEntry {
  std::string name;  // with a trailing '/' for a directory
  bool is_dir = false;
};

}  // namespace

Status FileStore::CheckKey(std::string_view key) {
  if (key.empty()) return Invalid("an object key cannot be empty");
  if (key.size() > kMaxKeyLength) {
    return Invalid("the key is " + std::to_string(key.size()) + " bytes long, over the limit of " +
                   std::to_string(kMaxKeyLength));
  }
  if (key.find('\0') != std::string_view::npos) return Invalid("the key contains a NUL byte");
  if (key.front() == '/') return Invalid("a key cannot start with '/'");
  size_t begin = 0;
  while (true) {
    size_t end = key.find('/', begin);
    std::string_view part = key.substr(begin, end == std::string_view::npos ? end : end - begin);
    if (part.empty()) {
      return Invalid("the key has an empty component ('//' or a trailing '/')");
    }
    if (part == "." || part == "..") {
      return Invalid("the key has a '" + std::string(part) +
                     "' component, which a file store cannot hold");
    }
    if (part.size() > NAME_MAX) {
      return Status(Code::kNameTooLong, "a component of the key is " + std::to_string(part.size()) +
                                            " bytes long, over the file name limit of " +
                                            std::to_string(NAME_MAX));
    }
    if (begin == 0 && part == kTempDir) {
      return Invalid("keys under '" + std::string(kTempDir) + "/' are reserved by the file store");
    }
    if (end == std::string_view::npos) break;
    begin = end + 1;
  }
  return OkStatus();
}

Result<std::unique_ptr<FileStore>> FileStore::Open(std::string_view root) {
  std::string dir(root);
  if (dir.empty() || dir.front() != '/') {
    return Invalid("file store directory '" + dir +
                   "' is not an absolute path: give one that starts with '/'");
  }
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (dir == "/") {
    return Invalid("refusing to use '/' itself as a file store: give a directory below it");
  }
  if (int err = MakeDirs(dir); err != 0) {
    return Status(CodeOfErrno(err) == Code::kNotFound ? Code::kIo : CodeOfErrno(err),
                  "file store " + dir + ": cannot create the directory: " + ErrnoText(err));
  }
  std::string temp_dir = dir + "/" + std::string(kTempDir);
  if (::mkdir(temp_dir.c_str(), 0755) != 0 && errno != EEXIST) {
    int err = errno;
    return Status(CodeOfErrno(err) == Code::kNotFound ? Code::kIo : CodeOfErrno(err),
                  "file store " + dir + ": cannot create " + temp_dir + ": " + ErrnoText(err));
  }
  RemoveStaleTemps(temp_dir);
  std::random_device random;
  uint64_t nonce = (uint64_t{random()} << 32) ^ random();
  return std::unique_ptr<FileStore>(new FileStore(std::move(dir), nonce));
}

FileStore::FileStore(std::string root, uint64_t nonce) : root_(std::move(root)), nonce_(nonce) {}

std::string FileStore::Describe() const { return "file://" + root_; }

std::string FileStore::PathOf(std::string_view key) const {
  std::string path = root_;
  path += '/';
  path += key;
  return path;
}

std::string FileStore::TempPath() {
  char name[96];
  snprintf(name, sizeof(name), "/%s/%d-%016llx-%llu", std::string(kTempDir).c_str(),
           static_cast<int>(::getpid()), static_cast<unsigned long long>(nonce_),
           static_cast<unsigned long long>(next_temp_.fetch_add(1)));
  return root_ + name;
}

Status FileStore::Error(Code code, std::string_view op, std::string_view key,
                        std::string_view what) const {
  std::string m = "file store " + root_ + ": ";
  m += op;
  m += " '";
  m += key;
  m += "': ";
  m += what;
  return Status(code, std::move(m));
}

Status FileStore::SysError(std::string_view op, std::string_view key, std::string_view call,
                           int err) const {
  Code code = CodeOfErrno(err);
  // A missing file where this store needs one is the store's failure, not a
  // missing object: callers decide themselves when ENOENT means "no object".
  if (code == Code::kNotFound) code = Code::kIo;
  return Error(code, op, key, std::string(call) + ": " + ErrnoText(err));
}

int FileStore::MakeParents(std::string_view key) const {
  for (size_t pos = key.find('/'); pos != std::string_view::npos; pos = key.find('/', pos + 1)) {
    std::string dir = PathOf(key.substr(0, pos));
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return errno;
  }
  return 0;
}

void FileStore::PruneParents(std::string_view key) const {
  // Stops at the first directory that is not empty (ENOTEMPTY, EEXIST), that
  // a concurrent Delete already removed (ENOENT), or that a concurrent Put
  // refills: that Put recreates what it needs.
  for (size_t pos = key.rfind('/'); pos != std::string_view::npos && pos > 0;
       pos = key.rfind('/', pos - 1)) {
    if (::rmdir(PathOf(key.substr(0, pos)).c_str()) != 0) return;
  }
}

Status FileStore::WriteTemp(std::string_view key, const std::string& temp,
                            std::string_view data) const {
  int raw = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (raw < 0 && errno == ENOENT) {
    // Someone removed the temp directory; recreate it.
    std::string temp_dir = root_ + "/" + std::string(kTempDir);
    if (::mkdir(temp_dir.c_str(), 0755) == 0 || errno == EEXIST) {
      raw = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    }
  }
  if (raw < 0) return SysError("put", key, "creating " + temp, errno);
  Fd fd(raw);
  while (!data.empty()) {
    ssize_t n = ::write(fd.get(), data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return SysError("put", key, "writing " + temp, errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  if (int err = fd.Close(); err != 0) return SysError("put", key, "closing " + temp, err);
  return OkStatus();
}

Status FileStore::Put(std::string_view key, std::string_view data) {
  if (Status st = CheckKey(key); !st.ok()) return Error(st.code(), "put", key, st.message());
  std::string temp = TempPath();
  Status st = WriteTemp(key, temp, data);
  if (st.ok()) {
    std::string path = PathOf(key);
    std::shared_lock lock(tree_mu_);
    for (int attempt = 0;; ++attempt) {
      if (::rename(temp.c_str(), path.c_str()) == 0) return OkStatus();
      int err = errno;
      if (err == ENOENT && attempt < kMaxPutAttempts) {
        err = MakeParents(key);
        if (err == 0 || err == ENOENT) continue;  // ENOENT: a parent was pruned meanwhile
      }
      // An empty directory in the way (a crash came between a Delete and its
      // pruning) goes; one that holds objects stays, and the Put fails.
      if (err == EISDIR && attempt < kMaxPutAttempts && ::rmdir(path.c_str()) == 0) continue;
      if (err == ENOTDIR) {
        st = Error(Code::kInvalid, "put", key,
                   "a leading part of the key is an object, and a file store cannot also hold "
                   "keys below an object");
      } else if (err == EISDIR) {
        st = Error(Code::kInvalid, "put", key,
                   "other objects have keys that start with this key and '/', and a file store "
                   "cannot hold both");
      } else {
        st = SysError("put", key, "renaming into place", err);
      }
      break;
    }
  }
  ::unlink(temp.c_str());
  return st;
}

Result<std::string> FileStore::Get(std::string_view key, uint64_t offset, uint64_t length) {
  if (Status st = CheckKey(key); !st.ok()) return Error(st.code(), "get", key, st.message());
  std::string path = PathOf(key);
  int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw < 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return Error(Code::kNotFound, "get", key, "no such object");
    }
    return SysError("get", key, "open", errno);
  }
  Fd fd(raw);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return SysError("get", key, "fstat", errno);
  if (!S_ISREG(st.st_mode)) return Error(Code::kNotFound, "get", key, "no such object");
  auto size = static_cast<uint64_t>(st.st_size);
  if (offset >= size) return std::string();
  uint64_t want = size - offset;
  if (length != 0 && length < want) want = length;
  std::string out(want, '\0');
  uint64_t done = 0;
  while (done < want) {
    ssize_t n =
        ::pread(fd.get(), out.data() + done, want - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return SysError("get", key, "pread", errno);
    }
    if (n == 0) break;  // objects are replaced, never truncated: only a hand edit gets here
    done += static_cast<uint64_t>(n);
  }
  out.resize(done);
  return out;
}

Result<ObjectInfo> FileStore::Head(std::string_view key) {
  if (Status st = CheckKey(key); !st.ok()) return Error(st.code(), "head", key, st.message());
  struct stat st;
  if (::stat(PathOf(key).c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return Error(Code::kNotFound, "head", key, "no such object");
    }
    return SysError("head", key, "stat", errno);
  }
  if (!S_ISREG(st.st_mode)) return Error(Code::kNotFound, "head", key, "no such object");
  return ObjectInfo{std::string(key), static_cast<uint64_t>(st.st_size), MtimeNs(st), EtagOf(st)};
}

Status FileStore::Delete(std::string_view key) {
  if (Status st = CheckKey(key); !st.ok()) return Error(st.code(), "delete", key, st.message());
  if (::unlink(PathOf(key).c_str()) != 0) {
    // EISDIR: the key names a directory of other keys, not an object.
    if (errno == ENOENT || errno == ENOTDIR || errno == EISDIR) return OkStatus();
    return SysError("delete", key, "unlink", errno);
  }
  std::unique_lock lock(tree_mu_);
  PruneParents(key);
  return OkStatus();
}

Status FileStore::Walk(const std::string& dir_key, ListBuilder* builder, bool* stop) const {
  std::string path = dir_key.empty() ? root_ : PathOf(dir_key.substr(0, dir_key.size() - 1));
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) {
    // Removed by a concurrent Delete, or the prefix names no directory.
    if (errno == ENOENT || errno == ENOTDIR) return OkStatus();
    return SysError("list", dir_key, "opendir", errno);
  }
  std::vector<DirEntry> entries;
  int err = 0;
  while (true) {
    errno = 0;  // readdir returns nullptr both at the end and on failure
    struct dirent* e = ::readdir(dir);
    if (e == nullptr) {
      err = errno;
      break;
    }
    std::string_view name = e->d_name;
    if (name == "." || name == ".." || (dir_key.empty() && name == kTempDir)) continue;
    unsigned char type = e->d_type;
    if (type == DT_UNKNOWN) {
      struct stat st;
      if (::fstatat(::dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
    }
    if (type == DT_DIR) {
      entries.push_back({std::string(name) + "/", true});
    } else if (type == DT_REG) {
      entries.push_back({std::string(name), false});
    }
  }
  ::closedir(dir);
  if (err != 0) return SysError("list", dir_key, "readdir", err);
  std::ranges::sort(entries, {}, &DirEntry::name);

  for (const DirEntry& entry : entries) {
    std::string key = dir_key + entry.name;
    if (entry.is_dir) {
      if (builder->Prunable(key)) continue;
      RETURN_IF_ERROR(Walk(key, builder, stop));
      if (*stop) return OkStatus();
      continue;
    }
    ListBuilder::Action action = builder->Classify(key);
    if (action == ListBuilder::Action::kStop) {
      *stop = true;
      return OkStatus();
    }
    if (action != ListBuilder::Action::kAddObject) continue;
    struct stat st;
    if (::stat(PathOf(key).c_str(), &st) != 0) {
      if (errno == ENOENT) continue;  // deleted since readdir
      return SysError("list", key, "stat", errno);
    }
    builder->AddObject(
        {std::move(key), static_cast<uint64_t>(st.st_size), MtimeNs(st), EtagOf(st)});
  }
  return OkStatus();
}

Result<ListResult> FileStore::List(const ListOptions& options) {
  RETURN_IF_ERROR(CheckListOptions(options).Annotate("file store " + root_ + ": list"));
  // Every key that starts with the prefix lies under the directory that the
  // prefix names up to its last '/'. If that part cannot be a key's leading
  // directories ("a//", "../"), no key matches it.
  std::string start = options.prefix.substr(0, options.prefix.rfind('/') + 1);
  if (!start.empty() && !CheckKey(start.substr(0, start.size() - 1)).ok()) return ListResult{};
  ListBuilder builder(options);
  bool stop = false;
  RETURN_IF_ERROR(Walk(start, &builder, &stop));
  return builder.Finish();
}

}  // namespace shoal::object
