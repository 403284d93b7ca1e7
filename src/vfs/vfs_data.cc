// Vfs: file data. Open files, reads, buffered writes and their commit,
// truncate, fallocate, compaction and the deletion of freed slices.
//
// Design note.
//
// Moving parts: every inode that this client has open (or still holds
// unwritten bytes for) has one InodeState, shared by all of its handles. Its
// WriteBuffer holds written bytes by file offset. A commit drains the buffer,
// uploads each piece (one per chunk touched) as a new slice under a fresh id,
// and records all of them in meta in one WriteSlices transaction.
//
// Invariants:
// - Every byte this client wrote is either in the buffer or in meta, as seen
//   by any reader of this client: a commit holds the inode's io_mu exclusively
//   from Drain to the end of WriteSlices, and readers hold it shared while
//   they read meta, read objects and overlay the buffer.
// - A failed commit puts the drained bytes back into the buffer, so nothing
//   is lost while the file is open: the next Flush, Fsync or Release retries
//   and reports the outcome. Slices uploaded by the failed attempt are deleted
//   when the failure came before WriteSlices; when WriteSlices itself failed
//   they are kept (the transaction may have committed after all), and are at
//   worst left as unreferenced objects.
// - When the last handle closes and the commit still fails, the state stays
//   as an "orphan" that the background loop retries; its bytes are dropped
//   when the inode is deleted, or reported lost by Shutdown.
//
// Back-pressure: an inode's buffer is committed before it would grow past
// Options::write_buffer_per_file, in the writer's thread; when that commit
// fails, the write fails and the buffer does not grow. There is no bound
// across inodes: many files written at once each hold up to that much.
#include <linux/falloc.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "vfs/vfs.h"
#include "vfs/vfs_impl.h"

namespace shoal::vfs {
namespace {

constexpr uint32_t kTimeBits =
    meta::kSetAtime | meta::kSetMtime | meta::kSetAtimeNow | meta::kSetMtimeNow | meta::kSetCtime;

std::string InoName(Ino ino) { return "inode " + std::to_string(ino); }

Status TooBig(uint64_t off, uint64_t len) {
  return Status(Code::kFileTooBig, "a file may hold at most " + std::to_string(kMaxFileSize) +
                                       " bytes; the request reaches offset " + std::to_string(off) +
                                       " + " + std::to_string(len));
}

// ReplaceChunk's answer when the chunk changed under a compaction (kBusy),
// or when the engine gave up retrying a conflict.
bool ChunkChanged(const Status& s) {
  return s.code() == Code::kConflict || s.code() == Code::kBusy;
}

}  // namespace

// ---------------------------------------------------------------------------
// Impl: data helpers

Result<OpenResult> Vfs::Impl::OpenFile(const Context& ctx, Ino ino, int flags,
                                       const Attr* created) {
  std::shared_ptr<InodeState> st = Acquire(ino);
  uint64_t epoch;
  {
    std::lock_guard small(st->mu);
    epoch = st->epoch;
  }
  // A file made by meta.Create is counted as open already.
  Result<Attr> opened = created ? Result<Attr>(*created) : meta_.Open(ctx, ino, flags);
  if (!opened) {
    Unacquire(ino, st);
    return opened.error();
  }
  Attr attr = *opened;
  Learn(*st, epoch, attr);
  bool keep_cache = !created && !(flags & O_TRUNC) && SameVersion(ino, attr);
  if ((flags & O_TRUNC) && !created && attr.type == meta::FileType::kFile) {
    // meta.Open checked the write permission O_TRUNC needs.
    Result<Attr> truncated = Truncate(ctx, ino, st, 0, /*skip_perm=*/true);
    if (!truncated) {
      Unacquire(ino, st);
      Status closed = meta_.Close(ino);
      if (!closed.ok())
        spdlog::warn("vfs: closing {} after a failed O_TRUNC: {}", ino, closed.ToString());
      return truncated.error();
    }
    attr = *truncated;
  }
  uint64_t fh = NewHandleId();
  FileHandle handle{ino, flags, nullptr};
  if (handle.readable()) {
    handle.stream = blocks_.OpenStream(
        [&meta = meta_, ino](uint32_t index) { return meta.ReadChunk(ino, index); });
  }
  AddFile(fh, std::move(handle));
  Adjust(ino, &attr);
  return OpenResult{fh, attr, keep_cache};
}

Result<std::vector<uint32_t>> Vfs::Impl::CommitLocked(Ino ino, InodeState& st,
                                                      uint64_t min_length) {
  if (st.buffer.empty()) {
    std::lock_guard small(st.mu);
    if (min_length <= st.length) return std::vector<uint32_t>{};
  }
  std::vector<chunk::WriteBuffer::Piece> pieces = st.buffer.Drain();
  auto restore = [&] {
    for (const auto& p : pieces) {
      st.buffer.Write(uint64_t{p.chunk_index} * kChunkSize + p.pos, p.data.ToString());
    }
    SyncBufferEnd(st);
  };
  std::vector<meta::SliceWrite> writes;
  writes.reserve(pieces.size());
  Status deferred;  // blocks kept in the cache because the store failed them
  for (const auto& p : pieces) {
    auto size = static_cast<uint32_t>(p.data.size());
    Result<uint64_t> id = meta_.NewSliceId();
    Status late;
    Status s = id ? blocks_.WriteSlice(*id, p.data, &late) : id.error();
    if (deferred.ok() && !late.ok()) deferred = std::move(late);
    if (!s.ok()) {
      // Nothing refers to these slices yet: their objects can go at once.
      if (id) (void)blocks_.DeleteSlice(*id, size);
      for (const auto& w : writes) (void)blocks_.DeleteSlice(w.slice.id, w.slice.size);
      restore();
      return s.Annotate("writing data of " + InoName(ino) + " (kept for another try)");
    }
    writes.push_back(meta::SliceWrite{p.chunk_index, Slice{*id, size, 0, size, p.pos}});
    min_length = std::max(min_length, uint64_t{p.chunk_index} * kChunkSize + p.pos + size);
  }
  meta::Timespec mtime;
  {
    std::lock_guard small(st.mu);
    mtime = st.mtime;
  }
  Result<Attr> attr = meta_.WriteSlices(ino, writes, min_length, mtime);
  if (!attr) {
    restore();
    return attr.error().Annotate("recording written data of " + InoName(ino) +
                                 " (kept for another try)");
  }
  Changed(st, *attr);
  SyncBufferEnd(st);
  if (!deferred.ok()) {
    // Recorded and durable in the cache, but not in the store yet: nothing
    // is lost and nothing is left to retry here, but the application learns
    // of the outage at its next fsync or close (CommitAndReport).
    std::lock_guard small(st.mu);
    if (st.deferred.ok()) {
      st.deferred = deferred.Annotate(
          "writing data of " + InoName(ino) +
          ": it is kept in this machine's disk cache and uploaded when the store is back "
          "('shoal status MOUNTPOINT' shows the blocks waiting)");
    }
  }
  std::vector<uint32_t> touched;
  for (const auto& w : writes) touched.push_back(w.chunk_index);
  return touched;
}

Status Vfs::Impl::CommitAndReport(Ino ino, InodeState& st) {
  RETURN_IF_ERROR(Commit(ino, st));
  std::lock_guard small(st.mu);
  return std::exchange(st.deferred, OkStatus());
}

Status Vfs::Impl::Commit(Ino ino, InodeState& st) {
  std::vector<uint32_t> touched;
  {
    auto io = st.LockExclusive();
    ASSIGN_OR_RETURN(touched, CommitLocked(ino, st));
  }
  MaybeCompact(ino, touched);
  return OkStatus();
}

void Vfs::Impl::MaybeCompact(Ino ino, const std::vector<uint32_t>& chunks) {
  for (uint32_t index : chunks) {
    Result<std::vector<Slice>> slices = meta_.ReadChunk(ino, index);
    if (!slices) {
      spdlog::warn("vfs: compaction of {} chunk {}: {}", InoName(ino), index,
                   slices.error().ToString());
      continue;
    }
    if (slices->size() <= options_.compact_after_slices) continue;
    Status s = CompactChunk(ino, index, *slices);
    if (!s.ok()) {
      spdlog::warn("vfs: compaction of {} chunk {}: {}", InoName(ino), index, s.ToString());
    }
  }
}

Status Vfs::Impl::CompactChunk(Ino ino, uint32_t index, const std::vector<Slice>& slices) {
  // The new slice spans the visible data only: holes at the edges (a
  // truncate hides a chunk's tail with one that reaches the chunk's end) read
  // as zeros without any slice, and holes inside become stored zeros.
  uint64_t lo = kChunkSize;
  uint64_t hi = 0;
  for (const Segment& seg : ResolveSlices(slices)) {
    if (seg.id == 0) continue;
    lo = std::min<uint64_t>(lo, seg.pos);
    hi = std::max<uint64_t>(hi, uint64_t{seg.pos} + seg.len);
  }
  if (hi <= lo) {
    // Nothing visible is left: an empty list reads the same.
    Status s = meta_.ReplaceChunk(ino, index, slices, {});
    return ChunkChanged(s) ? OkStatus() : s;
  }
  auto len = static_cast<uint32_t>(hi - lo);
  std::string data;
  RETURN_IF_ERROR(blocks_.ReadChunk(slices, static_cast<uint32_t>(lo), len, &data));
  ASSIGN_OR_RETURN(uint64_t id, meta_.NewSliceId());
  Status s = blocks_.WriteSlice(id, data);
  if (s.ok()) {
    s = meta_.ReplaceChunk(ino, index, slices, {Slice{id, len, 0, len, static_cast<uint32_t>(lo)}});
  }
  if (!s.ok()) {
    (void)blocks_.DeleteSlice(id, len);
    if (ChunkChanged(s)) return OkStatus();  // compacted again after the next commit
  }
  return s;
}

Status Vfs::Impl::ReadChunkRange(Ino ino, uint32_t index, uint32_t pos, uint32_t len,
                                 std::string* out, chunk::ReadStream* stream) {
  std::vector<Slice> previous;
  Status last;
  for (int attempt = 0; attempt < kReadAttempts; ++attempt) {
    ASSIGN_OR_RETURN(std::vector<Slice> slices, meta_.ReadChunk(ino, index));
    if (attempt > 0 && slices == previous) break;  // the same list: retrying cannot help
    last = stream != nullptr ? stream->Read(index, slices, pos, len, out)
                             : blocks_.ReadChunk(slices, pos, len, out);
    if (last.ok()) return last;
    if (last.code() != Code::kIo && last.code() != Code::kNotFound) break;
    previous = std::move(slices);
  }
  return last.Annotate("reading " + InoName(ino) + " chunk " + std::to_string(index));
}

Result<Attr> Vfs::Impl::Truncate(const Context& ctx, Ino ino, const std::shared_ptr<InodeState>& st,
                                 uint64_t length, bool skip_perm) {
  if (length > kMaxFileSize) return TooBig(length, 0);
  ForgetVersion(ino);
  if (!st) return meta_.Truncate(ctx, ino, length, skip_perm);
  std::vector<uint32_t> touched;
  Result<Attr> attr;
  {
    auto io = st->LockExclusive();
    if (!st->buffer.empty()) {
      // Check before touching the buffer: it holds other writers' bytes.
      if (!skip_perm) RETURN_IF_ERROR(meta_.Access(ctx, ino, W_OK));
      st->buffer.Truncate(length);
      SyncBufferEnd(*st);
      ASSIGN_OR_RETURN(touched, CommitLocked(ino, *st));
    }
    attr = meta_.Truncate(ctx, ino, length, skip_perm);
    if (attr) Changed(*st, *attr);
  }
  MaybeCompact(ino, touched);
  return attr;
}

Status Vfs::Impl::RemovePrivileges(const Context& ctx, Ino ino, InodeState& st) {
  if (ctx.IsRoot()) return OkStatus();
  uint32_t mode;
  {
    std::lock_guard small(st.mu);
    mode = st.mode;
  }
  bool kill = (mode & S_ISUID) || ((mode & S_ISGID) && (mode & S_IXGRP));
  if (!kill) return OkStatus();
  meta::SetAttrRequest req;
  req.mask = meta::kSetMode;
  req.mode = mode & 07777 & ~uint32_t{S_ISUID | S_ISGID};
  Result<Attr> attr = meta_.SetAttr(Context::Root(), ino, req);
  if (!attr) return attr.error().Annotate("clearing set-id bits before a write to " + InoName(ino));
  std::lock_guard small(st.mu);
  st.mode = attr->mode;
  return OkStatus();
}

void Vfs::Impl::DropDeadOrphans() {
  for (auto& [ino, st] : Orphans()) {
    Result<Attr> attr = meta_.GetAttr(ino);
    bool gone = attr ? attr->nlink == 0 : attr.error().code() == Code::kNotFound;
    if (!gone) continue;
    {
      auto io = st->LockExclusive();
      st->buffer.Drain();
      SyncBufferEnd(*st);
    }
    ForgetIfIdle(ino, st);
  }
}

void Vfs::Impl::RetryOrphans() {
  for (auto& [ino, st] : Orphans()) {
    Status s = Commit(ino, *st);
    if (s.code() == Code::kNotFound) {
      auto io = st->LockExclusive();
      st->buffer.Drain();  // the file is gone: nobody can read these bytes
      SyncBufferEnd(*st);
    } else if (!s.ok()) {
      spdlog::warn("vfs: retrying the commit of a closed file: {}", s.ToString());
    }
    ForgetIfIdle(ino, st);
  }
}

Result<size_t> Vfs::Impl::CollectGarbage() {
  size_t deleted = 0;
  while (true) {
    ASSIGN_OR_RETURN(std::vector<Slice> batch, meta_.PendingSliceDeletes(kGcBatch));
    for (const Slice& s : batch) {
      Status st = blocks_.DeleteSlice(s.id, s.size);
      if (!st.ok()) return st.Annotate("deleting freed slice " + std::to_string(s.id));
      RETURN_IF_ERROR(meta_.ForgetSliceDelete(s));
      ++deleted;
    }
    if (batch.size() < kGcBatch || stopping()) break;
  }
  return deleted;
}

// ---------------------------------------------------------------------------
// Open files

Result<OpenResult> Vfs::Open(const Context& ctx, Ino ino, int flags) {
  return impl_->OpenFile(ctx, ino, flags, /*created=*/nullptr);
}

Result<CreateResult> Vfs::Create(const Context& ctx, Ino parent, std::string_view name, mode_t mode,
                                 int flags) {
  // A name that disappears between our Mknod and Lookup is created again; a
  // few rounds settle any race that is not a deliberate loop.
  constexpr int kAttempts = 4;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    Result<Entry> made = meta_->Create(ctx, parent, name, mode & 07777);
    if (made) {
      ASSIGN_OR_RETURN(OpenResult opened,
                       impl_->OpenFile(ctx, made->ino, flags & ~O_TRUNC, &made->attr));
      return CreateResult{Entry{made->ino, opened.attr}, opened.fh};
    }
    if (made.error().code() != Code::kExists || (flags & O_EXCL)) return made.error();
    Result<Entry> found = meta_->Lookup(ctx, parent, name);
    if (!found) {
      if (found.error().code() == Code::kNotFound) continue;
      return found.error();
    }
    if (found->attr.type == meta::FileType::kDir) {
      return IsDir("cannot open directory '" + std::string(name) + "' as a file");
    }
    ASSIGN_OR_RETURN(OpenResult opened, impl_->OpenFile(ctx, found->ino, flags, nullptr));
    return CreateResult{Entry{found->ino, opened.attr}, opened.fh};
  }
  return Conflict("'" + std::string(name) + "' kept appearing and disappearing while it was " +
                  "being created; try again");
}

Status Vfs::Read(const Context& ctx, Ino ino, uint64_t fh, uint64_t off, size_t size,
                 std::string* out) {
  out->clear();
  ASSIGN_OR_RETURN(FileHandle h, impl_->GetFile(fh, ino));
  if (!h.readable()) {
    return Status(Code::kBadHandle, "file handle " + std::to_string(fh) + " is write-only");
  }
  std::shared_ptr<InodeState> st = impl_->Find(ino);
  if (!st) return Internal("open " + InoName(ino) + " has no state");
  auto io = st->LockShared();
  uint64_t length;
  {
    std::lock_guard small(st->mu);
    length = std::max(st->length, st->buffer_end);
  }
  if (off >= length || size == 0) return OkStatus();
  uint64_t end = off + std::min<uint64_t>(size, length - off);
  out->reserve(end - off);
  std::string part;
  for (uint64_t pos = off; pos < end;) {
    auto index = static_cast<uint32_t>(pos / kChunkSize);
    auto in_chunk = static_cast<uint32_t>(pos % kChunkSize);
    auto len = static_cast<uint32_t>(std::min(kChunkSize - in_chunk, end - pos));
    RETURN_IF_ERROR(impl_->ReadChunkRange(ino, index, in_chunk, len, &part, h.stream.get()));
    if (out->empty()) {
      out->swap(part);
    } else {
      out->append(part);
    }
    pos += len;
  }
  st->buffer.Overlay(off, out);
  return OkStatus();
}

Result<size_t> Vfs::Write(const Context& ctx, Ino ino, uint64_t fh, uint64_t off,
                          std::string_view data) {
  ASSIGN_OR_RETURN(FileHandle h, impl_->GetFile(fh, ino));
  if (!h.writable()) {
    return Status(Code::kBadHandle, "file handle " + std::to_string(fh) + " is read-only");
  }
  std::shared_ptr<InodeState> st = impl_->Find(ino);
  if (!st) return Internal("open " + InoName(ino) + " has no state");
  if (data.empty()) return size_t{0};
  // No ForgetVersion here, on the hot path: the kernel's pages already hold
  // what this mount writes, and the commit gives the file a new mtime, so the
  // next open does not match the recorded version anyway.
  RETURN_IF_ERROR(impl_->RemovePrivileges(ctx, ino, *st));
  std::vector<uint32_t> touched;
  {
    auto io = st->LockExclusive();
    if (h.append()) {
      if (st->buffer.empty()) {
        // Nothing of ours is pending: learn the length, which another client
        // may have changed since we opened the file.
        uint64_t epoch;
        {
          std::lock_guard small(st->mu);
          epoch = st->epoch;
        }
        ASSIGN_OR_RETURN(Attr attr, meta_->GetAttr(ino));
        Impl::Learn(*st, epoch, attr);
      }
      std::lock_guard small(st->mu);
      off = std::max(st->length, st->buffer_end);
    }
    if (off > kMaxFileSize || data.size() > kMaxFileSize - off) return TooBig(off, data.size());
    if (!st->buffer.empty() && st->buffer.bytes() + data.size() > options_.write_buffer_per_file) {
      ASSIGN_OR_RETURN(touched, impl_->CommitLocked(ino, *st));
    }
    st->buffer.Write(off, data);
    const meta::Timespec now = meta::Now();
    impl_->SyncBufferEnd(*st, &now);
    // Back-pressure: once the mount's buffers together pass buffer_size, a
    // writer stores its own file's bytes before it returns, so memory stays
    // near the bound however many files are written at once.
    if (st->buffer.bytes() > options_.write_buffer_per_file ||
        impl_->buffered_total() > options_.buffer_size) {
      // One write larger than the whole buffer. A failure keeps the bytes
      // buffered; the next Flush, Fsync or Release reports it.
      Result<std::vector<uint32_t>> more = impl_->CommitLocked(ino, *st);
      if (!more) {
        spdlog::warn("vfs: {}", more.error().ToString());
      } else {
        touched.insert(touched.end(), more->begin(), more->end());
      }
    }
  }
  impl_->MaybeCompact(ino, touched);
  return data.size();
}

Status Vfs::Flush(const Context& ctx, Ino ino, uint64_t fh, uint64_t lock_owner) {
  RETURN_IF_ERROR(impl_->GetFile(fh, ino));
  Status result;
  if (std::shared_ptr<InodeState> st = impl_->Find(ino)) result = impl_->CommitAndReport(ino, *st);
  // POSIX drops a process's record locks on a file at the close of any of
  // its descriptors of that file.
  if (impl_->TakePosixOwner(ino, lock_owner)) {
    Status s = meta_->ReleaseLocks(ino, lock_owner, false);
    if (result.ok()) result = s;
  }
  return result;
}

Status Vfs::Fsync(const Context& ctx, Ino ino, uint64_t fh, bool datasync) {
  RETURN_IF_ERROR(impl_->GetFile(fh, ino));
  std::shared_ptr<InodeState> st = impl_->Find(ino);
  return st ? impl_->CommitAndReport(ino, *st) : OkStatus();
}

Status Vfs::Release(Ino ino, uint64_t fh) {
  RETURN_IF_ERROR(impl_->TakeFile(fh, ino));
  std::shared_ptr<InodeState> st = impl_->Find(ino);
  Status result = st ? impl_->CommitAndReport(ino, *st) : OkStatus();
  // Locks owned by this handle (OFD locks) end with it. A process owner that
  // closed its descriptors meanwhile was already released by Flush.
  for (uint64_t owner : impl_->TakeHandleOwners(fh)) {
    if (!impl_->TakePosixOwner(ino, owner)) continue;
    Status s = meta_->ReleaseLocks(ino, owner, false);
    if (result.ok()) result = s;
  }
  bool last = st ? impl_->Unacquire(ino, st) : true;
  if (last) {
    // The last descriptor of the file here: nothing can unlock these later.
    LockOwners owners = impl_->TakeAllOwners(ino);
    for (uint64_t owner : owners.posix) {
      Status s = meta_->ReleaseLocks(ino, owner, false);
      if (result.ok()) result = s;
    }
    for (uint64_t owner : owners.flock) {
      Status s = meta_->ReleaseLocks(ino, owner, true);
      if (result.ok()) result = s;
    }
  }
  Status closed = impl_->CloseInMeta(ino);
  if (result.ok()) result = closed;
  return result;
}

Status Vfs::Fallocate(const Context& ctx, Ino ino, uint64_t fh, int mode, uint64_t off,
                      uint64_t len) {
  ASSIGN_OR_RETURN(FileHandle h, impl_->GetFile(fh, ino));
  if (!h.writable()) {
    return Status(Code::kBadHandle, "fallocate needs a file handle open for writing");
  }
  constexpr int kKnown = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE;
  bool punch = mode & FALLOC_FL_PUNCH_HOLE;
  bool zero = mode & FALLOC_FL_ZERO_RANGE;
  if ((mode & ~kKnown) || (punch && zero) || (punch && !(mode & FALLOC_FL_KEEP_SIZE))) {
    return Unsupported("fallocate mode " + std::to_string(mode) +
                       " is not supported: use 0, KEEP_SIZE, PUNCH_HOLE|KEEP_SIZE or "
                       "ZERO_RANGE (optionally with KEEP_SIZE)");
  }
  if (len == 0) return Invalid("fallocate needs a length of at least 1 byte");
  if (off > kMaxFileSize || len > kMaxFileSize - off) return TooBig(off, len);
  std::shared_ptr<InodeState> st = impl_->Find(ino);
  if (!st) return Internal("open " + InoName(ino) + " has no state");
  impl_->ForgetVersion(ino);
  std::vector<uint32_t> touched;
  {
    auto io = st->LockExclusive();
    uint64_t end = st->buffer.End();
    uint64_t keep_length = 0;
    if ((punch || zero) && off < end) {
      // The buffer forgets the range (meta records the hole below), but the
      // length that its bytes gave the file stays.
      keep_length = end;
      st->buffer.Zero(off, std::min(len, end - off));
      impl_->SyncBufferEnd(*st);
    }
    ASSIGN_OR_RETURN(touched, impl_->CommitLocked(ino, *st, keep_length));
    ASSIGN_OR_RETURN(Attr attr, meta_->Fallocate(ino, mode, off, len));
    Impl::Changed(*st, attr);
  }
  impl_->MaybeCompact(ino, touched);
  return OkStatus();
}

Result<Attr> Vfs::SetAttr(const Context& ctx, Ino ino, const meta::SetAttrRequest& req,
                          std::optional<uint64_t> size, std::optional<uint64_t> fh) {
  std::optional<Attr> attr;
  if (size) {
    bool skip_perm = false;
    if (fh) {
      ASSIGN_OR_RETURN(FileHandle h, impl_->GetFile(*fh, ino));
      skip_perm = h.writable();
    }
    ASSIGN_OR_RETURN(attr, impl_->Truncate(ctx, ino, impl_->Find(ino), *size, skip_perm));
  }
  if (req.mask != 0) {
    std::shared_ptr<InodeState> st = impl_->Find(ino);
    // Times set now must not be overwritten by a later commit of older writes.
    if (st && (req.mask & kTimeBits)) RETURN_IF_ERROR(impl_->Commit(ino, *st));
    ASSIGN_OR_RETURN(attr, meta_->SetAttr(ctx, ino, req));
    if (st) {
      std::lock_guard small(st->mu);
      st->mode = attr->mode;
    }
  }
  if (!attr) {
    ASSIGN_OR_RETURN(attr, meta_->GetAttr(ino));
  }
  impl_->Adjust(ino, &*attr);
  return *attr;
}

}  // namespace shoal::vfs
