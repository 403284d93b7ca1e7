// Vfs: POSIX file-system semantics over meta (names, attributes, slice lists)
// and chunk (bytes). No FUSE types: fuse/ translates requests into these calls
// and Status codes into errnos, and tests call them in-process.
//
// Open files: Open/Create return a handle number; every data call names the
// inode and the handle. Written bytes are buffered per inode (and visible to
// reads through any handle at once) and committed as slices on Flush, Fsync,
// Release, or when the buffer grows past Options::write_buffer_per_file. A
// commit that fails is reported by the next Flush/Fsync/Release of the inode;
// its bytes stay buffered and are tried again then (and, once the file is
// closed, by the background loop and by Shutdown, which drops them if that
// last attempt fails too).
//
// Threading: every method is thread-safe.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "chunk/chunk.h"
#include "common/context.h"
#include "common/status.h"
#include "meta/meta.h"
#include "object/object_store.h"

namespace shoal::vfs {

using meta::Attr;
using meta::Entry;
using meta::Ino;

struct Options {
  // Flush an inode's buffered writes once they exceed this many bytes.
  uint64_t write_buffer_per_file = 64ull << 20;
  // Bytes buffered across all files of the mount: past it, each writer
  // stores its own file's buffer before its write returns (back-pressure).
  uint64_t buffer_size = 256ull << 20;
  // How often the background loop deletes the objects of freed slices.
  double gc_interval_sec = 1.0;
  // Compact a chunk once it holds more than this many slices.
  size_t compact_after_slices = 32;
  // Heartbeat period of the session.
  double heartbeat_sec = 10.0;
  // A client whose session has had no heartbeat for this long is taken for
  // dead: on an engine that several clients share, each client's background
  // loop then releases the dead one's locks and open files. Should be a few
  // heartbeats.
  double session_timeout_sec = 60.0;
  // The data path: cache, concurrency, write-back, readahead.
  chunk::BlockStoreOptions blocks;
  // Start the background threads (gc, heartbeat). Tests may drive them by hand.
  bool background = true;
};

struct OpenResult {
  uint64_t fh = 0;
  Attr attr;
  // The kernel may keep the pages it cached of this file: it has the same
  // length and mtime as when this mount last opened it, and this mount has
  // not changed it since. Else they must be dropped (another client may
  // have written it).
  bool keep_cache = false;
};

struct CreateResult {
  Entry entry;
  uint64_t fh = 0;
};

struct DirItem {
  std::string name;
  Ino ino = 0;
  meta::FileType type = meta::FileType::kFile;
  std::optional<Attr> attr;  // with ReadDir(plus = true)
  uint64_t next_offset = 0;  // pass this to continue after this entry
};

// ReadDir returns at most this many entries per call; call again from the
// last entry's next_offset until it returns none.
constexpr size_t kMaxDirItems = 1024;

// What the Flock/SetLk wait loop may do.
enum class LockWait { kNoWait, kWait };

class Vfs {
 public:
  // Takes the opened volume; `store` holds its data. Starts background work
  // when options.background. The caller starts the session
  // (meta::Meta::StartSession) before, since only it knows what to record
  // there; Shutdown ends it.
  static Result<std::unique_ptr<Vfs>> Create(std::unique_ptr<meta::Meta> meta,
                                             std::shared_ptr<object::ObjectStore> store,
                                             Options options);
  ~Vfs();  // calls Shutdown()

  // Commits every buffered write, stops background work, ends the session.
  // Returns the first error met. Safe to call more than once.
  Status Shutdown();

  // Bytes written but not yet stored, in all files (bounded by
  // Options::buffer_size plus the writes in progress).
  uint64_t BufferedBytes() const;

  meta::Meta& meta() { return *meta_; }
  chunk::BlockStore& blocks() { return *blocks_; }

  // --- namespace ---
  Result<Entry> Lookup(const Context& ctx, Ino parent, std::string_view name);
  Result<Attr> GetAttr(const Context& ctx, Ino ino);
  // size, if given, truncates (through fh when given: no permission check).
  Result<Attr> SetAttr(const Context& ctx, Ino ino, const meta::SetAttrRequest& req,
                       std::optional<uint64_t> size, std::optional<uint64_t> fh);
  Result<Entry> Mknod(const Context& ctx, Ino parent, std::string_view name, mode_t mode,
                      uint64_t rdev);
  Result<Entry> Mkdir(const Context& ctx, Ino parent, std::string_view name, mode_t mode);
  Result<Entry> Symlink(const Context& ctx, Ino parent, std::string_view name,
                        std::string_view target);
  Result<std::string> Readlink(const Context& ctx, Ino ino);
  Status Unlink(const Context& ctx, Ino parent, std::string_view name);
  Status Rmdir(const Context& ctx, Ino parent, std::string_view name);
  Status Rename(const Context& ctx, Ino parent, std::string_view name, Ino new_parent,
                std::string_view new_name, meta::RenameFlags flags);
  Result<Entry> Link(const Context& ctx, Ino ino, Ino new_parent, std::string_view new_name);
  Status Access(const Context& ctx, Ino ino, int mask);
  Result<meta::StatFs> StatFs(const Context& ctx);

  // --- files ---
  // flags: open(2) flags. O_TRUNC truncates; O_APPEND makes every write go to
  // the end; O_CREAT/O_EXCL are the caller's business (see Create).
  Result<OpenResult> Open(const Context& ctx, Ino ino, int flags);
  // Creates and opens a regular file. kExists if the name exists and flags
  // has O_EXCL; otherwise an existing file is opened (and truncated if O_TRUNC).
  Result<CreateResult> Create(const Context& ctx, Ino parent, std::string_view name, mode_t mode,
                              int flags);
  // Reads up to `size` bytes at `off` into out; short only at end of file.
  Status Read(const Context& ctx, Ino ino, uint64_t fh, uint64_t off, size_t size,
              std::string* out);
  // Returns the bytes written (all of them, or an error).
  Result<size_t> Write(const Context& ctx, Ino ino, uint64_t fh, uint64_t off,
                       std::string_view data);
  // close(2) of one descriptor: commits buffered writes, drops the POSIX locks
  // of lock_owner.
  Status Flush(const Context& ctx, Ino ino, uint64_t fh, uint64_t lock_owner);
  Status Fsync(const Context& ctx, Ino ino, uint64_t fh, bool datasync);
  // The last close of a handle: commits, drops its flock, forgets the handle.
  // The open count in meta drops at once on an exclusive engine, within
  // kCloseDelay on a shared one (batched, vfs_impl.h).
  Status Release(Ino ino, uint64_t fh);
  Status Fallocate(const Context& ctx, Ino ino, uint64_t fh, int mode, uint64_t off, uint64_t len);

  // --- directories ---
  Result<uint64_t> OpenDir(const Context& ctx, Ino ino);
  // Entries from position `offset` (0 = start, which also re-reads the
  // directory), "." and ".." first, at most kMaxDirItems of them; empty at
  // the end. Entries are a snapshot taken at offset 0, so a directory that
  // changes while it is read never yields an entry twice or skips one that
  // stayed.
  Result<std::vector<DirItem>> ReadDir(const Context& ctx, Ino ino, uint64_t fh, uint64_t offset,
                                       bool plus);
  Status ReleaseDir(Ino ino, uint64_t fh);

  // --- xattrs ---
  Result<std::string> GetXattr(const Context& ctx, Ino ino, std::string_view name);
  Result<std::vector<std::string>> ListXattr(const Context& ctx, Ino ino);
  Status SetXattr(const Context& ctx, Ino ino, std::string_view name, std::string_view value,
                  meta::XattrFlags flags);
  Status RemoveXattr(const Context& ctx, Ino ino, std::string_view name);

  // --- locks ---
  Result<meta::PosixLock> GetLk(const Context& ctx, Ino ino, uint64_t owner,
                                const meta::PosixLock& probe);
  // With kWait, retries until granted or ctx.Interrupted() (kInterrupted).
  // Deadlocks are not detected (no kDeadlock yet): a waiter in a cycle waits
  // until it is interrupted.
  // `fh` is the handle the lock was taken through: its Release drops the
  // locks of the owners it saw (open file description locks, F_OFD_SETLK, are
  // owned by the handle, and the kernel names no owner when it closes one).
  Status SetLk(const Context& ctx, Ino ino, uint64_t fh, uint64_t owner,
               const meta::PosixLock& lock, LockWait wait);
  // The front end should unlock an owner's flock at the release that drops
  // it (FUSE_RELEASE_FLOCK_UNLOCK); failing that, every flock granted here
  // on an inode is dropped when its last handle here is released.
  Status Flock(const Context& ctx, Ino ino, uint64_t owner, meta::LockType type, LockWait wait);

  // Runs one round of background work now: deletes the objects of freed
  // slices. Returns how many slices were deleted.
  Result<size_t> CollectGarbage();

 private:
  Vfs(std::unique_ptr<meta::Meta> meta, std::shared_ptr<object::ObjectStore> store,
      Options options);
  class Impl;
  std::unique_ptr<meta::Meta> meta_;
  std::unique_ptr<chunk::BlockStore> blocks_;
  Options options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shoal::vfs
