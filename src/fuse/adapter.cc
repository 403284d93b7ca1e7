#include "fuse/adapter.h"

#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/context.h"
#include "common/status.h"
#include "fuse/convert.h"
#include "fuse/info.h"

namespace shoal::fuse::internal {
namespace {

using meta::Ino;

Adapter& AdapterOf(fuse_req_t req) { return *static_cast<Adapter*>(fuse_req_userdata(req)); }

// Supplementary groups of the caller, read by libfuse from /proc/PID/status.
// Empty when they cannot be learnt (the caller is then judged by its primary
// group only, which can only deny, never grant, more than it should).
std::vector<uint32_t> GroupsOf(fuse_req_t req) {
  std::vector<gid_t> list(32);
  for (int attempt = 0; attempt < 3; ++attempt) {
    int n = fuse_req_getgroups(req, static_cast<int>(list.size()), list.data());
    if (n < 0) return {};
    if (static_cast<size_t>(n) <= list.size()) {
      return std::vector<uint32_t>(list.begin(), list.begin() + n);
    }
    list.resize(static_cast<size_t>(n));  // groups were added meanwhile: ask again
  }
  return {};
}

// The Context lives only while the request does: its callbacks use `req`.
Context ContextOf(fuse_req_t req) {
  const fuse_ctx* c = fuse_req_ctx(req);
  Context ctx(c->uid, c->gid, static_cast<uint32_t>(c->pid));
  ctx.SetGroupLoader([req] { return GroupsOf(req); });
  ctx.SetInterruptCheck([req] { return fuse_req_interrupted(req) != 0; });
  return ctx;
}

// errno replies lose the message, so failures of the machinery (EIO) are
// logged with it; ordinary POSIX outcomes (ENOENT, EEXIST, ...) are not.
void ReplyError(fuse_req_t req, std::string_view op, uint64_t ino, const Status& s) {
  int err = s.ok() ? EIO : ErrnoOf(s.code());
  if (s.ok()) {
    spdlog::error("{} on inode {}: replied with an ok status where a value was due", op, ino);
  } else if (err == EIO) {
    spdlog::warn("{} on inode {}: {}", op, ino, s.ToString());
  } else {
    spdlog::debug("{} on inode {}: {}", op, ino, s.ToString());
  }
  fuse_reply_err(req, err);
}

void ReplyStatus(fuse_req_t req, std::string_view op, uint64_t ino, const Status& s) {
  if (s.ok()) {
    fuse_reply_err(req, 0);
  } else {
    ReplyError(req, op, ino, s);
  }
}

// A C++ exception must not unwind into libfuse's C frames: turn any that
// escapes a handler into EIO. Handlers reply last, so none has replied yet.
template <typename Fn>
void Serve(fuse_req_t req, std::string_view op, uint64_t ino, Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    spdlog::error("{} on inode {}: unexpected exception: {}", op, ino, e.what());
    fuse_reply_err(req, EIO);
  } catch (...) {
    spdlog::error("{} on inode {}: unexpected exception", op, ino);
    fuse_reply_err(req, EIO);
  }
}

fuse_entry_param EntryParamOf(const Adapter& a, Ino ino, const meta::Attr& attr) {
  fuse_entry_param e{};
  e.ino = ino;
  e.generation = 0;  // inode numbers come from a counter and are never reused
  e.attr = StatOf(ino, attr);
  e.attr_timeout = a.options.attr_timeout;
  e.entry_timeout = a.options.entry_timeout;
  return e;
}

void ReplyEntry(fuse_req_t req, const Result<meta::Entry>& r, std::string_view op, uint64_t ino) {
  if (!r) return ReplyError(req, op, ino, r.error());
  fuse_entry_param e = EntryParamOf(AdapterOf(req), r->ino, r->attr);
  fuse_reply_entry(req, &e);
}

// getxattr/listxattr protocol: a size-0 request asks how big the value is.
void ReplyXattrValue(fuse_req_t req, const std::string& value, size_t size) {
  if (size == 0) {
    fuse_reply_xattr(req, value.size());
  } else if (value.size() > size) {
    fuse_reply_err(req, ERANGE);
  } else {
    fuse_reply_buf(req, value.data(), value.size());
  }
}

// The mount's data path now: cache hits and misses, fetches, readahead,
// uploads, write-back, buffered bytes.
nlohmann::json DataPathJson(vfs::Vfs& vfs) {
  chunk::BlockStoreStats s = vfs.blocks().Stats();
  const cache::CacheStats& c = s.cache;
  return {
      {"buffered_bytes", vfs.BufferedBytes()},
      {"reads", {{"hits", s.read_hits}, {"misses", s.read_misses}, {"joined", s.joined}}},
      {"fetches", {{"count", s.fetches}, {"bytes", s.fetched_bytes}, {"errors", s.fetch_errors}}},
      {"readahead",
       {{"issued", s.readahead_issued},
        {"used", s.readahead_used},
        {"wasted", s.readahead_wasted},
        {"skipped", s.readahead_skipped}}},
      {"uploads",
       {{"count", s.uploads},
        {"bytes", s.uploaded_bytes},
        {"errors", s.upload_errors},
        {"in_flight", s.uploads_in_flight},
        {"staged_pending", s.staged_pending},
        {"deferred", s.upload_deferrals}}},
      {"cache",
       {{"blocks", c.blocks},
        {"bytes", c.bytes},
        {"limit_bytes", c.limit_bytes},
        {"staged_blocks", c.staged_blocks},
        {"evictions", c.evictions},
        {"corrupt", c.corrupt},
        {"errors", c.errors},
        {"scanning", c.scanning}}}};
}

// The answers to the reserved names of info.h.
Result<std::string> Introspect(Adapter& a, const Context& ctx, Ino ino, std::string_view name) {
  if (name == kStatusXattr) {
    ASSIGN_OR_RETURN(nlohmann::json j, VolumeStatus(a.vfs.meta()));
    j["served_by"] = {{"pid", ::getpid()}, {"mountpoint", a.options.mountpoint}};
    j["data_path"] = DataPathJson(a.vfs);
    return DumpJson(j);
  }
  std::optional<uint32_t> first = InfoFirstChunk(name);
  if (!first) return Status(Code::kNoData, "no such attribute");
  ASSIGN_OR_RETURN(nlohmann::json j, FileInfo(a.vfs, ctx, ino, *first, kMaxAnswerBytes));
  return DumpJson(j);
}

// --- handlers ---

void Init(void* userdata, fuse_conn_info* conn) {
  auto& a = *static_cast<Adapter*>(userdata);
  auto want = [conn](unsigned cap) {
    if (conn->capable & cap) conn->want |= cap;
  };
  auto drop = [conn](unsigned cap) { conn->want &= ~cap; };
  want(FUSE_CAP_POSIX_LOCKS);
  want(FUSE_CAP_FLOCK_LOCKS);
  want(FUSE_CAP_ATOMIC_O_TRUNC);
  want(FUSE_CAP_READDIRPLUS);
  drop(FUSE_CAP_EXPORT_SUPPORT);
  drop(FUSE_CAP_WRITEBACK_CACHE);
  drop(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
  // Only lower: libfuse offers what its receive buffers hold.
  conn->max_write = std::min(conn->max_write, a.options.max_write);
  if (a.options.max_read != 0) conn->max_read = a.options.max_read;
  if (a.options.max_readahead != 0) {
    conn->max_readahead = std::min(conn->max_readahead, a.options.max_readahead);
  }
  spdlog::info("fuse: protocol {}.{}, max_write {}, max_readahead {}", conn->proto_major,
               conn->proto_minor, conn->max_write, conn->max_readahead);
  // The kernel holds requests until this handshake is answered, which
  // libfuse does as soon as we return: the mount is usable from here on.
  if (a.on_ready && !a.ready_sent.exchange(true)) a.on_ready();
}

void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Serve(req, "lookup", parent, [&] {
    Context ctx = ContextOf(req);
    ReplyEntry(req, AdapterOf(req).vfs.Lookup(ctx, parent, name), "lookup", parent);
  });
}

void Forget(fuse_req_t req, fuse_ino_t, uint64_t) { fuse_reply_none(req); }

void ForgetMulti(fuse_req_t req, size_t, fuse_forget_data*) { fuse_reply_none(req); }

void GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  Serve(req, "getattr", ino, [&] {
    Adapter& a = AdapterOf(req);
    Context ctx = ContextOf(req);
    Result<meta::Attr> r = a.vfs.GetAttr(ctx, ino);
    if (!r) return ReplyError(req, "getattr", ino, r.error());
    struct stat st = StatOf(ino, *r);
    fuse_reply_attr(req, &st, a.options.attr_timeout);
  });
}

void SetAttr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
  Serve(req, "setattr", ino, [&] {
    Adapter& a = AdapterOf(req);
    Context ctx = ContextOf(req);
    SetAttrArgs args = SetAttrArgsOf(*attr, to_set);
    std::optional<uint64_t> fh;
    if (fi != nullptr) fh = fi->fh;
    Result<meta::Attr> r = a.vfs.SetAttr(ctx, ino, args.req, args.size, fh);
    if (!r) return ReplyError(req, "setattr", ino, r.error());
    struct stat st = StatOf(ino, *r);
    fuse_reply_attr(req, &st, a.options.attr_timeout);
  });
}

void Readlink(fuse_req_t req, fuse_ino_t ino) {
  Serve(req, "readlink", ino, [&] {
    Context ctx = ContextOf(req);
    Result<std::string> r = AdapterOf(req).vfs.Readlink(ctx, ino);
    if (!r) return ReplyError(req, "readlink", ino, r.error());
    fuse_reply_readlink(req, r->c_str());
  });
}

void Mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  Serve(req, "mknod", parent, [&] {
    Context ctx = ContextOf(req);
    ReplyEntry(req, AdapterOf(req).vfs.Mknod(ctx, parent, name, mode, rdev), "mknod", parent);
  });
}

void Mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  Serve(req, "mkdir", parent, [&] {
    Context ctx = ContextOf(req);
    ReplyEntry(req, AdapterOf(req).vfs.Mkdir(ctx, parent, name, mode), "mkdir", parent);
  });
}

void Unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Serve(req, "unlink", parent, [&] {
    Context ctx = ContextOf(req);
    ReplyStatus(req, "unlink", parent, AdapterOf(req).vfs.Unlink(ctx, parent, name));
  });
}

void Rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Serve(req, "rmdir", parent, [&] {
    Context ctx = ContextOf(req);
    ReplyStatus(req, "rmdir", parent, AdapterOf(req).vfs.Rmdir(ctx, parent, name));
  });
}

void Symlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
  Serve(req, "symlink", parent, [&] {
    Context ctx = ContextOf(req);
    ReplyEntry(req, AdapterOf(req).vfs.Symlink(ctx, parent, name, link), "symlink", parent);
  });
}

void Rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t new_parent,
            const char* new_name, unsigned int flags) {
  Serve(req, "rename", parent, [&] {
    Result<meta::RenameFlags> f = RenameFlagsOf(flags);
    if (!f) return ReplyError(req, "rename", parent, f.error());
    Context ctx = ContextOf(req);
    ReplyStatus(req, "rename", parent,
                AdapterOf(req).vfs.Rename(ctx, parent, name, new_parent, new_name, *f));
  });
}

void Link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t new_parent, const char* new_name) {
  Serve(req, "link", ino, [&] {
    Context ctx = ContextOf(req);
    ReplyEntry(req, AdapterOf(req).vfs.Link(ctx, ino, new_parent, new_name), "link", ino);
  });
}

void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Serve(req, "open", ino, [&] {
    Adapter& a = AdapterOf(req);
    Context ctx = ContextOf(req);
    Result<vfs::OpenResult> r = a.vfs.Open(ctx, ino, fi->flags);
    if (!r) return ReplyError(req, "open", ino, r.error());
    fi->fh = r->fh;
    fi->keep_cache = r->keep_cache ? 1 : 0;
    // Close-to-open: another client may have changed the file since the
    // kernel cached its attributes, and a read past a stale size would stop
    // short. Drop them (not the pages: keep_cache decides about those) so
    // that the next stat or read asks for fresh ones.
    fuse_session* se = a.session.load();
    if (se != nullptr && a.options.attr_timeout > 0) {
      (void)fuse_lowlevel_notify_inval_inode(se, ino, -1, 0);
    }
    // -ENOENT: the caller was interrupted and the kernel will never release
    // this handle, so release it here.
    if (fuse_reply_open(req, fi) == -ENOENT) (void)a.vfs.Release(ino, r->fh);
  });
}

void Read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  Serve(req, "read", ino, [&] {
    if (off < 0) {
      fuse_reply_err(req, EINVAL);
      return;
    }
    Context ctx = ContextOf(req);
    std::string out;
    Status s = AdapterOf(req).vfs.Read(ctx, ino, fi->fh, static_cast<uint64_t>(off), size, &out);
    if (!s.ok()) return ReplyError(req, "read", ino, s);
    fuse_reply_buf(req, out.data(), out.size());
  });
}

void Write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
           fuse_file_info* fi) {
  Serve(req, "write", ino, [&] {
    if (off < 0) {
      fuse_reply_err(req, EINVAL);
      return;
    }
    Context ctx = ContextOf(req);
    Result<size_t> r = AdapterOf(req).vfs.Write(ctx, ino, fi->fh, static_cast<uint64_t>(off),
                                                std::string_view(buf, size));
    if (!r) return ReplyError(req, "write", ino, r.error());
    fuse_reply_write(req, *r);
  });
}

void Flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Serve(req, "flush", ino, [&] {
    Context ctx = ContextOf(req);
    ReplyStatus(req, "flush", ino, AdapterOf(req).vfs.Flush(ctx, ino, fi->fh, fi->lock_owner));
  });
}

void Release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Serve(req, "release", ino, [&] {
    Adapter& a = AdapterOf(req);
    Status s;
    if (fi->flock_release) {
      Context ctx = ContextOf(req);
      s = a.vfs.Flock(ctx, ino, fi->lock_owner, meta::LockType::kUnlock, vfs::LockWait::kNoWait);
    }
    Status released = a.vfs.Release(ino, fi->fh);
    if (s.ok()) s = released;
    ReplyStatus(req, "release", ino, s);  // the kernel ignores the answer; the log keeps it
  });
}

void Fsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi) {
  Serve(req, "fsync", ino, [&] {
    Context ctx = ContextOf(req);
    ReplyStatus(req, "fsync", ino, AdapterOf(req).vfs.Fsync(ctx, ino, fi->fh, datasync != 0));
  });
}

void OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Serve(req, "opendir", ino, [&] {
    Adapter& a = AdapterOf(req);
    Context ctx = ContextOf(req);
    Result<uint64_t> r = a.vfs.OpenDir(ctx, ino);
    if (!r) return ReplyError(req, "opendir", ino, r.error());
    fi->fh = *r;
    if (fuse_reply_open(req, fi) == -ENOENT) (void)a.vfs.ReleaseDir(ino, *r);
  });
}

// readdir and readdirplus: as many entries from `off` as fit in `size`
// bytes, each carrying the offset to continue after it.
void ReadDirCommon(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi,
                   bool plus) {
  std::string_view op = plus ? "readdirplus" : "readdir";
  Serve(req, op, ino, [&] {
    if (off < 0) {
      fuse_reply_err(req, EINVAL);
      return;
    }
    Adapter& a = AdapterOf(req);
    Context ctx = ContextOf(req);
    Result<std::vector<vfs::DirItem>> r =
        a.vfs.ReadDir(ctx, ino, fi->fh, static_cast<uint64_t>(off), plus);
    if (!r) return ReplyError(req, op, ino, r.error());
    std::string buf(size, '\0');
    size_t used = 0;
    for (const vfs::DirItem& item : *r) {
      size_t need;
      auto next = static_cast<off_t>(item.next_offset);
      if (plus) {
        fuse_entry_param e{};
        if (item.attr) {
          e = EntryParamOf(a, item.ino, *item.attr);
        } else {
          // ino 0 tells the kernel to list the name without caching an inode.
          e.attr.st_ino = item.ino;
          e.attr.st_mode = meta::ModeBitsOf(item.type);
        }
        need = fuse_add_direntry_plus(req, buf.data() + used, size - used, item.name.c_str(), &e,
                                      next);
      } else {
        struct stat st {};
        st.st_ino = item.ino;
        st.st_mode = meta::ModeBitsOf(item.type);
        need = fuse_add_direntry(req, buf.data() + used, size - used, item.name.c_str(), &st, next);
      }
      if (need > size - used) break;  // full: the kernel asks again from the last offset
      used += need;
    }
    fuse_reply_buf(req, buf.data(), used);
  });
}

void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  ReadDirCommon(req, ino, size, off, fi, /*plus=*/false);
}

void ReadDirPlus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  ReadDirCommon(req, ino, size, off, fi, /*plus=*/true);
}

void ReleaseDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Serve(req, "releasedir", ino,
        [&] { ReplyStatus(req, "releasedir", ino, AdapterOf(req).vfs.ReleaseDir(ino, fi->fh)); });
}

// Directory changes are committed by the operation that makes them.
void FsyncDir(fuse_req_t req, fuse_ino_t, int, fuse_file_info*) { fuse_reply_err(req, 0); }

void StatFsOp(fuse_req_t req, fuse_ino_t ino) {
  Serve(req, "statfs", ino, [&] {
    Context ctx = ContextOf(req);
    Result<meta::StatFs> r = AdapterOf(req).vfs.StatFs(ctx);
    if (!r) return ReplyError(req, "statfs", ino, r.error());
    struct statvfs st = StatVfsOf(*r);
    fuse_reply_statfs(req, &st);
  });
}

void SetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
              int flags) {
  Serve(req, "setxattr", ino, [&] {
    if (IsReservedXattr(name)) {
      fuse_reply_err(req, EPERM);
      return;
    }
    Result<meta::XattrFlags> f = XattrFlagsOf(flags);
    if (!f) return ReplyError(req, "setxattr", ino, f.error());
    Context ctx = ContextOf(req);
    ReplyStatus(req, "setxattr", ino,
                AdapterOf(req).vfs.SetXattr(ctx, ino, name, std::string_view(value, size), *f));
  });
}

void GetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  Serve(req, "getxattr", ino, [&] {
    Adapter& a = AdapterOf(req);
    Context ctx = ContextOf(req);
    Result<std::string> r =
        IsReservedXattr(name) ? Introspect(a, ctx, ino, name) : a.vfs.GetXattr(ctx, ino, name);
    if (!r) return ReplyError(req, "getxattr", ino, r.error());
    ReplyXattrValue(req, *r, size);
  });
}

void ListXattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  Serve(req, "listxattr", ino, [&] {
    Context ctx = ContextOf(req);
    Result<std::vector<std::string>> r = AdapterOf(req).vfs.ListXattr(ctx, ino);
    if (!r) return ReplyError(req, "listxattr", ino, r.error());
    std::string names;
    for (const std::string& n : *r) {
      if (IsReservedXattr(n)) continue;
      names += n;
      names.push_back('\0');
    }
    ReplyXattrValue(req, names, size);
  });
}

void RemoveXattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  Serve(req, "removexattr", ino, [&] {
    if (IsReservedXattr(name)) {
      fuse_reply_err(req, EPERM);
      return;
    }
    Context ctx = ContextOf(req);
    ReplyStatus(req, "removexattr", ino, AdapterOf(req).vfs.RemoveXattr(ctx, ino, name));
  });
}

void Access(fuse_req_t req, fuse_ino_t ino, int mask) {
  Serve(req, "access", ino, [&] {
    Context ctx = ContextOf(req);
    ReplyStatus(req, "access", ino, AdapterOf(req).vfs.Access(ctx, ino, mask));
  });
}

void Create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  Serve(req, "create", parent, [&] {
    Adapter& a = AdapterOf(req);
    Context ctx = ContextOf(req);
    Result<vfs::CreateResult> r = a.vfs.Create(ctx, parent, name, mode, fi->flags);
    if (!r) return ReplyError(req, "create", parent, r.error());
    fi->fh = r->fh;
    fi->keep_cache = 0;
    fuse_entry_param e = EntryParamOf(a, r->entry.ino, r->entry.attr);
    if (fuse_reply_create(req, &e, fi) == -ENOENT) (void)a.vfs.Release(r->entry.ino, r->fh);
  });
}

void GetLk(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, struct flock* lock) {
  Serve(req, "getlk", ino, [&] {
    Result<meta::PosixLock> probe = PosixLockOf(*lock);
    if (!probe) return ReplyError(req, "getlk", ino, probe.error());
    Context ctx = ContextOf(req);
    Result<meta::PosixLock> r = AdapterOf(req).vfs.GetLk(ctx, ino, fi->lock_owner, *probe);
    if (!r) return ReplyError(req, "getlk", ino, r.error());
    struct flock out = FlockOf(*r);
    fuse_reply_lock(req, &out);
  });
}

void SetLk(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, struct flock* lock, int sleep) {
  Serve(req, "setlk", ino, [&] {
    Result<meta::PosixLock> l = PosixLockOf(*lock);
    if (!l) return ReplyError(req, "setlk", ino, l.error());
    Context ctx = ContextOf(req);
    vfs::LockWait wait = sleep ? vfs::LockWait::kWait : vfs::LockWait::kNoWait;
    ReplyStatus(req, "setlk", ino,
                AdapterOf(req).vfs.SetLk(ctx, ino, fi->fh, fi->lock_owner, *l, wait));
  });
}

void Flock(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, int op) {
  Serve(req, "flock", ino, [&] {
    Result<meta::LockType> type = FlockTypeOf(op);
    if (!type) return ReplyError(req, "flock", ino, type.error());
    Context ctx = ContextOf(req);
    vfs::LockWait wait = (op & LOCK_NB) ? vfs::LockWait::kNoWait : vfs::LockWait::kWait;
    ReplyStatus(req, "flock", ino, AdapterOf(req).vfs.Flock(ctx, ino, fi->lock_owner, *type, wait));
  });
}

void Fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
               fuse_file_info* fi) {
  Serve(req, "fallocate", ino, [&] {
    if (offset < 0 || length <= 0) {
      fuse_reply_err(req, EINVAL);
      return;
    }
    Context ctx = ContextOf(req);
    ReplyStatus(req, "fallocate", ino,
                AdapterOf(req).vfs.Fallocate(ctx, ino, fi->fh, mode, static_cast<uint64_t>(offset),
                                             static_cast<uint64_t>(length)));
  });
}

fuse_lowlevel_ops MakeOps() {
  fuse_lowlevel_ops ops{};
  ops.init = Init;
  ops.lookup = Lookup;
  ops.forget = Forget;
  ops.forget_multi = ForgetMulti;
  ops.getattr = GetAttr;
  ops.setattr = SetAttr;
  ops.readlink = Readlink;
  ops.mknod = Mknod;
  ops.mkdir = Mkdir;
  ops.unlink = Unlink;
  ops.rmdir = Rmdir;
  ops.symlink = Symlink;
  ops.rename = Rename;
  ops.link = Link;
  ops.open = Open;
  ops.read = Read;
  ops.write = Write;
  ops.flush = Flush;
  ops.release = Release;
  ops.fsync = Fsync;
  ops.opendir = OpenDir;
  ops.readdir = ReadDir;
  ops.readdirplus = ReadDirPlus;
  ops.releasedir = ReleaseDir;
  ops.fsyncdir = FsyncDir;
  ops.statfs = StatFsOp;
  ops.setxattr = SetXattr;
  ops.getxattr = GetXattr;
  ops.listxattr = ListXattr;
  ops.removexattr = RemoveXattr;
  ops.access = Access;
  ops.create = Create;
  ops.getlk = GetLk;
  ops.setlk = SetLk;
  ops.flock = Flock;
  ops.fallocate = Fallocate;
  // copy_file_range, lseek, ioctl, poll, bmap: ENOSYS; the kernel falls back.
  return ops;
}

}  // namespace

const fuse_lowlevel_ops& LowLevelOps() {
  static const fuse_lowlevel_ops kOps = MakeOps();
  return kOps;
}

}  // namespace shoal::fuse::internal
