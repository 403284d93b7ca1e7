// Meta: volume record, sessions, counters, open files, and the helpers that
// the other files of meta share. Namespace operations are in namespace.cc,
// data operations in data.cc, locks in locks.cc.
#include "meta/meta.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <random>

#include "meta/internal.h"

namespace shoal::meta {

using codec::AttrKey;

mode_t ModeBitsOf(FileType t) {
  switch (t) {
    case FileType::kFile:
      return S_IFREG;
    case FileType::kDir:
      return S_IFDIR;
    case FileType::kSymlink:
      return S_IFLNK;
    case FileType::kFifo:
      return S_IFIFO;
    case FileType::kCharDev:
      return S_IFCHR;
    case FileType::kBlockDev:
      return S_IFBLK;
    case FileType::kSocket:
      return S_IFSOCK;
  }
  return 0;
}

Result<FileType> TypeOfMode(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return FileType::kFile;
    case S_IFDIR:
      return FileType::kDir;
    case S_IFLNK:
      return FileType::kSymlink;
    case S_IFIFO:
      return FileType::kFifo;
    case S_IFCHR:
      return FileType::kCharDev;
    case S_IFBLK:
      return FileType::kBlockDev;
    case S_IFSOCK:
      return FileType::kSocket;
    case 0:
      return FileType::kFile;  // mknod(2) treats a zero type as a regular file
  }
  return Invalid("unknown file type in mode " + std::to_string(mode));
}

Timespec Now() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return {ts.tv_sec, static_cast<uint32_t>(ts.tv_nsec)};
}

// --- shared helpers (internal.h) ---

Result<Attr*> AttrCache::Get(Ino ino) {
  auto it = attrs_.find(ino);
  if (it != attrs_.end()) return &it->second;
  ASSIGN_OR_RETURN(auto v, txn_.Get(AttrKey(ino)));
  if (!v) return NotFound("inode " + std::to_string(ino) + " does not exist");
  ASSIGN_OR_RETURN(Attr a, codec::DecodeAttr(*v));
  return &attrs_.emplace(ino, a).first->second;
}

void AttrCache::Forget(Ino ino) {
  attrs_.erase(ino);
  dirty_.erase(ino);
}

void AttrCache::Flush() {
  for (Ino ino : dirty_) txn_.Put(AttrKey(ino), codec::EncodeAttr(attrs_.at(ino)));
  dirty_.clear();
}

Status CheckAccess(const Context& ctx, const Attr& attr, int mask) {
  mask &= R_OK | W_OK | X_OK;
  if (mask == 0) return OkStatus();
  if (ctx.IsRoot()) {
    // Root may read and write anything, and execute a file only if someone may.
    if ((mask & X_OK) && attr.type != FileType::kDir && (attr.mode & 0111) == 0) {
      return AccessDenied("no execute permission for anyone");
    }
    return OkStatus();
  }
  uint32_t bits;
  if (ctx.uid() == attr.uid) {
    bits = (attr.mode >> 6) & 7;
  } else if (ctx.InGroup(attr.gid)) {
    bits = (attr.mode >> 3) & 7;
  } else {
    bits = attr.mode & 7;
  }
  if ((bits & static_cast<uint32_t>(mask)) != static_cast<uint32_t>(mask)) {
    return AccessDenied("permission denied");
  }
  return OkStatus();
}

Status ValidateName(std::string_view name) {
  if (name.empty()) return NotFound("empty name");
  if (name.size() > kMaxName) {
    return Status(Code::kNameTooLong, "name longer than " + std::to_string(kMaxName) + " bytes");
  }
  if (name == "." || name == "..") return Invalid("'" + std::string(name) + "' cannot be used");
  if (name.find('/') != std::string_view::npos) return Invalid("name contains '/'");
  return OkStatus();
}

Result<Attr*> GetDir(AttrCache& attrs, const Context& ctx, Ino dir, int mask) {
  ASSIGN_OR_RETURN(Attr * a, attrs.Get(dir));
  if (a->type != FileType::kDir) return NotDir("inode " + std::to_string(dir));
  if (a->nlink == 0) return NotFound("directory was removed");
  RETURN_IF_ERROR(CheckAccess(ctx, *a, mask));
  return a;
}

Status CheckSticky(const Context& ctx, const Attr& dir, const Attr& victim) {
  if (!(dir.mode & S_ISVTX) || ctx.IsRoot()) return OkStatus();
  if (ctx.uid() == dir.uid || ctx.uid() == victim.uid) return OkStatus();
  return NotPermitted("the directory is sticky and the entry belongs to another user");
}

void QueueSliceDeletes(kv::Txn& txn, const std::vector<Slice>& slices) {
  for (const Slice& s : slices) {
    if (s.id != 0) txn.Put(codec::DeletedSliceKey(s.id, s.size), "");
  }
}

Status Update(kv::Engine& engine, Meta::Impl& impl, const UpdateFn& fn) {
  Delta delta;
  RETURN_IF_ERROR(engine.Txn([&](kv::Txn& txn) -> Status {
    delta = {};
    AttrCache attrs(txn);
    RETURN_IF_ERROR(fn(txn, attrs, delta));
    attrs.Flush();
    return OkStatus();
  }));
  impl.Apply(delta);
  return OkStatus();
}

Status FreeInode(kv::Txn& txn, AttrCache& attrs, Ino ino, Delta* delta) {
  ASSIGN_OR_RETURN(Attr * a, attrs.Get(ino));
  if (a->type == FileType::kFile) {
    std::vector<std::string> chunk_keys;
    Status parse;
    RETURN_IF_ERROR(txn.Scan(codec::ChunkPrefix(ino), kv::PrefixEnd(codec::ChunkPrefix(ino)), 0,
                             false, [&](std::string_view k, std::string_view v) {
                               auto slices = DecodeSlices(v);
                               if (!slices) {
                                 parse = slices.error();
                                 return false;
                               }
                               QueueSliceDeletes(txn, *slices);
                               chunk_keys.emplace_back(k);
                               return true;
                             }));
    RETURN_IF_ERROR(parse);
    for (const auto& k : chunk_keys) txn.Delete(k);
    delta->bytes -= static_cast<int64_t>(a->length);
  }
  if (a->type == FileType::kSymlink) txn.Delete(codec::SymlinkKey(ino));
  std::vector<std::string> xattr_keys;
  RETURN_IF_ERROR(txn.Scan(codec::XattrPrefix(ino), kv::PrefixEnd(codec::XattrPrefix(ino)), 0, true,
                           [&](std::string_view k, std::string_view) {
                             xattr_keys.emplace_back(k);
                             return true;
                           }));
  for (const auto& k : xattr_keys) txn.Delete(k);
  txn.Delete(AttrKey(ino));
  attrs.Forget(ino);
  delta->inodes -= 1;
  return OkStatus();
}

// --- volume ---

Result<uint64_t> ReadCounter(kv::Txn& txn, std::string_view name) {
  ASSIGN_OR_RETURN(auto v, txn.Get(codec::CounterKey(name)));
  if (!v) return uint64_t{0};
  return codec::DecodeU64(*v);
}

Status AddToUsage(kv::Txn& txn, int64_t bytes, int64_t inodes) {
  // No clamping at zero: with several clients, one may store a file's removal
  // before another stores its creation, and the sum is only right if the
  // counter may pass below zero meanwhile (two's complement; readers clamp).
  ASSIGN_OR_RETURN(uint64_t b, ReadCounter(txn, kUsedBytes));
  ASSIGN_OR_RETURN(uint64_t i, ReadCounter(txn, kUsedInodes));
  txn.Put(codec::CounterKey(kUsedBytes), codec::EncodeU64(b + static_cast<uint64_t>(bytes)));
  txn.Put(codec::CounterKey(kUsedInodes), codec::EncodeU64(i + static_cast<uint64_t>(inodes)));
  return OkStatus();
}

namespace {

std::string NewUuid() {
  std::random_device rd;
  std::mt19937_64 rng((static_cast<uint64_t>(rd()) << 32) ^ rd() ^
                      static_cast<uint64_t>(Now().nsec));
  uint64_t a = rng(), b = rng();
  a = (a & ~0xf000ull) | 0x4000ull;                         // version 4
  b = (b & 0x3fffffffffffffffull) | 0x8000000000000000ull;  // variant 1
  char buf[40];
  snprintf(buf, sizeof(buf), "%08x-%04x-%04x-%04x-%012llx", static_cast<uint32_t>(a >> 32),
           static_cast<uint32_t>((a >> 16) & 0xffff), static_cast<uint32_t>(a & 0xffff),
           static_cast<uint32_t>(b >> 48), static_cast<unsigned long long>(b & 0xffffffffffffull));
  return buf;
}

// Takes `count` ids from a counter: returns the first.
Result<uint64_t> TakeIds(kv::Engine& engine, std::string_view name, uint64_t count) {
  uint64_t first = 0;
  RETURN_IF_ERROR(engine.Txn([&](kv::Txn& txn) -> Status {
    ASSIGN_OR_RETURN(first, ReadCounter(txn, name));
    txn.Put(codec::CounterKey(name), codec::EncodeU64(first + count));
    return OkStatus();
  }));
  return first;
}

constexpr uint64_t kInodeBatch = 1024;  // ids per counter transaction: one txn per 1024 creates
constexpr uint64_t kSliceBatch = 1024;

}  // namespace

Status Meta::Format(kv::Engine& engine, VolumeConfig config) {
  if (config.name.empty()) return Invalid("the volume needs a name");
  if (config.block_size < 4096 || config.block_size > (64u << 20) ||
      (config.block_size & (config.block_size - 1)) != 0) {
    return Invalid("block size must be a power of two between 4 KiB and 64 MiB");
  }
  if (config.uuid.empty()) config.uuid = NewUuid();
  if (config.created_sec == 0) config.created_sec = Now().sec;
  return engine.Txn([&](kv::Txn& txn) -> Status {
    ASSIGN_OR_RETURN(auto existing, txn.Get(codec::SettingKey()));
    if (existing) {
      auto old = codec::DecodeVolume(*existing);
      std::string name = old ? old->name : std::string("?");
      return Exists("a volume named '" + name + "' is already formatted here; refusing to " +
                    "overwrite it (use another metadata URL, or remove this one first)");
    }
    txn.Put(codec::SettingKey(), codec::EncodeVolume(config));
    Attr root;
    root.type = FileType::kDir;
    root.mode = 0755;
    root.nlink = 2;
    root.length = 4096;
    root.atime = root.mtime = root.ctime = Now();
    root.parent = kRootIno;
    txn.Put(AttrKey(kRootIno), codec::EncodeAttr(root));
    txn.Put(codec::CounterKey(kNextInode), codec::EncodeU64(kRootIno + 1));
    txn.Put(codec::CounterKey(kNextSlice), codec::EncodeU64(1));
    txn.Put(codec::CounterKey(kNextSession), codec::EncodeU64(1));
    txn.Put(codec::CounterKey(kUsedInodes), codec::EncodeU64(1));
    txn.Put(codec::CounterKey(kUsedBytes), codec::EncodeU64(0));
    return OkStatus();
  });
}

Result<VolumeConfig> Meta::Load(kv::Engine& engine) {
  VolumeConfig config;
  RETURN_IF_ERROR(engine.View([&](kv::Txn& txn) -> Status {
    ASSIGN_OR_RETURN(auto v, txn.Get(codec::SettingKey()));
    if (!v) {
      return NotFound("no volume is formatted in " + engine.Describe() +
                      ": run 'shoal format' first");
    }
    ASSIGN_OR_RETURN(config, codec::DecodeVolume(*v));
    return OkStatus();
  }));
  if (config.format_version != kFormatVersion) {
    return Status(Code::kVersion, "volume '" + config.name + "' has format version " +
                                      std::to_string(config.format_version) +
                                      " but this shoal understands only " + "version " +
                                      std::to_string(kFormatVersion) +
                                      ": use a shoal release that supports it");
  }
  return config;
}

Result<std::unique_ptr<Meta>> Meta::Open(std::shared_ptr<kv::Engine> engine) {
  ASSIGN_OR_RETURN(VolumeConfig config, Load(*engine));
  return std::unique_ptr<Meta>(new Meta(std::move(engine), std::move(config)));
}

Meta::Meta(std::shared_ptr<kv::Engine> engine, VolumeConfig config)
    : engine_(std::move(engine)), config_(std::move(config)), impl_(std::make_unique<Impl>()) {
  impl_->shared = !engine_->Exclusive();
}

Meta::~Meta() = default;

// --- sessions ---

Status Meta::StartSession(const SessionInfo& info) {
  ASSIGN_OR_RETURN(uint64_t id, TakeIds(*engine_, kNextSession, 1));
  SessionInfo s = info;
  s.id = id;
  s.started_sec = s.heartbeat_sec = Now().sec;
  RETURN_IF_ERROR(engine_->Txn([&](kv::Txn& txn) -> Status {
    txn.Put(codec::SessionKey(id), codec::EncodeSession(s));
    return OkStatus();
  }));
  {
    std::lock_guard lock(impl_->mu);
    impl_->session = id;
    impl_->session_info = s;
  }
  // In an engine only one process can open, every other session is dead:
  // free what they held (locks, unlinked-but-open files) now.
  if (engine_->Exclusive()) {
    ASSIGN_OR_RETURN(int crashed, CleanStaleSessions(0));
    // A crashed client's last usage changes were never stored: count anew.
    if (crashed > 0) RETURN_IF_ERROR(RecountUsage());
  }
  return OkStatus();
}

Status AddPendingUsage(kv::Engine& engine, Meta::Impl& impl) {
  int64_t bytes, inodes;
  {
    std::lock_guard lock(impl.mu);
    bytes = impl.pending_bytes;
    inodes = impl.pending_inodes;
  }
  if (bytes == 0 && inodes == 0) return OkStatus();
  RETURN_IF_ERROR(
      engine.Txn([&](kv::Txn& txn) -> Status { return AddToUsage(txn, bytes, inodes); }));
  std::lock_guard lock(impl.mu);
  impl.pending_bytes -= bytes;
  impl.pending_inodes -= inodes;
  return OkStatus();
}

namespace {

// Frees the inodes that the sessions kept alive for their open handles, drops
// their locks, and removes their records: one scan of the open-file records
// and one of the lock records, however many sessions go.
Status RemoveSessions(kv::Engine& engine, Meta::Impl& impl, const std::vector<uint64_t>& sessions) {
  if (sessions.empty()) return OkStatus();
  auto gone = [&](uint64_t session) {
    return std::find(sessions.begin(), sessions.end(), session) != sessions.end();
  };
  // The holder keys are ordered by inode: finding a session's means reading
  // them all, which only session ends and clean-ups do.
  std::map<uint64_t, std::vector<Ino>> held;
  RETURN_IF_ERROR(engine.View([&](kv::Txn& txn) -> Status {
    held.clear();
    std::string prefix = codec::HolderPrefix();
    return txn.Scan(prefix, kv::PrefixEnd(prefix), 0, true,
                    [&](std::string_view k, std::string_view) {
                      auto h = codec::DecodeHolderKey(k);
                      if (h && gone(h->second)) held[h->second].push_back(h->first);
                      return true;
                    });
  }));
  for (const auto& [session, inos] : held) {
    for (Ino ino : inos) RETURN_IF_ERROR(ReleaseHolder(engine, impl, ino, session));
  }
  // Locks: rewrite the lock records that hold entries of these sessions.
  return engine.Txn([&](kv::Txn& txn) -> Status {
    std::vector<std::pair<std::string, std::string>> rewrites;
    Status bad;
    auto scan = [&](const std::string& prefix, auto decode, auto encode) {
      return txn.Scan(prefix, kv::PrefixEnd(prefix), 0, false,
                      [&](std::string_view k, std::string_view v) {
                        auto r = decode(v);
                        if (!r) return (bad = r.error()), false;
                        if (std::erase_if(*r, [&](auto& x) { return gone(x.session); }) > 0) {
                          rewrites.emplace_back(k, encode(*r));
                        }
                        return true;
                      });
    };
    RETURN_IF_ERROR(scan(codec::FlockPrefix(), codec::DecodeFlocks,
                         [](const auto& r) { return codec::EncodeFlocks(r); }));
    RETURN_IF_ERROR(scan(codec::PlockPrefix(), codec::DecodePlocks,
                         [](const auto& r) { return codec::EncodePlocks(r); }));
    RETURN_IF_ERROR(bad);
    for (auto& [k, v] : rewrites) {
      if (v.empty()) {
        txn.Delete(k);
      } else {
        txn.Put(k, v);
      }
    }
    for (uint64_t session : sessions) txn.Delete(codec::SessionKey(session));
    return OkStatus();
  });
}

}  // namespace

Status Meta::FlushUsage() { return AddPendingUsage(*engine_, *impl_); }

Status Meta::RecountUsage() {
  uint64_t bytes = 0, inodes = 0;
  RETURN_IF_ERROR(engine_->View([&](kv::Txn& txn) -> Status {
    bytes = inodes = 0;
    Status bad;
    RETURN_IF_ERROR(txn.Scan("A", "B", 0, false, [&](std::string_view, std::string_view v) {
      auto a = codec::DecodeAttr(v);
      if (!a) return (bad = a.error()), false;
      ++inodes;
      if (a->type == FileType::kFile) bytes += a->length;
      return true;
    }));
    return bad;
  }));
  // Hold the lock across the write so that no change slips between the count
  // and the reset of the pending changes.
  std::lock_guard lock(impl_->mu);
  RETURN_IF_ERROR(engine_->Txn([&](kv::Txn& txn) -> Status {
    txn.Put(codec::CounterKey(kUsedBytes), codec::EncodeU64(bytes));
    txn.Put(codec::CounterKey(kUsedInodes), codec::EncodeU64(inodes));
    return OkStatus();
  }));
  impl_->pending_bytes = 0;
  impl_->pending_inodes = 0;
  return OkStatus();
}

Status Meta::Heartbeat() {
  RETURN_IF_ERROR(AddPendingUsage(*engine_, *impl_));
  SessionInfo s;
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->session == 0) return OkStatus();
    impl_->session_info.heartbeat_sec = Now().sec;
    s = impl_->session_info;
  }
  bool expired = false;
  RETURN_IF_ERROR(engine_->Txn([&](kv::Txn& txn) -> Status {
    ASSIGN_OR_RETURN(auto old, txn.Get(codec::SessionKey(s.id)));
    expired = !old;
    txn.Put(codec::SessionKey(s.id), codec::EncodeSession(s));
    return OkStatus();
  }));
  if (expired) {
    return Status(Code::kUnavailable,
                  "session " + std::to_string(s.id) +
                      " had expired (no heartbeat within the session timeout), so other "
                      "clients released its locks and its hold on open files; it is registered "
                      "again, but files unlinked meanwhile may be gone: raise --session-timeout "
                      "if this client is often paused");
  }
  return OkStatus();
}

Status Meta::EndSession() {
  RETURN_IF_ERROR(AddPendingUsage(*engine_, *impl_));
  uint64_t session;
  {
    std::lock_guard lock(impl_->mu);
    session = impl_->session;
    impl_->session = 0;
    impl_->open_counts.clear();
    impl_->held.clear();
  }
  RETURN_IF_ERROR(RemoveSessions(*engine_, *impl_, {session}));
  return AddPendingUsage(*engine_, *impl_);
}

bool Meta::shared() const { return impl_->shared; }

Result<std::vector<SessionInfo>> Meta::ListSessions() {
  std::vector<SessionInfo> out;
  RETURN_IF_ERROR(engine_->View([&](kv::Txn& txn) -> Status {
    out.clear();
    Status bad;
    RETURN_IF_ERROR(txn.Scan(codec::SessionPrefix(), kv::PrefixEnd(codec::SessionPrefix()), 0,
                             false, [&](std::string_view, std::string_view v) {
                               auto s = codec::DecodeSession(v);
                               if (!s) return (bad = s.error()), false;
                               out.push_back(*s);
                               return true;
                             }));
    return bad;
  }));
  return out;
}

Result<int> Meta::CleanStaleSessions(int64_t stale_sec) {
  ASSIGN_OR_RETURN(auto sessions, ListSessions());
  uint64_t mine;
  {
    std::lock_guard lock(impl_->mu);
    mine = impl_->session;
  }
  std::vector<uint64_t> stale;
  int64_t now = Now().sec;
  for (const auto& s : sessions) {
    if (s.id == mine || now - s.heartbeat_sec < stale_sec) continue;
    stale.push_back(s.id);
  }
  const int removed = static_cast<int>(stale.size());
  // Inodes held without a session (by a Meta that never started one).
  if (mine != 0) stale.push_back(0);
  RETURN_IF_ERROR(RemoveSessions(*engine_, *impl_, stale));
  return removed;
}

Result<VolumeUsage> Meta::Usage() {
  VolumeUsage u;
  RETURN_IF_ERROR(engine_->View([&](kv::Txn& txn) -> Status {
    ASSIGN_OR_RETURN(u.used_bytes, ReadCounter(txn, kUsedBytes));
    ASSIGN_OR_RETURN(u.inodes, ReadCounter(txn, kUsedInodes));
    u.pending_delete_slices = 0;
    return txn.Scan(codec::DeletedSlicePrefix(), kv::PrefixEnd(codec::DeletedSlicePrefix()), 0,
                    true, [&](std::string_view, std::string_view) {
                      ++u.pending_delete_slices;
                      return true;
                    });
  }));
  std::lock_guard lock(impl_->mu);
  // The stored counters are two's complement sums (see AddPendingUsage).
  u.used_bytes = static_cast<uint64_t>(
      std::max<int64_t>(0, static_cast<int64_t>(u.used_bytes) + impl_->pending_bytes));
  u.inodes = static_cast<uint64_t>(
      std::max<int64_t>(0, static_cast<int64_t>(u.inodes) + impl_->pending_inodes));
  return u;
}

Result<StatFs> Meta::GetStatFs() {
  ASSIGN_OR_RETURN(VolumeUsage u, Usage());
  constexpr uint64_t kUnlimited = 1ull << 50;  // 1 PiB: what statfs shows without a quota
  constexpr uint64_t kInodeHeadroom = 10'000'000;
  StatFs s;
  s.total_bytes = config_.capacity ? config_.capacity : kUnlimited;
  s.used_bytes = std::min(u.used_bytes, s.total_bytes);
  s.used_inodes = u.inodes;
  s.total_inodes = u.inodes + kInodeHeadroom;
  return s;
}

// --- ids ---

Result<Ino> NextInode(kv::Engine& engine, Meta::Impl& impl) {
  std::lock_guard lock(impl.mu);
  if (impl.next_ino == impl.end_ino) {
    ASSIGN_OR_RETURN(uint64_t first, TakeIds(engine, kNextInode, kInodeBatch));
    impl.next_ino = first;
    impl.end_ino = first + kInodeBatch;
  }
  return impl.next_ino++;
}

Result<uint64_t> Meta::NewSliceId() {
  std::lock_guard lock(impl_->mu);
  if (impl_->next_slice == impl_->end_slice) {
    ASSIGN_OR_RETURN(uint64_t first, TakeIds(*engine_, kNextSlice, kSliceBatch));
    impl_->next_slice = first;
    impl_->end_slice = first + kSliceBatch;
  }
  return impl_->next_slice++;
}

// --- open files ---

void AddHolder(kv::Txn& txn, Meta::Impl& impl, Ino ino, uint64_t session) {
  txn.Put(codec::HolderKey(ino, session), "");
  if (impl.shared) txn.Put(codec::HolderKey(ino, kHolderGuard), "");
  std::lock_guard lock(impl.mu);
  impl.held.insert(ino);
}

Result<bool> HasHolders(kv::Txn& txn, Meta::Impl& impl, Ino ino) {
  if (impl.shared) RETURN_IF_ERROR(txn.Get(codec::HolderKey(ino, kHolderGuard)));
  bool found = false;
  std::string prefix = codec::HolderPrefix(ino);
  RETURN_IF_ERROR(
      txn.Scan(prefix, kv::PrefixEnd(prefix), 0, true, [&](std::string_view k, std::string_view) {
        auto h = codec::DecodeHolderKey(k);
        found = h && h->second != kHolderGuard;
        return !found;
      }));
  return found;
}

Status ReleaseHolders(kv::Engine& engine, Meta::Impl& impl, const std::vector<Ino>& inos,
                      uint64_t session) {
  if (inos.empty()) return OkStatus();
  return Update(engine, impl, [&](kv::Txn& txn, AttrCache& attrs, Delta& delta) -> Status {
    for (Ino ino : inos) {
      ASSIGN_OR_RETURN(auto mine, txn.Get(codec::HolderKey(ino, session)));
      if (!mine) continue;
      txn.Delete(codec::HolderKey(ino, session));
      ASSIGN_OR_RETURN(bool others, HasHolders(txn, impl, ino));
      if (impl.shared) {
        // Written either way, so that two last closes conflict instead of
        // each seeing the other's key and neither freeing the inode.
        if (others) {
          txn.Put(codec::HolderKey(ino, kHolderGuard), "");
        } else {
          txn.Delete(codec::HolderKey(ino, kHolderGuard));
        }
      }
      if (others) continue;
      auto a = attrs.Get(ino);
      if (!a) {
        if (a.error().code() == Code::kNotFound) continue;
        return a.error();
      }
      if ((*a)->nlink == 0) RETURN_IF_ERROR(FreeInode(txn, attrs, ino, &delta));
    }
    return OkStatus();
  });
}

Status ReleaseHolder(kv::Engine& engine, Meta::Impl& impl, Ino ino, uint64_t session) {
  return ReleaseHolders(engine, impl, {ino}, session);
}

namespace {

// The access an open with `flags` needs (O_TRUNC needs write).
int AccessOfOpenFlags(int flags) {
  int mask = 0;
  switch (flags & O_ACCMODE) {
    case O_RDONLY:
      mask = R_OK;
      break;
    case O_WRONLY:
      mask = W_OK;
      break;
    default:
      mask = R_OK | W_OK;
      break;
  }
  if (flags & O_TRUNC) mask |= W_OK;
  return mask;
}

Status CheckOpen(const Context& ctx, const Attr& attr, int flags) {
  int mask = AccessOfOpenFlags(flags);
  if (attr.type == FileType::kDir && (mask & W_OK)) {
    return IsDir("cannot open a directory for writing");
  }
  return CheckAccess(ctx, attr, mask);
}

}  // namespace

Result<Attr> Meta::Open(const Context& ctx, Ino ino, int flags) {
  std::lock_guard stripe(impl_->OpenStripe(ino));
  uint64_t session;
  bool first;
  {
    std::lock_guard lock(impl_->mu);
    session = impl_->session;
    auto it = impl_->open_counts.find(ino);
    first = it == impl_->open_counts.end() || it->second == 0;
  }
  Attr attr;
  if (impl_->shared && first) {
    // Recorded, so that an unlink by another client keeps the inode for us.
    RETURN_IF_ERROR(engine_->Txn([&](kv::Txn& txn) -> Status {
      AttrCache attrs(txn);
      ASSIGN_OR_RETURN(Attr * a, attrs.Get(ino));
      attr = *a;
      RETURN_IF_ERROR(CheckOpen(ctx, attr, flags));
      if (attr.type == FileType::kDir) return OkStatus();
      if (attr.nlink == 0) return NotFound("the file was deleted");
      AddHolder(txn, *impl_, ino, session);
      return OkStatus();
    }));
  } else {
    RETURN_IF_ERROR(engine_->View([&](kv::Txn& txn) -> Status {
      AttrCache attrs(txn);
      ASSIGN_OR_RETURN(Attr * a, attrs.Get(ino));
      attr = *a;
      return OkStatus();
    }));
    RETURN_IF_ERROR(CheckOpen(ctx, attr, flags));
  }
  std::lock_guard lock(impl_->mu);
  ++impl_->open_counts[ino];
  return attr;
}

Result<Entry> Meta::Create(const Context& ctx, Ino parent, std::string_view name, mode_t mode) {
  ASSIGN_OR_RETURN(Entry e, CreateFile(*engine_, *impl_, ctx, parent, name, mode & 07777));
  std::lock_guard lock(impl_->mu);
  ++impl_->open_counts[e.ino];
  return e;
}

Status Meta::Close(Ino ino) { return CloseMany({ino}); }

Status Meta::CloseMany(const std::vector<Ino>& inos) {
  // The stripes of every inode, taken in order (no two closers deadlock).
  std::vector<size_t> stripes;
  for (Ino ino : inos) stripes.push_back(ino % Impl::kOpenStripes);
  std::sort(stripes.begin(), stripes.end());
  stripes.erase(std::unique(stripes.begin(), stripes.end()), stripes.end());
  std::vector<std::unique_lock<std::mutex>> held_stripes;
  for (size_t i : stripes) held_stripes.emplace_back(impl_->open_stripes[i]);

  std::vector<Ino> release;
  uint64_t session;
  {
    std::lock_guard lock(impl_->mu);
    session = impl_->session;
    for (Ino ino : inos) {
      auto it = impl_->open_counts.find(ino);
      if (it == impl_->open_counts.end()) continue;
      if (--it->second > 0) continue;
      impl_->open_counts.erase(it);
      // On an exclusive engine most files were not unlinked while open:
      // closing them stores nothing.
      if (impl_->held.erase(ino) > 0) release.push_back(ino);
    }
  }
  return ReleaseHolders(*engine_, *impl_, release, session);
}

}  // namespace shoal::meta
