// Vfs: lifecycle, namespace operations, directories, xattrs, locks, and the
// bookkeeping of Vfs::Impl. File data (open, read, write, commit) lives in
// vfs_data.cc.
#include "vfs/vfs.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "vfs/vfs_impl.h"

namespace shoal::vfs {

// ---------------------------------------------------------------------------
// Vfs::Impl bookkeeping

Vfs::Impl::Impl(meta::Meta& meta, chunk::BlockStore& blocks, const Options& options)
    : meta_(meta),
      blocks_(blocks),
      options_(options),
      pages_(std::max<uint64_t>(options.write_buffer_per_file / chunk::kPageSize, 1)) {}

Vfs::Impl::~Impl() { StopBackground(); }

void Vfs::Impl::AddFile(uint64_t fh, FileHandle h) {
  std::lock_guard lock(handles_mu_);
  files_[fh] = h;
}

Result<FileHandle> Vfs::Impl::GetFile(uint64_t fh, Ino ino) {
  std::lock_guard lock(handles_mu_);
  auto it = files_.find(fh);
  if (it == files_.end() || it->second.ino != ino) {
    return Status(Code::kBadHandle, "file handle " + std::to_string(fh) +
                                        " is not open for inode " + std::to_string(ino));
  }
  return it->second;
}

Result<FileHandle> Vfs::Impl::TakeFile(uint64_t fh, Ino ino) {
  std::lock_guard lock(handles_mu_);
  auto it = files_.find(fh);
  if (it == files_.end() || it->second.ino != ino) {
    return Status(Code::kBadHandle, "file handle " + std::to_string(fh) +
                                        " is not open for inode " + std::to_string(ino));
  }
  FileHandle h = it->second;
  files_.erase(it);
  return h;
}

void Vfs::Impl::AddDir(uint64_t fh, std::shared_ptr<DirHandle> h) {
  std::lock_guard lock(handles_mu_);
  dirs_[fh] = std::move(h);
}

Result<std::shared_ptr<DirHandle>> Vfs::Impl::GetDir(uint64_t fh, Ino ino) {
  std::lock_guard lock(handles_mu_);
  auto it = dirs_.find(fh);
  if (it == dirs_.end() || it->second->ino != ino) {
    return Status(Code::kBadHandle, "directory handle " + std::to_string(fh) +
                                        " is not open for inode " + std::to_string(ino));
  }
  return it->second;
}

Status Vfs::Impl::TakeDir(uint64_t fh, Ino ino) {
  std::lock_guard lock(handles_mu_);
  auto it = dirs_.find(fh);
  if (it == dirs_.end() || it->second->ino != ino) {
    return Status(Code::kBadHandle, "directory handle " + std::to_string(fh) +
                                        " is not open for inode " + std::to_string(ino));
  }
  dirs_.erase(it);
  return OkStatus();
}

std::shared_ptr<InodeState> Vfs::Impl::Acquire(Ino ino) {
  std::lock_guard lock(table_mu_);
  auto& st = states_[ino];
  if (!st) st = std::make_shared<InodeState>(&pages_);
  ++st->open_handles;
  return st;
}

bool Vfs::Impl::Unacquire(Ino ino, const std::shared_ptr<InodeState>& st) {
  std::lock_guard lock(table_mu_);
  bool last = --st->open_handles == 0;
  if (last) {
    std::lock_guard small(st->mu);
    auto it = states_.find(ino);
    if (st->buffer_end == 0 && it != states_.end() && it->second == st) states_.erase(it);
  }
  return last;
}

std::shared_ptr<InodeState> Vfs::Impl::Find(Ino ino) {
  std::lock_guard lock(table_mu_);
  auto it = states_.find(ino);
  return it == states_.end() ? nullptr : it->second;
}

std::vector<std::pair<Ino, std::shared_ptr<InodeState>>> Vfs::Impl::Orphans() {
  std::vector<std::pair<Ino, std::shared_ptr<InodeState>>> out;
  std::lock_guard lock(table_mu_);
  for (auto& [ino, st] : states_) {
    if (st->open_handles != 0) continue;
    std::lock_guard small(st->mu);
    if (st->buffer_end != 0) out.emplace_back(ino, st);
  }
  return out;
}

std::vector<std::pair<Ino, std::shared_ptr<InodeState>>> Vfs::Impl::AllStates() {
  std::lock_guard lock(table_mu_);
  return {states_.begin(), states_.end()};
}

void Vfs::Impl::ForgetIfIdle(Ino ino, const std::shared_ptr<InodeState>& st) {
  std::lock_guard lock(table_mu_);
  if (st->open_handles != 0) return;
  std::lock_guard small(st->mu);
  auto it = states_.find(ino);
  if (st->buffer_end == 0 && it != states_.end() && it->second == st) states_.erase(it);
}

void Vfs::Impl::Learn(InodeState& st, uint64_t epoch, const Attr& attr) {
  std::lock_guard small(st.mu);
  if (st.epoch != epoch) return;  // a local change came after the read: keep it
  st.length = attr.length;
  st.mode = attr.mode;
}

void Vfs::Impl::Changed(InodeState& st, const Attr& attr) {
  std::lock_guard small(st.mu);
  ++st.epoch;
  st.length = attr.length;
  st.mode = attr.mode;
}

bool Vfs::Impl::SameVersion(Ino ino, const Attr& attr) {
  // A bound on the memory: forgetting only costs a re-read.
  constexpr size_t kMaxVersions = 1 << 20;
  std::lock_guard lock(versions_mu_);
  auto version = std::make_pair(attr.mtime, attr.length);
  auto it = versions_.find(ino);
  if (it != versions_.end()) {
    bool same = it->second == version;
    it->second = version;
    return same;
  }
  if (versions_.size() >= kMaxVersions) versions_.clear();
  versions_.emplace(ino, version);
  return false;
}

void Vfs::Impl::ForgetVersion(Ino ino) {
  std::lock_guard lock(versions_mu_);
  versions_.erase(ino);
}

void Vfs::Impl::SyncBufferEnd(InodeState& st, const meta::Timespec* mtime) {
  uint64_t end = st.buffer.End();
  uint64_t bytes = st.buffer.bytes();
  std::lock_guard small(st.mu);
  st.buffer_end = end;
  if (mtime != nullptr) st.mtime = *mtime;
  buffered_total_.fetch_add(bytes - st.counted, std::memory_order_relaxed);  // modulo 2^64
  st.counted = bytes;
}

void Vfs::Impl::Adjust(Ino ino, Attr* attr) {
  if (attr->type != meta::FileType::kFile) return;
  std::shared_ptr<InodeState> st = Find(ino);
  if (!st) return;
  std::lock_guard small(st->mu);
  if (st->buffer_end == 0) return;
  attr->length = std::max(attr->length, st->buffer_end);
  attr->mtime = st->mtime;
  attr->ctime = st->mtime;
}

void Vfs::Impl::NotePosixOwner(Ino ino, uint64_t fh, uint64_t owner) {
  std::lock_guard lock(locks_mu_);
  lock_owners_[ino].posix.insert(owner);
  handle_owners_[fh].insert(owner);
}

std::set<uint64_t> Vfs::Impl::TakeHandleOwners(uint64_t fh) {
  std::lock_guard lock(locks_mu_);
  auto it = handle_owners_.find(fh);
  if (it == handle_owners_.end()) return {};
  std::set<uint64_t> owners = std::move(it->second);
  handle_owners_.erase(it);
  return owners;
}

void Vfs::Impl::NoteFlockOwner(Ino ino, uint64_t owner) {
  std::lock_guard lock(locks_mu_);
  lock_owners_[ino].flock.insert(owner);
}

void Vfs::Impl::ForgetFlockOwner(Ino ino, uint64_t owner) {
  std::lock_guard lock(locks_mu_);
  auto it = lock_owners_.find(ino);
  if (it == lock_owners_.end()) return;
  it->second.flock.erase(owner);
  if (it->second.posix.empty() && it->second.flock.empty()) lock_owners_.erase(it);
}

bool Vfs::Impl::TakePosixOwner(Ino ino, uint64_t owner) {
  std::lock_guard lock(locks_mu_);
  auto it = lock_owners_.find(ino);
  if (it == lock_owners_.end()) return false;
  bool found = it->second.posix.erase(owner) > 0;
  if (it->second.posix.empty() && it->second.flock.empty()) lock_owners_.erase(it);
  return found;
}

LockOwners Vfs::Impl::TakeAllOwners(Ino ino) {
  std::lock_guard lock(locks_mu_);
  auto it = lock_owners_.find(ino);
  if (it == lock_owners_.end()) return {};
  LockOwners owners = std::move(it->second);
  lock_owners_.erase(it);
  return owners;
}

Status Vfs::Impl::WaitLoop(const Context& ctx, LockWait wait,
                           const std::function<Status()>& attempt) {
  auto pause = kLockPollFirst;
  while (true) {
    Status s = attempt();
    if (s.code() != Code::kWouldBlock || wait == LockWait::kNoWait) return s;
    if (ctx.Interrupted() || stopping()) {
      return Status(Code::kInterrupted, "gave up waiting for a lock: " + s.message());
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, kLockPollMax);
  }
}

void Vfs::Impl::StartBackground() {
  bg_ = std::thread([this] { BackgroundLoop(); });
}

void Vfs::Impl::StopBackground() {
  stopping_ = true;
  {
    std::lock_guard lock(bg_mu_);
    bg_stop_ = true;
  }
  bg_cv_.notify_all();
  if (bg_.joinable()) bg_.join();
}

void Vfs::Impl::BackgroundLoop() {
  using Clock = std::chrono::steady_clock;
  auto period = [](double sec) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(sec));
  };
  Clock::time_point next_gc = Clock::now() + period(options_.gc_interval_sec);
  Clock::time_point next_beat = Clock::now() + period(options_.heartbeat_sec);
  Clock::time_point closes_due = Clock::time_point::max();
  std::unique_lock lock(bg_mu_);
  while (!bg_stop_) {
    bg_cv_.wait_until(lock, std::min({next_gc, next_beat, closes_due}),
                      [this] { return bg_stop_ || closes_queued_; });
    if (bg_stop_) break;
    if (closes_queued_) {
      closes_queued_ = false;
      closes_due = std::min(closes_due, Clock::now() + kCloseDelay);
    }
    lock.unlock();
    Clock::time_point now = Clock::now();
    if (now >= closes_due) {
      closes_due = Clock::time_point::max();
      FlushCloses();
    }
    if (now >= next_gc) {
      RetryOrphans();
      Result<size_t> done = CollectGarbage();
      if (!done) spdlog::warn("vfs: deleting freed slices: {}", done.error().ToString());
      Status flushed = meta_.FlushUsage();
      if (!flushed.ok()) spdlog::warn("vfs: storing usage counters: {}", flushed.ToString());
      next_gc = Clock::now() + period(options_.gc_interval_sec);
    }
    if (now >= next_beat) {
      Status s = meta_.Heartbeat();
      if (!s.ok()) spdlog::error("vfs: session heartbeat: {}", s.ToString());
      // With one client only (RocksDB), the start cleaned up already.
      Result<int> cleaned = meta_.shared() ? meta_.CleanStaleSessions(static_cast<int64_t>(
                                                 std::ceil(options_.session_timeout_sec)))
                                           : Result<int>(0);
      if (!cleaned) {
        spdlog::warn("vfs: cleaning up after dead clients: {}", cleaned.error().ToString());
      } else if (*cleaned > 0) {
        spdlog::info("vfs: released the locks and open files of {} dead client(s)", *cleaned);
      }
      next_beat = Clock::now() + period(options_.heartbeat_sec);
    }
    lock.lock();
  }
}

Status Vfs::Impl::CloseInMeta(Ino ino) {
  // Without the background loop nothing would store a batch.
  if (!meta_.shared() || !options_.background) return meta_.Close(ino);
  size_t pending;
  {
    std::lock_guard lock(closes_mu_);
    pending_closes_.push_back(ino);
    pending = pending_closes_.size();
  }
  if (pending >= kMaxPendingCloses) {
    FlushCloses();
  } else if (pending == 1) {
    {
      std::lock_guard lock(bg_mu_);
      closes_queued_ = true;
    }
    bg_cv_.notify_all();
  }
  return OkStatus();
}

void Vfs::Impl::FlushCloses() {
  std::vector<Ino> closes;
  {
    std::lock_guard lock(closes_mu_);
    closes.swap(pending_closes_);
  }
  for (size_t i = 0; i < closes.size(); i += kCloseBatch) {
    std::vector<Ino> batch(closes.begin() + i,
                           closes.begin() + std::min(closes.size(), i + kCloseBatch));
    Status s = meta_.CloseMany(batch);
    if (!s.ok()) {
      // Their open-file records stay until this session ends or expires.
      spdlog::warn("vfs: recording the close of {} file(s): {}", batch.size(), s.ToString());
    }
  }
}

// ---------------------------------------------------------------------------
// Lifecycle

Vfs::Vfs(std::unique_ptr<meta::Meta> meta, std::shared_ptr<object::ObjectStore> store,
         Options options)
    : meta_(std::move(meta)),
      blocks_(std::make_unique<chunk::BlockStore>(std::move(store), meta_->config().name,
                                                  meta_->config().block_size, options.blocks)),
      options_(options),
      impl_(std::make_unique<Impl>(*meta_, *blocks_, options_)) {}

Result<std::unique_ptr<Vfs>> Vfs::Create(std::unique_ptr<meta::Meta> meta,
                                         std::shared_ptr<object::ObjectStore> store,
                                         Options options) {
  if (!meta || !store) return Invalid("vfs needs an opened volume and an object store");
  if (options.write_buffer_per_file == 0) {
    return Invalid("vfs option write_buffer_per_file must be at least 1 byte");
  }
  if (options.background && (!(options.gc_interval_sec > 0) || !(options.heartbeat_sec > 0))) {
    return Invalid("vfs options gc_interval_sec and heartbeat_sec must be positive");
  }
  if (!(options.session_timeout_sec >= 2 * options.heartbeat_sec)) {
    return Invalid("the session timeout must be at least two heartbeats (" +
                   std::to_string(2 * options.heartbeat_sec) + " s)");
  }
  std::unique_ptr<Vfs> vfs(new Vfs(std::move(meta), std::move(store), options));
  // Blocks a crash left staged (write-back) go up first, in the background;
  // reads of them are served from the staged copies meanwhile.
  if (size_t staged = vfs->blocks_->RecoverStaged(); staged > 0) {
    spdlog::info("vfs: uploading {} block(s) staged before the last stop", staged);
  }
  if (options.background) vfs->impl_->StartBackground();
  return vfs;
}

Vfs::~Vfs() {
  Status s = Shutdown();
  if (!s.ok()) spdlog::error("vfs: shutdown: {}", s.ToString());
}

uint64_t Vfs::BufferedBytes() const { return impl_->buffered_total(); }

Status Vfs::Shutdown() {
  std::lock_guard lock(impl_->shutdown_mu_);
  if (impl_->shut_down_) return impl_->shutdown_status_;
  impl_->StopBackground();
  Status first;
  for (auto& [ino, st] : impl_->AllStates()) {
    Status s = impl_->Commit(ino, *st);
    if (s.ok()) continue;
    // Nothing can retry after this: the bytes are lost, and the error says so.
    auto io = st->LockExclusive();
    st->buffer.Drain();
    impl_->SyncBufferEnd(*st);
    if (first.ok()) {
      first = s.Annotate("writing buffered data of inode " + std::to_string(ino) +
                         " at shutdown (the data was dropped)");
    }
  }
  // Write-back: what is staged goes up before the mount ends. What cannot be
  // uploaded stays staged on the cache disk for the next mount.
  if (Status flushed = blocks_->Flush(); !flushed.ok() && first.ok()) {
    first = flushed.Annotate(
        "uploading staged blocks at shutdown (they stay staged for the "
        "next mount)");
  }
  impl_->FlushCloses();
  Status s = meta_->EndSession();
  if (first.ok() && !s.ok()) first = s.Annotate("ending the session");
  impl_->shut_down_ = true;
  impl_->shutdown_status_ = first;
  return first;
}

// ---------------------------------------------------------------------------
// Namespace

Result<Entry> Vfs::Lookup(const Context& ctx, Ino parent, std::string_view name) {
  if (name == "." || name == "..") {
    // The kernel resolves these itself; in-process callers get the POSIX answer.
    ASSIGN_OR_RETURN(Attr dir, meta_->GetAttr(parent));
    if (dir.type != meta::FileType::kDir) return NotDir("inode " + std::to_string(parent));
    RETURN_IF_ERROR(meta_->Access(ctx, parent, X_OK));
    if (name == ".") return Entry{parent, dir};
    Ino up = (parent == meta::kRootIno || dir.parent == 0) ? meta::kRootIno : dir.parent;
    ASSIGN_OR_RETURN(Attr up_attr, meta_->GetAttr(up));
    return Entry{up, up_attr};
  }
  ASSIGN_OR_RETURN(Entry e, meta_->Lookup(ctx, parent, name));
  impl_->Adjust(e.ino, &e.attr);
  return e;
}

Result<Attr> Vfs::GetAttr(const Context& ctx, Ino ino) {
  std::shared_ptr<InodeState> st = impl_->Find(ino);
  uint64_t epoch = 0;
  if (st) {
    std::lock_guard small(st->mu);
    epoch = st->epoch;
  }
  ASSIGN_OR_RETURN(Attr attr, meta_->GetAttr(ino));
  if (st) Impl::Learn(*st, epoch, attr);
  impl_->Adjust(ino, &attr);
  return attr;
}

Result<Entry> Vfs::Mknod(const Context& ctx, Ino parent, std::string_view name, mode_t mode,
                         uint64_t rdev) {
  return meta_->Mknod(ctx, parent, name, mode, rdev);
}

Result<Entry> Vfs::Mkdir(const Context& ctx, Ino parent, std::string_view name, mode_t mode) {
  return meta_->Mknod(ctx, parent, name, S_IFDIR | (mode & 07777), 0);
}

Result<Entry> Vfs::Symlink(const Context& ctx, Ino parent, std::string_view name,
                           std::string_view target) {
  return meta_->Symlink(ctx, parent, name, target);
}

Result<std::string> Vfs::Readlink(const Context& ctx, Ino ino) { return meta_->Readlink(ino); }

Status Vfs::Unlink(const Context& ctx, Ino parent, std::string_view name) {
  RETURN_IF_ERROR(meta_->Unlink(ctx, parent, name));
  impl_->DropDeadOrphans();
  return OkStatus();
}

Status Vfs::Rmdir(const Context& ctx, Ino parent, std::string_view name) {
  return meta_->Rmdir(ctx, parent, name);
}

Status Vfs::Rename(const Context& ctx, Ino parent, std::string_view name, Ino new_parent,
                   std::string_view new_name, meta::RenameFlags flags) {
  RETURN_IF_ERROR(meta_->Rename(ctx, parent, name, new_parent, new_name, flags));
  impl_->DropDeadOrphans();  // the rename may have replaced a file
  return OkStatus();
}

Result<Entry> Vfs::Link(const Context& ctx, Ino ino, Ino new_parent, std::string_view new_name) {
  ASSIGN_OR_RETURN(Entry e, meta_->Link(ctx, ino, new_parent, new_name));
  impl_->Adjust(e.ino, &e.attr);
  return e;
}

Status Vfs::Access(const Context& ctx, Ino ino, int mask) { return meta_->Access(ctx, ino, mask); }

Result<meta::StatFs> Vfs::StatFs(const Context& ctx) { return meta_->GetStatFs(); }

// ---------------------------------------------------------------------------
// Directories

Result<uint64_t> Vfs::OpenDir(const Context& ctx, Ino ino) {
  ASSIGN_OR_RETURN(Attr attr, meta_->GetAttr(ino));
  if (attr.type != meta::FileType::kDir) {
    return NotDir("cannot list inode " + std::to_string(ino) + ": it is not a directory");
  }
  RETURN_IF_ERROR(meta_->Access(ctx, ino, R_OK));
  auto h = std::make_shared<DirHandle>();
  h->ino = ino;
  uint64_t fh = impl_->NewHandleId();
  impl_->AddDir(fh, std::move(h));
  return fh;
}

Result<std::vector<DirItem>> Vfs::ReadDir(const Context& ctx, Ino ino, uint64_t fh, uint64_t offset,
                                          bool plus) {
  ASSIGN_OR_RETURN(std::shared_ptr<DirHandle> h, impl_->GetDir(fh, ino));
  std::lock_guard lock(h->mu);
  if (offset == 0 || !h->loaded) {
    ASSIGN_OR_RETURN(Attr self, meta_->GetAttr(ino));
    Ino up = (ino == meta::kRootIno || self.parent == 0) ? meta::kRootIno : self.parent;
    ASSIGN_OR_RETURN(std::vector<meta::DirEntry> entries, meta_->Readdir(ctx, ino, plus));
    std::vector<DirItem> items;
    items.reserve(entries.size() + 2);
    items.push_back(DirItem{".", ino, meta::FileType::kDir, std::nullopt, 0});
    items.push_back(DirItem{"..", up, meta::FileType::kDir, std::nullopt, 0});
    if (plus) {
      items[0].attr = self;
      if (up == ino) {
        items[1].attr = self;
      } else if (Result<Attr> a = meta_->GetAttr(up); a.has_value()) {
        items[1].attr = *a;  // a parent removed meanwhile just goes without attributes
      }
    }
    for (meta::DirEntry& e : entries) {
      DirItem item{std::move(e.name), e.ino, e.type, std::move(e.attr), 0};
      if (item.attr) impl_->Adjust(item.ino, &*item.attr);
      items.push_back(std::move(item));
    }
    for (size_t i = 0; i < items.size(); ++i) items[i].next_offset = i + 1;
    h->items = std::move(items);
    h->loaded = true;
  }
  std::vector<DirItem> out;
  if (offset >= h->items.size()) return out;
  size_t end = std::min<size_t>(h->items.size(), offset + kMaxDirItems);
  out.assign(h->items.begin() + static_cast<ptrdiff_t>(offset),
             h->items.begin() + static_cast<ptrdiff_t>(end));
  return out;
}

Status Vfs::ReleaseDir(Ino ino, uint64_t fh) { return impl_->TakeDir(fh, ino); }

// ---------------------------------------------------------------------------
// Xattrs

Result<std::string> Vfs::GetXattr(const Context& ctx, Ino ino, std::string_view name) {
  return meta_->GetXattr(ctx, ino, name);
}

Result<std::vector<std::string>> Vfs::ListXattr(const Context& ctx, Ino ino) {
  return meta_->ListXattr(ctx, ino);
}

Status Vfs::SetXattr(const Context& ctx, Ino ino, std::string_view name, std::string_view value,
                     meta::XattrFlags flags) {
  return meta_->SetXattr(ctx, ino, name, value, flags);
}

Status Vfs::RemoveXattr(const Context& ctx, Ino ino, std::string_view name) {
  return meta_->RemoveXattr(ctx, ino, name);
}

// ---------------------------------------------------------------------------
// Locks

Result<meta::PosixLock> Vfs::GetLk(const Context& ctx, Ino ino, uint64_t owner,
                                   const meta::PosixLock& probe) {
  if (probe.start > probe.end) return Invalid("lock range ends before it starts");
  return meta_->GetLk(ino, owner, probe);
}

Status Vfs::SetLk(const Context& ctx, Ino ino, uint64_t fh, uint64_t owner,
                  const meta::PosixLock& lock, LockWait wait) {
  if (lock.start > lock.end) return Invalid("lock range ends before it starts");
  // Noted before asking, so that a close after a lock granted by a call that
  // then failed to return still releases it.
  if (lock.type != meta::LockType::kUnlock) impl_->NotePosixOwner(ino, fh, owner);
  return impl_->WaitLoop(ctx, wait, [&] { return meta_->SetLk(ino, owner, lock); });
}

Status Vfs::Flock(const Context& ctx, Ino ino, uint64_t owner, meta::LockType type, LockWait wait) {
  if (type != meta::LockType::kUnlock) impl_->NoteFlockOwner(ino, owner);
  Status s = impl_->WaitLoop(ctx, wait, [&] { return meta_->Flock(ino, owner, type); });
  if (s.ok() && type == meta::LockType::kUnlock) impl_->ForgetFlockOwner(ino, owner);
  return s;
}

Result<size_t> Vfs::CollectGarbage() { return impl_->CollectGarbage(); }

}  // namespace shoal::vfs
