// Meta: the file-system schema over a kv::Engine (see docs/format.md).
//
// One Meta serves one volume for one client (a mount or a tool). Every
// namespace operation is one KV transaction, and checks POSIX permissions for
// the Context inside that transaction, so the check and the change see the
// same state. Data operations work on chunks' slice lists; the bytes
// themselves are the chunk layer's business (meta never touches objects).
//
// Threading: all methods are thread-safe.
// Failures: POSIX-style codes (kNotFound, kExists, kAccess, ...) for what a
// caller asked wrongly; kUnavailable / kIo when the engine fails; kCorrupt
// when a stored value does not decode.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/context.h"
#include "common/slice.h"
#include "common/status.h"
#include "kv/kv.h"

namespace shoal::meta {

using Ino = uint64_t;
constexpr Ino kRootIno = 1;
constexpr uint32_t kFormatVersion = 2;  // bump on any change to docs/format.md
constexpr size_t kMaxName = 255;        // bytes, as on Linux
constexpr uint32_t kDefaultBlockSize = 4u << 20;
constexpr size_t kMaxXattrName = 255;
constexpr size_t kMaxXattrValue = 64u << 10;
constexpr uint32_t kMaxLinks = 65000;  // per inode, like ext4

enum class FileType : uint8_t {
  kFile = 1,
  kDir = 2,
  kSymlink = 3,
  kFifo = 4,
  kCharDev = 5,
  kBlockDev = 6,
  kSocket = 7,
};
// S_IFREG etc. for a type, and back (kInvalid for a mode with no known type).
mode_t ModeBitsOf(FileType t);
Result<FileType> TypeOfMode(mode_t mode);

struct Timespec {
  int64_t sec = 0;
  uint32_t nsec = 0;
  bool operator==(const Timespec&) const = default;
};
Timespec Now();

struct Attr {
  FileType type = FileType::kFile;
  uint32_t mode = 0;  // permission bits, including suid, sgid, sticky (07777)
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t nlink = 1;
  uint64_t length = 0;  // file size; for a symlink, the target's length
  uint64_t rdev = 0;
  Timespec atime, mtime, ctime;
  Ino parent = 0;  // a directory's parent; for others the first parent (hint only)

  mode_t FullMode() const { return ModeBitsOf(type) | mode; }
};

struct Entry {
  Ino ino = 0;
  Attr attr;
};

struct DirEntry {
  std::string name;
  Ino ino = 0;
  FileType type = FileType::kFile;
  std::optional<Attr> attr;  // filled when asked (readdirplus)
};

// Which fields of SetAttrRequest to apply.
enum SetAttrMask : uint32_t {
  kSetMode = 1 << 0,
  kSetUid = 1 << 1,
  kSetGid = 1 << 2,
  kSetAtime = 1 << 3,     // to `atime`
  kSetMtime = 1 << 4,     // to `mtime`
  kSetAtimeNow = 1 << 5,  // to the current time (UTIME_NOW)
  kSetMtimeNow = 1 << 6,
  kSetCtime = 1 << 7,
};

struct SetAttrRequest {
  uint32_t mask = 0;
  uint32_t mode = 0;  // permission bits only
  uint32_t uid = 0;
  uint32_t gid = 0;
  Timespec atime, mtime, ctime;
};

// Access bits for Access(): R_OK, W_OK, X_OK from <unistd.h>.

enum class RenameFlags : uint32_t { kNone = 0, kNoReplace = 1, kExchange = 2 };

enum class XattrFlags { kAny = 0, kCreate = 1, kReplace = 2 };

struct StatFs {
  uint64_t total_bytes = 0;  // capacity (the volume's quota, or a large default)
  uint64_t used_bytes = 0;
  uint64_t total_inodes = 0;
  uint64_t used_inodes = 0;
};

struct VolumeConfig {
  std::string name;
  std::string uuid;  // set by Format
  uint32_t block_size = kDefaultBlockSize;
  std::string storage;  // "file", "mem", later "s3"
  std::string bucket;   // where: a directory, a bucket URL
  // Object-store credentials, when the volume keeps them (format may leave
  // them out so that every mount supplies them). Never print secret_key.
  std::string access_key;
  std::string secret_key;
  std::string region;
  uint32_t format_version = kFormatVersion;
  uint64_t capacity = 0;  // bytes; 0 = unlimited (statfs shows 1 PiB)
  int64_t created_sec = 0;
};

// A write of one slice into one chunk, committed by WriteSlices.
struct SliceWrite {
  uint32_t chunk_index = 0;
  Slice slice;
};

// Lock types for Flock/SetLk.
enum class LockType : uint8_t { kUnlock = 0, kRead = 1, kWrite = 2 };

struct PosixLock {
  LockType type = LockType::kUnlock;
  uint64_t start = 0;
  uint64_t end = 0;  // inclusive; UINT64_MAX: to end of file
  uint32_t pid = 0;  // of the holder, for F_GETLK
};

struct SessionInfo {
  uint64_t id = 0;
  std::string host;
  uint32_t pid = 0;
  std::string mountpoint;
  std::string version;
  int64_t started_sec = 0;
  int64_t heartbeat_sec = 0;
};

struct VolumeUsage {
  uint64_t used_bytes = 0;
  uint64_t inodes = 0;
  uint64_t pending_delete_slices = 0;
};

class Meta {
 public:
  // Writes the volume record and the root directory into an empty namespace.
  // kExists (and nothing written) when a volume already lives there.
  static Status Format(kv::Engine& engine, VolumeConfig config);

  // Opens the volume in `engine`. kNotFound when none was formatted there;
  // kVersion when its format_version is not kFormatVersion.
  static Result<std::unique_ptr<Meta>> Open(std::shared_ptr<kv::Engine> engine);

  // Reads the volume record without opening a session.
  static Result<VolumeConfig> Load(kv::Engine& engine);

  ~Meta();
  const VolumeConfig& config() const { return config_; }

  // --- sessions (one per mount or tool run) ---
  Status StartSession(const SessionInfo& info);  // fills id; starts nothing in the background
  Status Heartbeat();
  Status EndSession();  // releases the files this session holds open, drops its locks
  // Removes sessions whose heartbeat is older than `stale_sec`, releasing their
  // locks and their holds on open files (freeing unlinked ones). Returns how many were removed.
  Result<int> CleanStaleSessions(int64_t stale_sec);
  Result<std::vector<SessionInfo>> ListSessions();
  // Whether other clients may use the volume at the same time (the engine
  // is not exclusive): only then can sessions go stale while this one runs.
  bool shared() const;
  Result<VolumeUsage> Usage();
  // Adds this client's usage changes to the stored counters (Heartbeat and
  // EndSession do too). vfs calls it every second, so that a client crash
  // loses at most that much of the counts.
  Status FlushUsage();
  // Sets the stored counters from the inodes themselves: one scan of every
  // inode. StartSession does it when it finds that the previous client of an
  // exclusive engine crashed.
  Status RecountUsage();

  // --- namespace ---
  Result<Entry> Lookup(const Context& ctx, Ino parent, std::string_view name);
  Result<Attr> GetAttr(Ino ino);
  Status Access(const Context& ctx, Ino ino, int mask);  // R_OK | W_OK | X_OK
  // Changes mode, owner and times (not size: see Truncate), with POSIX's
  // rules: only the owner or root changes mode or times (or anyone with write
  // access for *Now); chown by non-root is refused unless a no-op or a gid
  // change to one of the caller's groups; clears suid/sgid as Linux does.
  Result<Attr> SetAttr(const Context& ctx, Ino ino, const SetAttrRequest& req);
  // Creates a node (any type but symlink). `mode` is type bits | permission
  // bits with the umask already applied. Inherits the group of a setgid
  // parent, and a directory inherits the setgid bit itself.
  Result<Entry> Mknod(const Context& ctx, Ino parent, std::string_view name, mode_t mode,
                      uint64_t rdev);
  Result<Entry> Symlink(const Context& ctx, Ino parent, std::string_view name,
                        std::string_view target);
  Result<std::string> Readlink(Ino ino);
  Status Unlink(const Context& ctx, Ino parent, std::string_view name);
  Status Rmdir(const Context& ctx, Ino parent, std::string_view name);
  Status Rename(const Context& ctx, Ino parent, std::string_view name, Ino new_parent,
                std::string_view new_name, RenameFlags flags);
  Result<Entry> Link(const Context& ctx, Ino ino, Ino new_parent, std::string_view new_name);
  // All entries of a directory (without "." and ".."), sorted by name, as of
  // one snapshot. Needs read and execute permission... read only, as Linux.
  Result<std::vector<DirEntry>> Readdir(const Context& ctx, Ino dir, bool with_attr);
  Result<StatFs> GetStatFs();

  // --- xattrs ---
  Result<std::string> GetXattr(const Context& ctx, Ino ino, std::string_view name);
  Result<std::vector<std::string>> ListXattr(const Context& ctx, Ino ino);
  Status SetXattr(const Context& ctx, Ino ino, std::string_view name, std::string_view value,
                  XattrFlags flags);
  Status RemoveXattr(const Context& ctx, Ino ino, std::string_view name);

  // --- open files ---
  // Checks access for open flags (O_RDONLY/O_WRONLY/O_RDWR; O_TRUNC needs
  // write) and counts the open, so that an unlinked open file keeps its data
  // until the last Close. Returns the current attributes.
  Result<Attr> Open(const Context& ctx, Ino ino, int flags);
  // Creates a regular file (like Mknod with S_IFREG) and counts it as opened,
  // in one transaction: the caller must Close it.
  Result<Entry> Create(const Context& ctx, Ino parent, std::string_view name, mode_t mode);
  // Drops one open; frees the inode if it was unlinked and this was the last
  // open by any client.
  Status Close(Ino ino);
  // Close of each of `inos` (one entry per open dropped; repeats allowed),
  // with all the stores it needs in one transaction.
  Status CloseMany(const std::vector<Ino>& inos);

  // --- data ---
  Result<std::vector<Slice>> ReadChunk(Ino ino, uint32_t chunk_index);
  // New slice ids, taken from a counter in batches.
  Result<uint64_t> NewSliceId();
  // Appends slices to their chunks in one transaction, raises the length to
  // at least `min_length`, sets mtime and ctime to `mtime`, and clears suid
  // and sgid as a write by a non-owner must (done by vfs through SetAttr).
  // Slices that become fully hidden are removed and queued for deletion.
  Result<Attr> WriteSlices(Ino ino, const std::vector<SliceWrite>& writes, uint64_t min_length,
                           Timespec mtime);
  // Sets the length. Shrinking drops the chunks past the end and hides the
  // tail of the last one, so that growing again reads zeros. Needs write
  // permission unless `skip_perm` (ftruncate on a file opened for writing).
  Result<Attr> Truncate(const Context& ctx, Ino ino, uint64_t length, bool skip_perm);
  // mode 0: extend the length to cover [off, off+len) (data reads as zeros);
  // FALLOC_FL_KEEP_SIZE: nothing to record; FALLOC_FL_PUNCH_HOLE (with
  // KEEP_SIZE) and FALLOC_FL_ZERO_RANGE: the range reads zeros afterwards.
  Result<Attr> Fallocate(Ino ino, int mode, uint64_t off, uint64_t len);
  // Replaces a chunk's slice list with `replacement` if it still equals
  // `expected` (compaction). Old slices are queued for deletion. kBusy
  // (not retried) when the chunk changed meanwhile.
  Status ReplaceChunk(Ino ino, uint32_t chunk_index, const std::vector<Slice>& expected,
                      const std::vector<Slice>& replacement);
  // All chunks of a file with their slices (for `shoal info`).
  Result<std::map<uint32_t, std::vector<Slice>>> ListChunks(Ino ino);

  // --- slices waiting for their objects to be deleted ---
  Result<std::vector<Slice>> PendingSliceDeletes(size_t limit);
  Status ForgetSliceDelete(const Slice& s);  // after its objects are gone

  // --- locks (held by this session; `owner` is the lock owner from the kernel) ---
  // kWouldBlock when another owner holds a conflicting lock.
  Status Flock(Ino ino, uint64_t owner, LockType type);
  // F_GETLK: the first lock that conflicts with `probe`, or type kUnlock.
  Result<PosixLock> GetLk(Ino ino, uint64_t owner, const PosixLock& probe);
  // F_SETLK: kWouldBlock on conflict. Unlock splits ranges as POSIX says.
  Status SetLk(Ino ino, uint64_t owner, const PosixLock& lock);
  // Drops every POSIX lock of `owner` on ino (close), and the flock if `flock`.
  Status ReleaseLocks(Ino ino, uint64_t owner, bool flock);

  class Impl;  // defined in internal.h, for meta's own files

 private:
  Meta(std::shared_ptr<kv::Engine> engine, VolumeConfig config);
  std::shared_ptr<kv::Engine> engine_;
  VolumeConfig config_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shoal::meta
