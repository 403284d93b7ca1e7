#include "cache/disk_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <system_error>

#include "cache/block_file.h"
#include "common/posix.h"

namespace shoal::cache {
namespace {

// Where the lifecycle of an entry stands. kCached and kStaged are at rest;
// in the others one thread owns the entry's file path until it moves the
// entry on (and nobody else creates, renames or deletes that path).
enum State : uint8_t {
  kCached,    // in blocks/, in the LRU list
  kStaged,    // in staging/, never evicted
  kWriting,   // a Put is writing blocks/ (charge reserved)
  kStaging,   // a Stage is writing staging/ (charge reserved)
  kMoving,    // Uploaded is renaming staging/ to blocks/
  kDeleting,  // being unlinked (charge already released); erased after
};
// Flag: a Remove came while the owner was busy; the owner deletes when done.
constexpr uint8_t kRemoved = 1;

// The allocation unit assumed when charging a file (ext4, xfs: 4 KiB).
constexpr uint64_t kAllocUnit = 4096;
// First read of a block file: the whole header of any block up to ~28 MiB
// with a short key, so that one pread usually finds it.
constexpr size_t kHeadRead = 4096;

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
    case ENOTDIR:
      return Code::kNotDir;
    default:
      return Code::kIo;
  }
}

Status ErrnoStatus(int err, const std::string& what) {
  return Status(CodeOfErrno(err), what + ": " + ErrnoText(err));
}

std::string ParentOf(const std::string& path) { return path.substr(0, path.rfind('/')); }

int SyncDir(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return errno;
  if (::fsync(fd.get()) != 0) return errno;
  return 0;
}

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "writing " + path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return OkStatus();
}

// Reads n bytes at `off`; fewer only at the end of the file (*got says).
Status PreadAll(int fd, char* dst, size_t n, uint64_t off, size_t* got, const std::string& path) {
  *got = 0;
  while (*got < n) {
    ssize_t r = ::pread(fd, dst + *got, n - *got, static_cast<off_t>(off + *got));
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "reading " + path);
    }
    if (r == 0) break;
    *got += static_cast<size_t>(r);
  }
  return OkStatus();
}

// Renames `from` to `to`, creating to's directory when missing (blocks/<hh>
// directories are made on first use). With `sync`, a directory created is
// made durable in its parent, and the rename in its directory.
Status RenameInto(const std::string& from, const std::string& to, bool sync) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    if (errno != ENOENT) return ErrnoStatus(errno, "renaming " + from + " to " + to);
    const std::string dir = ParentOf(to);
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoStatus(errno, "creating directory " + dir);
    }
    if (sync) {
      if (int err = SyncDir(ParentOf(dir)); err != 0) {
        return ErrnoStatus(err, "syncing directory " + ParentOf(dir));
      }
    }
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return ErrnoStatus(errno, "renaming " + from + " to " + to);
    }
  }
  if (sync) {
    if (int err = SyncDir(ParentOf(to)); err != 0) {
      return ErrnoStatus(err, "syncing directory " + ParentOf(to));
    }
  }
  return OkStatus();
}

void Unlink(const std::string& path) { ::unlink(path.c_str()); }

std::string Hex64(uint64_t v) {
  char buf[17];
  snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// The hash a block file name stands for; false for a name that is not one.
bool ParseName(const char* name, KeyHash* h) {
  if (std::strlen(name) != 32) return false;
  uint64_t parts[2] = {0, 0};
  for (int i = 0; i < 32; ++i) {
    char c = name[i];
    int v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else {
      return false;
    }
    parts[i / 16] = (parts[i / 16] << 4) | static_cast<uint64_t>(v);
  }
  h->hi = parts[0];
  h->lo = parts[1];
  return true;
}

std::string HashHex(const KeyHash& h) { return Hex64(h.hi) + Hex64(h.lo); }

// Calls fn(name) for each entry of `dir` but "." and "..". False when the
// directory cannot be read (errno set).
template <typename Fn>
bool ForEachEntry(const std::string& dir, Fn fn) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return false;
  while (struct dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    if (!fn(e->d_name)) break;
  }
  ::closedir(d);
  return true;
}

uint64_t RoundUp(uint64_t n) { return (n + kAllocUnit - 1) / kAllocUnit * kAllocUnit; }

Result<DiskSpace> StatvfsSpace(const std::string& dir) {
  struct statvfs st;
  if (::statvfs(dir.c_str(), &st) != 0) return ErrnoStatus(errno, "statvfs " + dir);
  return DiskSpace{uint64_t{st.f_blocks} * st.f_frsize, uint64_t{st.f_bavail} * st.f_frsize};
}

bool ValidName(std::string_view name) {
  if (name.empty() || name == "." || name == ".." || name.size() > 200) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

}  // namespace

uint64_t DiskCache::Charge(size_t key_size, uint64_t data_size) {
  return RoundUp(BlockMetaSize(key_size, data_size) + data_size);
}

Status DiskCache::OpenDir(const std::string& user_dir, const std::string& name, Dir* dir) {
  dir->user_dir = user_dir;
  dir->root = user_dir + "/shoal-cache/" + name;
  for (const char* sub : {"/blocks", "/staging", "/tmp"}) {
    const std::string path = dir->root + sub;
    if (int err = MakeDirs(path); err != 0) {
      std::string what = "cache directory " + user_dir;
      what += ": cannot create " + path;
      what += "; create it by hand or give a cache directory that can be written";
      return ErrnoStatus(err, what);
    }
  }
  const std::string lock_path = dir->root + "/lock";
  dir->lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (dir->lock_fd < 0) {
    return ErrnoStatus(errno, "cache directory " + user_dir + ": cannot open " + lock_path +
                                  "; give a cache directory that can be written");
  }
  if (::flock(dir->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    if (err == EWOULDBLOCK) {
      return Status(Code::kBusy, "cache directory " + user_dir + " (cache '" + name +
                                     "') is in use by another shoal process or mount; give " +
                                     "each mount its own cache directory or name");
    }
    return ErrnoStatus(err, "cache directory " + user_dir + ": cannot lock " + lock_path);
  }
  // Nobody else uses tmp/ while we hold the lock: whatever is there was left
  // by a crash in the middle of a write.
  const std::string tmp = dir->root + "/tmp";
  ForEachEntry(tmp, [&](const char* entry) {
    ::unlink((tmp + "/" + entry).c_str());
    return true;
  });
  // Writing a file proves the directory usable (a read-only mount, for one).
  const std::string probe = tmp + "/probe";
  Fd fd(::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() < 0 || ::write(fd.get(), "x", 1) != 1) {
    return ErrnoStatus(errno, "cache directory " + user_dir + ": cannot write " + probe +
                                  "; give a cache directory that can be written");
  }
  ::unlink(probe.c_str());
  return OkStatus();
}

Result<std::unique_ptr<DiskCache>> DiskCache::Open(DiskCacheOptions options) {
  if (options.limit_bytes == 0) {
    return std::unique_ptr<DiskCache>(new DiskCache(std::move(options), {}, 0));
  }
  if (options.dirs.empty()) {
    return Invalid("the disk cache needs at least one directory, or a size of 0 to disable it");
  }
  if (options.dirs.size() > 255) {
    return Invalid("the disk cache takes at most 255 directories, not " +
                   std::to_string(options.dirs.size()));
  }
  if (!ValidName(options.name)) {
    return Invalid("cache name '" + options.name +
                   "' is not usable as a directory name: use letters, digits, '.', '_' and '-' "
                   "(normally the volume's uuid)");
  }
  if (!(options.min_free_ratio >= 0 && options.min_free_ratio < 1)) {
    return Invalid("the cache's free-space floor must be a fraction in [0, 1), not " +
                   std::to_string(options.min_free_ratio));
  }
  std::vector<std::string> normalized;
  for (std::string d : options.dirs) {
    if (d.empty() || d.front() != '/') {
      return Invalid("cache directory '" + d + "' is not an absolute path: give one that " +
                     "starts with '/'");
    }
    while (d.size() > 1 && d.back() == '/') d.pop_back();
    if (std::find(normalized.begin(), normalized.end(), d) != normalized.end()) {
      return Invalid("cache directory " + d + " is given twice");
    }
    normalized.push_back(std::move(d));
  }
  std::vector<Dir> dirs;
  for (const std::string& d : normalized) {
    Dir dir;
    Status st = OpenDir(d, options.name, &dir);
    if (!st.ok()) {
      if (dir.lock_fd >= 0) ::close(dir.lock_fd);
      for (const Dir& opened : dirs) ::close(opened.lock_fd);
      return st;
    }
    dirs.push_back(std::move(dir));
  }
  std::random_device random;
  uint64_t nonce = (uint64_t{random()} << 32) ^ random();
  std::unique_ptr<DiskCache> cache(new DiskCache(std::move(options), std::move(dirs), nonce));
  RETURN_IF_ERROR(cache->ScanStaged());
  DiskCache* c = cache.get();
  cache->scanner_ = std::thread([c] { c->ScanCached(); });
  return cache;
}

DiskCache::DiskCache(DiskCacheOptions options, std::vector<Dir> dirs, uint64_t nonce)
    : options_(std::move(options)), dirs_(std::move(dirs)), nonce_(nonce) {
  scan_done_ = dirs_.empty();
}

DiskCache::~DiskCache() {
  stop_ = true;
  if (scanner_.joinable()) scanner_.join();
  for (const Dir& d : dirs_) ::close(d.lock_fd);
}

std::string DiskCache::Describe() const {
  if (!enabled()) return "disk cache (disabled)";
  std::string s = "disk cache '" + options_.name + "' in ";
  for (size_t i = 0; i < dirs_.size(); ++i) {
    if (i > 0) s += ", ";
    s += dirs_[i].user_dir;
  }
  return s + " (limit " + std::to_string(options_.limit_bytes) + " bytes)";
}

uint8_t DiskCache::DirOf(const KeyHash& h) const {
  return static_cast<uint8_t>(h.hi % dirs_.size());
}

std::string DiskCache::PathOf(uint8_t dir, const KeyHash& h, bool staged) const {
  std::string hex = HashHex(h);
  std::string path = dirs_[dir].root;
  path += staged ? "/staging/" : "/blocks/";
  path.append(hex, 0, 2);
  path += '/';
  path += hex;
  return path;
}

std::string DiskCache::CachedPath(std::string_view key) const {
  if (!enabled()) return "";
  KeyHash h = HashKey(key);
  return PathOf(DirOf(h), h, false);
}

std::string DiskCache::StagedPath(std::string_view key) const {
  if (!enabled()) return "";
  KeyHash h = HashKey(key);
  return PathOf(DirOf(h), h, true);
}

std::string DiskCache::TempPath(uint8_t dir) {
  return dirs_[dir].root + "/tmp/" + Hex64(nonce_) + "-" + std::to_string(next_temp_++);
}

size_t DiskCache::IndexMemoryBytes() const {
  std::lock_guard lock(mu_);
  return index_.MemoryBytes();
}

void DiskCache::CountError(const std::string& what) {
  uint64_t n = ++errors_;
  // Logs the 1st, 2nd, 4th, 8th... error: a failing disk does not flood the log.
  if ((n & (n - 1)) == 0) {
    spdlog::warn("{}: {} (error {}; later errors are logged at powers of two)", Describe(), what,
                 n);
  }
}

Result<std::string> DiskCache::ReadFile(const std::string& path, std::string_view key,
                                        uint64_t offset, uint64_t length, uint64_t* file_size) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus(errno, "opening " + path);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, "stat " + path);
  const auto size = static_cast<uint64_t>(st.st_size);
  *file_size = size;
  std::string head(std::min<uint64_t>(size, kHeadRead), '\0');
  size_t got;
  RETURN_IF_ERROR(PreadAll(fd.get(), head.data(), head.size(), 0, &got, path));
  head.resize(got);
  ASSIGN_OR_RETURN(uint64_t meta_size, PeekMetaSize(head));
  if (meta_size > head.size()) {
    if (meta_size > size) {
      return Corrupt("the file is " + std::to_string(size) + " bytes, shorter than its header");
    }
    const size_t had = head.size();
    head.resize(meta_size);
    RETURN_IF_ERROR(PreadAll(fd.get(), head.data() + had, meta_size - had, had, &got, path));
    if (got != meta_size - had) return Corrupt("the file was cut short while being read");
  }
  ASSIGN_OR_RETURN(BlockMeta meta, DecodeBlockMeta(head, size));
  if (meta.key != key) {
    return Corrupt("the file holds block '" + std::string(meta.key) + "', not '" +
                   std::string(key) + "'");
  }
  if (offset >= meta.data_size) return std::string();
  const uint64_t end = offset + std::min(length, meta.data_size - offset);
  if (end == offset) return std::string();
  // Whole segments around [offset, end), so that each can be verified.
  const uint64_t seg = meta.segment_size;
  const uint64_t first = offset / seg;
  const uint64_t from = first * seg;
  const uint64_t to = std::min(meta.data_size, (end + seg - 1) / seg * seg);
  std::string data;
  Status read;
  // Reads straight into the string, without first zeroing up to 4 MiB.
  data.resize_and_overwrite(to - from, [&](char* dst, size_t n) {
    read = PreadAll(fd.get(), dst, n, meta.meta_size + from, &got, path);
    return read.ok() ? got : 0;
  });
  RETURN_IF_ERROR(read);
  if (got != to - from) return Corrupt("the file was cut short while being read");
  RETURN_IF_ERROR(VerifySegments(meta, first, data));
  if (from == offset && to == end) return data;
  return data.substr(offset - from, end - offset);
}

Status DiskCache::WriteFile(uint8_t dir, const std::string& path, std::string_view meta,
                            std::string_view data, bool sync) {
  const std::string temp = TempPath(dir);
  Fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (fd.get() < 0) return ErrnoStatus(errno, "creating " + temp);
  Status st = WriteAll(fd.get(), meta, temp);
  if (st.ok()) st = WriteAll(fd.get(), data, temp);
  if (st.ok() && sync && ::fsync(fd.get()) != 0) st = ErrnoStatus(errno, "syncing " + temp);
  if (int err = fd.Close(); st.ok() && err != 0) st = ErrnoStatus(err, "closing " + temp);
  if (st.ok()) st = RenameInto(temp, path, sync);
  if (!st.ok()) Unlink(temp);
  return st;
}

Status DiskCache::CheckFloor(uint8_t dir, uint64_t charge) {
  if (options_.min_free_ratio <= 0) return OkStatus();
  const std::string& root = dirs_[dir].root;
  auto probe = [&]() -> Result<DiskSpace> {
    return options_.disk_space ? options_.disk_space(root) : StatvfsSpace(root);
  };
  ASSIGN_OR_RETURN(DiskSpace space, probe());
  const auto floor =
      static_cast<uint64_t>(static_cast<double>(space.total_bytes) * options_.min_free_ratio);
  if (space.available_bytes >= floor + charge) return OkStatus();

  // Evict this directory's coldest cached blocks, enough to cover the deficit.
  const uint64_t deficit = floor + charge - space.available_bytes;
  std::vector<Doomed> doomed;
  {
    std::lock_guard lock(mu_);
    std::vector<BlockIndex::Ref> victims;
    uint64_t freed = 0;
    for (BlockIndex::Ref r = index_.Oldest(); r != BlockIndex::kNone && freed < deficit;
         r = index_.NewerThan(r)) {
      if (index_.at(r).dir != dir) continue;
      victims.push_back(r);
      freed += index_.at(r).charge;
    }
    for (BlockIndex::Ref r : victims) doomed.push_back(TakeLocked(r));
    evictions_ += victims.size();
  }
  Dispose(doomed);
  ASSIGN_OR_RETURN(space, probe());
  if (space.available_bytes >= floor + charge) return OkStatus();
  return Status(Code::kNoSpace,
                "cache directory " + dirs_[dir].user_dir + " has " +
                    std::to_string(space.available_bytes) + " bytes free of " +
                    std::to_string(space.total_bytes) + ", below its floor of " +
                    std::to_string(floor) + " bytes (min_free_ratio " +
                    std::to_string(options_.min_free_ratio) +
                    ") even after evicting; free space on that disk or lower the ratio");
}

bool DiskCache::MakeRoomLocked(uint64_t charge, std::vector<Doomed>* doomed) {
  const uint64_t limit = options_.limit_bytes;
  if (charge > limit || used_ - lru_bytes_ + charge > limit) return false;
  while (used_ + charge > limit) {
    doomed->push_back(TakeLocked(index_.Oldest()));
    ++evictions_;
  }
  return true;
}

DiskCache::Doomed DiskCache::TakeLocked(BlockIndex::Ref ref) {
  BlockIndex::Entry& e = index_.at(ref);
  const bool staged = e.state == kStaged;
  if (index_.InLru(ref)) {
    lru_bytes_ -= e.charge;
    index_.Unlink(ref);
  }
  used_ -= e.charge;
  --blocks_;
  if (staged) {
    staged_bytes_ -= e.charge;
    staged_keys_.erase(e.hash);
  }
  e.state = kDeleting;
  return Doomed{ref, PathOf(e.dir, e.hash, staged)};
}

void DiskCache::Dispose(const std::vector<Doomed>& doomed) {
  if (doomed.empty()) return;
  for (const Doomed& d : doomed) {
    if (::unlink(d.path.c_str()) != 0 && errno != ENOENT) {
      CountError("deleting " + d.path + ": " + ErrnoText(errno));
    }
  }
  std::lock_guard lock(mu_);
  for (const Doomed& d : doomed) index_.Erase(d.ref);
  settled_.notify_all();
}

void DiskCache::AbandonLocked(BlockIndex::Ref ref) {
  used_ -= index_.at(ref).charge;
  index_.Erase(ref);
  settled_.notify_all();
}

void DiskCache::AddFoundLocked(const KeyHash& h, uint8_t dir, uint32_t charge, bool cold) {
  BlockIndex::Ref ref = index_.Insert(h);
  BlockIndex::Entry& e = index_.at(ref);
  e.state = kCached;
  e.dir = dir;
  e.charge = charge;
  if (cold) {
    index_.PushBack(ref);
  } else {
    index_.PushFront(ref);
  }
  used_ += charge;
  lru_bytes_ += charge;
  ++blocks_;
}

bool DiskCache::Contains(std::string_view key) {
  if (!enabled()) return false;
  const KeyHash h = HashKey(key);
  std::lock_guard lock(mu_);
  BlockIndex::Ref ref = index_.Find(h);
  if (ref == BlockIndex::kNone) return false;
  const uint8_t state = index_.at(ref).state;
  return state == kCached || state == kStaged;
}

std::optional<std::string> DiskCache::Get(std::string_view key, uint64_t offset, uint64_t length) {
  if (!enabled()) {
    ++misses_;
    return std::nullopt;
  }
  const KeyHash h = HashKey(key);
  std::string path;
  bool indexed = true;
  bool staged = false;
  uint8_t dir = 0;
  {
    std::lock_guard lock(mu_);
    BlockIndex::Ref ref = index_.Find(h);
    if (ref == BlockIndex::kNone) {
      if (scan_done_) {
        ++misses_;
        return std::nullopt;
      }
      // The restart scan may not have reached it yet: look at its file.
      indexed = false;
      dir = DirOf(h);
    } else {
      const BlockIndex::Entry& e = index_.at(ref);
      if (e.state != kCached && e.state != kStaged) {
        ++misses_;
        return std::nullopt;
      }
      index_.Touch(ref);
      staged = e.state == kStaged;
      dir = e.dir;
    }
    path = PathOf(dir, h, staged);
  }

  uint64_t file_size = 0;
  Result<std::string> got = ReadFile(path, key, offset, length, &file_size);
  if (got.has_value()) {
    ++hits_;
    if (!indexed) {
      std::lock_guard lock(mu_);
      if (index_.Find(h) == BlockIndex::kNone) {
        AddFoundLocked(h, dir, static_cast<uint32_t>(RoundUp(file_size)), /*cold=*/false);
      }
    }
    return std::move(*got);
  }

  ++misses_;
  const Code code = got.error().code();
  if (code == Code::kNotFound) {
    if (!indexed) return std::nullopt;  // a plain miss
    if (staged) {
      // Left in the index, so that ListStaged still names it to the uploader.
      CountError("staged block file " + path + " of " + std::string(key) + " vanished");
      return std::nullopt;
    }
    // An eviction may have deleted the file after this Get looked it up.
    // Only a file missing while its entry is still cached (checked under the
    // lock, since a cached entry's file changes only after its state does)
    // was deleted behind the cache's back: drop the entry, or Put could never
    // cache the block again.
    std::vector<Doomed> doomed;
    {
      std::lock_guard lock(mu_);
      BlockIndex::Ref ref = index_.Find(h);
      struct stat st;
      if (ref != BlockIndex::kNone && index_.at(ref).state == kCached &&
          ::stat(PathOf(index_.at(ref).dir, h, false).c_str(), &st) != 0 && errno == ENOENT) {
        doomed.push_back(TakeLocked(ref));
      }
    }
    if (!doomed.empty()) {
      CountError("block file " + path + " of " + std::string(key) + " vanished");
      Dispose(doomed);
    }
    return std::nullopt;
  }
  if (code != Code::kCorrupt) {
    CountError(got.error().ToString());
    return std::nullopt;  // the file may be fine: keep it
  }
  ++corrupt_;
  if (staged) {
    spdlog::error(
        "{}: staged block {} in {} is corrupt ({}); it was not uploaded yet, so its data is lost",
        Describe(), key, path, got.error().message());
    return std::nullopt;
  }
  spdlog::warn("{}: dropped the cached copy of block {} in {}: {}", Describe(), key, path,
               got.error().message());
  // Should an eviction and a new Put have replaced the file since it was
  // read, this drops a good copy: a later miss, never wrong bytes.
  std::vector<Doomed> doomed;
  {
    std::lock_guard lock(mu_);
    BlockIndex::Ref ref = index_.Find(h);
    if (ref != BlockIndex::kNone && index_.at(ref).state == kCached) {
      doomed.push_back(TakeLocked(ref));
    } else if (ref == BlockIndex::kNone && !indexed) {
      Unlink(path);
    }
  }
  Dispose(doomed);
  return std::nullopt;
}

void DiskCache::Put(std::string_view key, std::string_view data) {
  if (!enabled()) return;
  if (key.empty() || key.size() > kMaxKeySize || data.size() > kMaxDataSize) {
    ++rejected_;
    return;
  }
  const KeyHash h = HashKey(key);
  const uint8_t dir = DirOf(h);
  const uint64_t charge = Charge(key.size(), data.size());
  {
    std::lock_guard lock(mu_);
    if (index_.Find(h) != BlockIndex::kNone) return;  // immutable: already there
  }
  if (Status st = CheckFloor(dir, charge); !st.ok()) {
    ++rejected_;
    if (st.code() != Code::kNoSpace) CountError(st.ToString());
    return;
  }
  std::vector<Doomed> doomed;
  BlockIndex::Ref ref;
  {
    std::lock_guard lock(mu_);
    if (index_.Find(h) != BlockIndex::kNone) return;
    if (!MakeRoomLocked(charge, &doomed)) {
      ++rejected_;
      return;
    }
    ref = index_.Insert(h);
    BlockIndex::Entry& e = index_.at(ref);
    e.state = kWriting;
    e.dir = dir;
    e.charge = static_cast<uint32_t>(charge);
    used_ += charge;
  }
  Dispose(doomed);

  const std::string path = PathOf(dir, h, false);
  Status st = WriteFile(dir, path, EncodeBlockMeta(key, data), data, /*sync=*/false);
  std::unique_lock lock(mu_);
  BlockIndex::Entry& e = index_.at(ref);
  if (!st.ok()) {
    AbandonLocked(ref);
    lock.unlock();
    CountError("caching block " + std::string(key) + ": " + st.ToString());
    return;
  }
  if (e.flags & kRemoved) {
    lock.unlock();
    Unlink(path);
    lock.lock();
    AbandonLocked(ref);
    return;
  }
  e.state = kCached;
  index_.PushFront(ref);
  lru_bytes_ += charge;
  ++blocks_;
  ++inserts_;
  settled_.notify_all();
}

void DiskCache::Remove(std::string_view key) {
  if (!enabled()) return;
  const KeyHash h = HashKey(key);
  std::unique_lock lock(mu_);
  BlockIndex::Ref ref = index_.Find(h);
  if (ref == BlockIndex::kNone) {
    if (scan_done_) return;
    lock.unlock();
    Unlink(PathOf(DirOf(h), h, false));  // the scan may not have indexed it yet
    return;
  }
  BlockIndex::Entry& e = index_.at(ref);
  switch (e.state) {
    case kCached:
    case kStaged: {
      std::vector<Doomed> doomed{TakeLocked(ref)};
      lock.unlock();
      Dispose(doomed);
      return;
    }
    case kWriting:
    case kStaging:
    case kMoving:
      e.flags |= kRemoved;
      return;
    default:
      return;  // already being deleted
  }
}

CacheStats DiskCache::Stats() const {
  CacheStats s;
  s.hits = hits_;
  s.misses = misses_;
  s.inserts = inserts_;
  s.rejected = rejected_;
  s.evictions = evictions_;
  s.corrupt = corrupt_;
  s.errors = errors_;
  s.limit_bytes = options_.limit_bytes;
  std::lock_guard lock(mu_);
  s.blocks = blocks_;
  s.bytes = used_;
  s.staged_blocks = staged_keys_.size();
  s.staged_bytes = staged_bytes_;
  s.scanning = !scan_done_;
  return s;
}

Status DiskCache::Stage(std::string_view key, std::string_view data) {
  if (!enabled()) {
    return Unsupported("the disk cache is disabled (size 0), so it cannot stage block " +
                       std::string(key) + "; upload it directly");
  }
  if (key.empty() || key.size() > kMaxKeySize || data.size() > kMaxDataSize) {
    return Invalid("block " + std::string(key.substr(0, 200)) + " of " +
                   std::to_string(data.size()) + " bytes cannot be staged: keys must be 1 to " +
                   std::to_string(kMaxKeySize) + " bytes and blocks at most " +
                   std::to_string(kMaxDataSize) + " bytes");
  }
  const KeyHash h = HashKey(key);
  const uint8_t dir = DirOf(h);
  const uint64_t charge = Charge(key.size(), data.size());
  const std::string what = "staging block " + std::string(key) + " in " + dirs_[dir].user_dir;
  if (Status st = CheckFloor(dir, charge); !st.ok()) return st.Annotate(what);

  std::vector<Doomed> doomed;
  std::string cached_path;  // a cached copy of the same block, replaced by the staged one
  BlockIndex::Ref ref;
  {
    std::unique_lock lock(mu_);
    while (true) {
      ref = index_.Find(h);
      if (ref == BlockIndex::kNone) break;
      uint8_t state = index_.at(ref).state;
      if (state == kStaged) return OkStatus();
      if (state == kCached) break;
      settled_.wait(lock);  // another thread owns the entry for now
    }
    if (ref != BlockIndex::kNone) {
      // Take over the cached entry and its charge.
      BlockIndex::Entry& e = index_.at(ref);
      cached_path = PathOf(e.dir, h, false);
      lru_bytes_ -= e.charge;
      index_.Unlink(ref);
      --blocks_;
      used_ = used_ - e.charge + charge;
    } else {
      if (!MakeRoomLocked(charge, &doomed)) {
        return Status(Code::kNoSpace,
                      what + ": staged blocks fill the cache's limit of " +
                          std::to_string(options_.limit_bytes) +
                          " bytes; upload it directly, or give the cache more room");
      }
      ref = index_.Insert(h);
      used_ += charge;
    }
    BlockIndex::Entry& e = index_.at(ref);
    e.state = kStaging;
    e.dir = dir;
    e.charge = static_cast<uint32_t>(charge);
  }
  Dispose(doomed);

  const std::string path = PathOf(dir, h, true);
  Status st = WriteFile(dir, path, EncodeBlockMeta(key, data), data, /*sync=*/true);
  if (!cached_path.empty()) Unlink(cached_path);
  std::unique_lock lock(mu_);
  BlockIndex::Entry& e = index_.at(ref);
  if (!st.ok()) {
    AbandonLocked(ref);
    lock.unlock();
    CountError(what + ": " + st.ToString());
    return st.Annotate(what);
  }
  if (e.flags & kRemoved) {
    lock.unlock();
    Unlink(path);
    lock.lock();
    AbandonLocked(ref);
    return OkStatus();
  }
  e.state = kStaged;
  staged_keys_.emplace(h, std::string(key));
  staged_bytes_ += charge;
  ++blocks_;
  ++inserts_;
  settled_.notify_all();
  return OkStatus();
}

void DiskCache::Uploaded(std::string_view key) {
  if (!enabled()) return;
  const KeyHash h = HashKey(key);
  BlockIndex::Ref ref;
  uint8_t dir;
  {
    std::lock_guard lock(mu_);
    ref = index_.Find(h);
    if (ref == BlockIndex::kNone || index_.at(ref).state != kStaged) return;
    BlockIndex::Entry& e = index_.at(ref);
    e.state = kMoving;
    staged_keys_.erase(h);
    staged_bytes_ -= e.charge;
    dir = e.dir;
  }
  const std::string from = PathOf(dir, h, true);
  const std::string to = PathOf(dir, h, false);
  // No sync: should a crash undo the rename, the block is only uploaded twice.
  Status st = RenameInto(from, to, /*sync=*/false);
  std::unique_lock lock(mu_);
  BlockIndex::Entry& e = index_.at(ref);
  if (!st.ok() || (e.flags & kRemoved)) {
    lock.unlock();
    if (!st.ok()) CountError("moving uploaded block " + std::string(key) + ": " + st.ToString());
    Unlink(st.ok() ? to : from);
    lock.lock();
    --blocks_;
    AbandonLocked(ref);
    return;
  }
  e.state = kCached;
  index_.PushFront(ref);
  lru_bytes_ += e.charge;
  settled_.notify_all();
}

std::vector<std::string> DiskCache::ListStaged() {
  std::vector<std::string> keys;
  {
    std::lock_guard lock(mu_);
    keys.reserve(staged_keys_.size());
    for (const auto& [h, key] : staged_keys_) keys.push_back(key);
  }
  std::sort(keys.begin(), keys.end());
  return keys;
}

void DiskCache::WaitForScan() {
  std::unique_lock lock(mu_);
  settled_.wait(lock, [&] { return scan_done_ || stop_; });
}

Status DiskCache::ScanStaged() {
  for (size_t d = 0; d < dirs_.size(); ++d) {
    const std::string staging = dirs_[d].root + "/staging";
    bool readable = ForEachEntry(staging, [&](const char* hh) {
      const std::string sub = staging + "/" + hh;
      ForEachEntry(sub, [&](const char* name) {
        KeyHash h;
        const std::string path = sub + "/" + name;
        if (!ParseName(name, &h) || HashHex(h).compare(0, 2, hh) != 0) return true;
        uint64_t size = 0;
        Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        struct stat st;
        std::string head(kHeadRead, '\0');
        size_t got = 0;
        Status read = fd.get() < 0 || ::fstat(fd.get(), &st) != 0
                          ? ErrnoStatus(errno, "reading " + path)
                          : PreadAll(fd.get(), head.data(), head.size(), 0, &got, path);
        if (!read.ok()) {
          CountError("scanning staged blocks: " + read.ToString());
          return true;
        }
        size = static_cast<uint64_t>(st.st_size);
        head.resize(got);
        Result<uint64_t> meta_size = PeekMetaSize(head);
        if (meta_size.has_value() && *meta_size > head.size() && *meta_size <= size) {
          head.resize(*meta_size);
          read = PreadAll(fd.get(), head.data() + got, *meta_size - got, got, &got, path);
        }
        Result<BlockMeta> meta = DecodeBlockMeta(head, size);
        if (!meta.has_value() || HashKey(meta->key) != h) {
          ++corrupt_;
          spdlog::error(
              "{}: staged block file {} is corrupt ({}); the block it held was not "
              "uploaded and is lost; the file is left in place",
              Describe(), path,
              meta.has_value() ? "its key does not match its name" : meta.error().message());
          return true;
        }
        if (index_.Find(h) != BlockIndex::kNone) return true;  // the same block in two dirs
        const uint64_t charge = RoundUp(size);
        BlockIndex::Ref ref = index_.Insert(h);
        BlockIndex::Entry& e = index_.at(ref);
        e.state = kStaged;
        e.dir = static_cast<uint8_t>(d);
        e.charge = static_cast<uint32_t>(charge);
        used_ += charge;
        staged_bytes_ += charge;
        ++blocks_;
        staged_keys_.emplace(h, std::string(meta->key));
        return true;
      });
      return true;
    });
    if (!readable) {
      return ErrnoStatus(errno, "cache directory " + dirs_[d].user_dir + ": cannot read " +
                                    staging + ", where blocks not yet uploaded are kept");
    }
  }
  return OkStatus();
}

void DiskCache::ScanCached() {
  if (options_.before_scan) options_.before_scan();
  struct Found {
    KeyHash hash;
    int64_t mtime_ns;
    uint32_t charge;
    uint8_t dir;
  };
  std::vector<Found> found;
  for (size_t d = 0; d < dirs_.size() && !stop_; ++d) {
    const std::string blocks = dirs_[d].root + "/blocks";
    bool readable = ForEachEntry(blocks, [&](const char* hh) {
      const std::string sub = blocks + "/" + hh;
      DIR* dir = ::opendir(sub.c_str());
      if (dir == nullptr) return !stop_;
      while (struct dirent* entry = ::readdir(dir)) {
        if (stop_) break;
        KeyHash h;
        struct stat st;
        if (!ParseName(entry->d_name, &h) || HashHex(h).compare(0, 2, hh) != 0) continue;
        if (::fstatat(::dirfd(dir), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        if (!S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) > 2 * kMaxDataSize) {
          continue;
        }
        found.push_back(Found{h, int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec,
                              static_cast<uint32_t>(RoundUp(st.st_size)), static_cast<uint8_t>(d)});
      }
      ::closedir(dir);
      return !stop_;
    });
    if (!readable) CountError("scanning " + blocks + ": " + ErrnoText(errno));
  }
  if (stop_) return;
  // Newest first, each appended at the cold end: the oldest ends up coldest.
  std::sort(found.begin(), found.end(),
            [](const Found& a, const Found& b) { return a.mtime_ns > b.mtime_ns; });
  std::vector<Doomed> doomed;
  {
    std::lock_guard lock(mu_);
    for (const Found& f : found) {
      if (index_.Find(f.hash) != BlockIndex::kNone) continue;  // read or written meanwhile
      AddFoundLocked(f.hash, f.dir, f.charge, /*cold=*/true);
    }
    // The limit may have shrunk since the last run, and blocks read during
    // the scan were counted before the scan found the rest.
    while (used_ > options_.limit_bytes && index_.Oldest() != BlockIndex::kNone) {
      doomed.push_back(TakeLocked(index_.Oldest()));
      ++evictions_;
    }
  }
  Dispose(doomed);
  // Done only now, so that WaitForScan also waits for those evictions.
  std::lock_guard lock(mu_);
  scan_done_ = true;
  settled_.notify_all();
}

}  // namespace shoal::cache
