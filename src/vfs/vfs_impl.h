// Internal to vfs/: the state behind Vfs (handle tables, per-inode write
// state, background work). Not part of the public interface.
//
// Lock order (never acquire a lock on the left while holding one on its right):
//
//   InodeState::io_mu  ->  Impl::table_mu_ / handles_mu_ / locks_mu_  ->  InodeState::mu
//
// Only InodeState::io_mu is ever held across meta or object I/O, and it is
// per inode: no lock that covers more than one inode is held across I/O.
#pragma once

#include <fcntl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "chunk/chunk.h"
#include "common/status.h"
#include "meta/meta.h"
#include "vfs/vfs.h"

namespace shoal::vfs {

// The largest file size: chunk indexes are 32 bits wide, so a file holds at
// most 2^32 chunks (2^58 bytes).
constexpr uint64_t kMaxFileSize = kChunkSize << 32;

// On a shared engine a file's last close here is stored with others in one
// transaction, at most this long after it (or at once when this many wait).
constexpr std::chrono::milliseconds kCloseDelay{100};
constexpr size_t kMaxPendingCloses = 256;
// Closes per transaction: a transaction reads (and on Redis watches) a few
// keys per file, and a large watch set costs the server more than the
// round trips it saves.
constexpr size_t kCloseBatch = 32;

// Freed slices handled per PendingSliceDeletes call.
constexpr size_t kGcBatch = 1000;

// Lock waits poll meta with a sleep that doubles from the first value to the
// second: short enough that an uncontended handover is quick, long enough
// that a lock held for minutes costs at most 20 transactions a second.
constexpr std::chrono::milliseconds kLockPollFirst{1};
constexpr std::chrono::milliseconds kLockPollMax{50};

// A read that finds a block missing re-reads the chunk's slice list this many
// times: compaction or a truncate by another client may have freed the slice
// the first list named, and the new list no longer names it.
constexpr int kReadAttempts = 3;

struct FileHandle {
  Ino ino = 0;
  int flags = 0;  // open(2) flags
  // Reads through it get readahead (null for write-only handles).
  std::shared_ptr<chunk::ReadStream> stream;

  bool readable() const { return (flags & O_ACCMODE) != O_WRONLY; }
  bool writable() const { return (flags & O_ACCMODE) != O_RDONLY; }
  bool append() const { return (flags & O_APPEND) != 0; }
};

struct DirHandle {
  Ino ino = 0;
  std::mutex mu;  // guards the fields below
  bool loaded = false;
  std::vector<DirItem> items;  // the snapshot taken at offset 0
};

// What this client knows about one inode it has open or holds unwritten data
// for. Shared by every handle of the inode.
struct InodeState {
  explicit InodeState(chunk::PagePool* pool) : buffer(pool) {}

  // Held exclusively to change the buffer or to commit it; a commit keeps it
  // across the upload and the meta transaction, so that a reader (which holds
  // it shared) never misses bytes that have left the buffer but are not in
  // meta yet.
  std::shared_mutex io_mu;
  chunk::WriteBuffer buffer;  // guarded by io_mu

  // Take io_mu through these: a writer waiting for it keeps new readers out
  // (the gate), so that a stream of overlapping reads cannot starve writes.
  std::shared_lock<std::shared_mutex> LockShared() {
    std::lock_guard gate(gate_mu);
    return std::shared_lock(io_mu);
  }
  std::unique_lock<std::shared_mutex> LockExclusive() {
    std::lock_guard gate(gate_mu);
    return std::unique_lock(io_mu);
  }
  std::mutex gate_mu;  // held only while acquiring io_mu

  // Small facts, guarded by mu, which is never held across I/O.
  std::mutex mu;
  uint64_t length = 0;      // the committed length as last learned from meta
  uint64_t epoch = 0;       // bumped by every local change of the length
  uint32_t mode = 0;        // permission bits as last learned
  uint64_t buffer_end = 0;  // buffer.End(), readable without io_mu
  uint64_t counted = 0;     // buffer.bytes() as added to Impl's buffered total
  meta::Timespec mtime;     // of the last buffered write
  // A commit whose blocks the store failed but the disk cache kept (see
  // BlockStore::WriteSlice): recorded, durable, not uploaded yet. The next
  // Flush, Fsync or Release reports it once (CommitAndReport), as Linux
  // reports a writeback error.
  Status deferred;

  // Guarded by Impl::table_mu_.
  int open_handles = 0;
};

// Lock owners that were granted locks on an inode through this client, so
// that close can drop them without a transaction when there are none.
struct LockOwners {
  std::set<uint64_t> posix;
  std::set<uint64_t> flock;
};

class Vfs::Impl {
 public:
  Impl(meta::Meta& meta, chunk::BlockStore& blocks, const Options& options);
  ~Impl();  // stops the background thread if Shutdown did not

  // --- handles ---
  uint64_t NewHandleId() { return next_handle_.fetch_add(1); }
  void AddFile(uint64_t fh, FileHandle h);
  // The handle, if it exists and belongs to ino; kBadHandle otherwise.
  Result<FileHandle> GetFile(uint64_t fh, Ino ino);
  Result<FileHandle> TakeFile(uint64_t fh, Ino ino);  // and forgets it
  void AddDir(uint64_t fh, std::shared_ptr<DirHandle> h);
  Result<std::shared_ptr<DirHandle>> GetDir(uint64_t fh, Ino ino);
  Status TakeDir(uint64_t fh, Ino ino);

  // Open for Open and Create: counts the open in meta (checking permission
  // for `ctx`, or for nobody when the caller just created the file, as
  // open(O_CREAT) grants the access asked for whatever the new mode says),
  // handles O_TRUNC, and registers a handle.
  // `created`: the attributes of a file meta.Create just made (and counted as open).
  Result<OpenResult> OpenFile(const Context& ctx, Ino ino, int flags, const Attr* created);

  // --- inode states ---
  // The state of ino, created if missing, with one more open handle counted.
  std::shared_ptr<InodeState> Acquire(Ino ino);
  // Counts one handle less; forgets the state when nothing keeps it. Returns
  // true when this was the inode's last handle on this client.
  bool Unacquire(Ino ino, const std::shared_ptr<InodeState>& st);
  // The state of ino, or null when this client has none.
  std::shared_ptr<InodeState> Find(Ino ino);
  // States with buffered data and no open handle (a commit failed at close).
  std::vector<std::pair<Ino, std::shared_ptr<InodeState>>> Orphans();
  std::vector<std::pair<Ino, std::shared_ptr<InodeState>>> AllStates();
  // Forgets the state of ino if it has no handles and no data.
  void ForgetIfIdle(Ino ino, const std::shared_ptr<InodeState>& st);

  // Updates the cached length and mode from attributes read from meta at
  // `epoch` (read before the meta call), unless a local change came since.
  static void Learn(InodeState& st, uint64_t epoch, const Attr& attr);
  // Records attributes returned by a local change (commit, truncate, ...).
  static void Changed(InodeState& st, const Attr& attr);
  // Refreshes buffer_end and the mount's count of buffered bytes after a
  // change of the buffer, and records `mtime` (a write's) if given; io_mu held.
  void SyncBufferEnd(InodeState& st, const meta::Timespec* mtime = nullptr);
  // Whether `attr` is the version of the file last opened here (and records
  // it); ForgetVersion when a change here may keep length and mtime.
  bool SameVersion(Ino ino, const Attr& attr);
  void ForgetVersion(Ino ino);
  // Bytes buffered in all files of the mount (what Options::buffer_size bounds).
  uint64_t buffered_total() const { return buffered_total_.load(std::memory_order_relaxed); }
  // Shows buffered writes in attributes read from meta: length and times.
  void Adjust(Ino ino, Attr* attr);

  // --- data ---
  // Uploads the buffer as slices and records them in meta; io_mu held
  // exclusively. On failure the data stays buffered for a later attempt.
  // Also raises the length to `min_length` (a length that buffered bytes
  // dropped by a punch hole had set). Returns the chunks that got new slices.
  Result<std::vector<uint32_t>> CommitLocked(Ino ino, InodeState& st, uint64_t min_length = 0);
  // Takes io_mu, commits, then compacts the chunks that need it.
  Status Commit(Ino ino, InodeState& st);
  // Commit, then the deferral a commit recorded (InodeState::deferred),
  // reported once: what Flush, Fsync and Release return.
  Status CommitAndReport(Ino ino, InodeState& st);
  // Compacts those of `chunks` that hold more than compact_after_slices
  // slices. Best effort: failures are logged, never returned.
  void MaybeCompact(Ino ino, const std::vector<uint32_t>& chunks);
  Status CompactChunk(Ino ino, uint32_t index, const std::vector<Slice>& slices);
  // Reads [pos, pos+len) of one chunk into out (resized to len).
  // `stream` may be null (no readahead).
  Status ReadChunkRange(Ino ino, uint32_t index, uint32_t pos, uint32_t len, std::string* out,
                        chunk::ReadStream* stream);
  // Truncate through the buffer; st may be null when nothing is buffered.
  Result<Attr> Truncate(const Context& ctx, Ino ino, const std::shared_ptr<InodeState>& st,
                        uint64_t length, bool skip_perm);
  // Clears suid/sgid before a write by a non-root caller, as Linux does.
  Status RemovePrivileges(const Context& ctx, Ino ino, InodeState& st);
  // Drops the buffers of orphans whose inode is gone (unlinked, not open).
  void DropDeadOrphans();
  // Commits the buffers of orphans; drops those whose inode is gone.
  void RetryOrphans();

  // --- closes ---
  // Counts a close of ino in meta: batched on a shared engine when the
  // background loop runs (see kCloseDelay), else at once.
  Status CloseInMeta(Ino ino);
  // Stores the batched closes now.
  void FlushCloses();

  // --- locks ---
  void NotePosixOwner(Ino ino, uint64_t fh, uint64_t owner);
  std::set<uint64_t> TakeHandleOwners(uint64_t fh);
  void NoteFlockOwner(Ino ino, uint64_t owner);
  void ForgetFlockOwner(Ino ino, uint64_t owner);  // after it unlocked
  // True if owner was granted POSIX locks on ino; forgets it.
  bool TakePosixOwner(Ino ino, uint64_t owner);
  LockOwners TakeAllOwners(Ino ino);
  // Retries `attempt` while it returns kWouldBlock and `wait` allows it.
  Status WaitLoop(const Context& ctx, LockWait wait, const std::function<Status()>& attempt);

  // --- background work and shutdown ---
  Result<size_t> CollectGarbage();
  void StartBackground();
  void StopBackground();
  bool stopping() const { return stopping_.load(); }

  meta::Meta& meta_;
  chunk::BlockStore& blocks_;
  const Options options_;
  // Pages of the write buffers; before states_, which it outlives. Keeps up
  // to one file's buffer of free pages for the next writer.
  chunk::PagePool pages_;

  std::mutex shutdown_mu_;
  bool shut_down_ = false;  // guarded by shutdown_mu_
  Status shutdown_status_;  // guarded by shutdown_mu_

 private:
  void BackgroundLoop();

  std::atomic<uint64_t> next_handle_{1};

  std::mutex handles_mu_;
  std::unordered_map<uint64_t, FileHandle> files_;                 // guarded by handles_mu_
  std::unordered_map<uint64_t, std::shared_ptr<DirHandle>> dirs_;  // guarded by handles_mu_

  std::atomic<uint64_t> buffered_total_{0};
  // Length and mtime of files at their last open here (see
  // OpenResult::keep_cache); dropped by truncate and fallocate (a write
  // changes the mtime at its commit).
  std::mutex versions_mu_;
  std::unordered_map<Ino, std::pair<meta::Timespec, uint64_t>> versions_;
  std::mutex table_mu_;
  std::unordered_map<Ino, std::shared_ptr<InodeState>> states_;  // guarded by table_mu_

  std::mutex locks_mu_;
  std::unordered_map<Ino, LockOwners> lock_owners_;  // guarded by locks_mu_
  // POSIX lock owners seen through each file handle.  // guarded by locks_mu_
  std::unordered_map<uint64_t, std::set<uint64_t>> handle_owners_;

  std::atomic<bool> stopping_{false};
  std::mutex bg_mu_;
  std::condition_variable bg_cv_;
  bool bg_stop_ = false;        // guarded by bg_mu_
  bool closes_queued_ = false;  // guarded by bg_mu_: a first close waits in pending_closes_
  std::mutex closes_mu_;
  std::vector<Ino> pending_closes_;  // guarded by closes_mu_
  std::thread bg_;
};

}  // namespace shoal::vfs
