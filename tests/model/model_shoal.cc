#include <fcntl.h>
#include <fmt/format.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <cerrno>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model_run.h"

namespace shoal::model {

namespace {

constexpr int kMaxSymlinkFollows = 40;  // Linux's MAXSYMLINKS

}  // namespace

// ---------------------------------------------------------------------------
// Shoal's side.

Result<Node> ModelRun::Root() {
  ASSIGN_OR_RETURN(Attr attr, vfs_->GetAttr(ctx_, meta::kRootIno));
  return Node{meta::kRootIno, attr, {}};
}

// Walks `comps` from `dir` as the kernel's path walk would: every component
// but the last must be a directory (after following symlinks); a symlink in
// the last component is followed only if follow_final.
Result<Node> ModelRun::WalkFrom(const Node& dir, const Path& comps, bool follow_final,
                                int* follows) {
  Node cur = dir;
  for (size_t i = 0; i < comps.size(); ++i) {
    if (cur.attr.type != FileType::kDir)
      return Status(Code::kNotDir, fmt::format("walk: {} is not a directory", Join(cur.phys)));
    ASSIGN_OR_RETURN(Entry e, vfs_->Lookup(ctx_, cur.ino, comps[i]));
    bool last = i + 1 == comps.size();
    if (e.attr.type == FileType::kSymlink && (!last || follow_final)) {
      if (++*follows > kMaxSymlinkFollows)
        return Status(Code::kLoop, "walk: too many symlinks followed");
      ASSIGN_OR_RETURN(std::string target, vfs_->Readlink(ctx_, e.ino));
      Path tcomps = Split(target);
      if (tcomps.empty()) return NotFound("walk: empty symlink target");
      ASSIGN_OR_RETURN(cur, WalkFrom(cur, tcomps, /*follow_final=*/true, follows));
    } else {
      Path phys = cur.phys;
      phys.push_back(comps[i]);
      cur = Node{e.ino, e.attr, std::move(phys)};
    }
  }
  return cur;
}

Result<Node> ModelRun::Walk(const std::string& path, bool follow_final) {
  ASSIGN_OR_RETURN(Node root, Root());
  int follows = 0;
  return WalkFrom(root, Split(path), follow_final, &follows);
}

Result<ParentAndName> ModelRun::WalkParent(const std::string& path) {
  Path comps = Split(path);
  std::string name = comps.back();
  comps.pop_back();
  ASSIGN_OR_RETURN(Node root, Root());
  int follows = 0;
  ASSIGN_OR_RETURN(Node dir, WalkFrom(root, comps, /*follow_final=*/true, &follows));
  if (dir.attr.type != FileType::kDir)
    return Status(Code::kNotDir, fmt::format("walk: {} is not a directory", Join(dir.phys)));
  return ParentAndName{std::move(dir), std::move(name)};
}

// The kernel refuses a namespace change with kernel_err before it asks the
// file system. Shoal was asked anyway (`direct`): it must refuse as well,
// since another client may have changed the tree behind this kernel's cache.
Outcome ModelRun::KernelFirst(const char* what, int kernel_err, const Status& direct, bool noop) {
  Outcome o;
  o.err = kernel_err;
  o.detail =
      fmt::format("refused by the kernel; shoal says {}", direct.ok() ? "ok" : direct.ToString());
  if (direct.ok() && noop) {
    // Nothing changed (the tree comparison checks that), so only a note.
    ++report_.notes[fmt::format("{} of a name onto itself: kernel {}, shoal ok", what,
                                ErrName(kernel_err))];
    return o;
  }
  if (direct.ok()) {
    o.err = 0;
    o.detail = fmt::format("shoal accepted a {} that the kernel refuses with {}", what,
                           ErrName(kernel_err));
    return o;
  }
  int e = ErrnoOf(direct.code());
  if (e != kernel_err)
    ++report_.notes[fmt::format("{}: kernel {}, shoal {}", what, ErrName(kernel_err), ErrName(e))];
  return o;
}

Outcome ModelRun::ShoalSetAttr(Ino ino, const meta::SetAttrRequest& req,
                               std::optional<uint64_t> size, std::optional<uint64_t> fh) {
  Result<Attr> r = vfs_->SetAttr(ctx_, ino, req, size, fh);
  if (!r) return FromStatus(r.error());
  Outcome o;
  o.attrs = FromShoal(*r);
  return o;
}

Outcome ModelRun::ShoalCreate(const Op& op, std::optional<std::pair<Ino, uint64_t>>* new_handle) {
  Result<ParentAndName> p = WalkParent(op.a);
  if (!p) return FromStatus(p.error());
  bool excl = op.flags & O_EXCL;
  Result<Entry> look = vfs_->Lookup(ctx_, p->dir.ino, p->name);
  if (look) {
    Outcome o;
    if (look->attr.type == FileType::kSymlink) {
      o.err = excl ? EEXIST : ELOOP;  // O_NOFOLLOW
    } else if (look->attr.type == FileType::kDir) {
      o.err = excl ? EEXIST : EISDIR;
    } else if (look->attr.type != FileType::kFile) {
      o.err = EEXIST;  // the generator makes creates over fifos exclusive
    }
    if (o.err != 0) {
      o.detail = "refused by the kernel";
      return o;
    }
  } else if (look.error().code() != Code::kNotFound) {
    return FromStatus(look.error());
  }
  int flags = O_RDWR | O_CREAT | O_NOFOLLOW | op.flags;
  Result<vfs::CreateResult> r =
      vfs_->Create(ctx_, p->dir.ino, p->name, S_IFREG | (op.mode & 07777), flags);
  if (!r) return FromStatus(r.error());
  *new_handle = std::make_pair(r->entry.ino, r->fh);
  Outcome o;
  o.attrs = FromShoal(r->entry.attr);
  return o;
}

// rename(2) as the kernel does it (do_renameat2, vfs_rename): lookups, the
// NOREPLACE/EXCHANGE checks, the loop checks against the "trap" of
// lock_rename, the same-inode no-op and the type checks come before the
// file system is asked.
Outcome ModelRun::ShoalRename(const Op& op) {
  Result<ParentAndName> from = WalkParent(op.a);
  if (!from) return FromStatus(from.error());
  Result<ParentAndName> to = WalkParent(op.b);
  if (!to) return FromStatus(to.error());
  Result<Entry> old_entry = vfs_->Lookup(ctx_, from->dir.ino, from->name);
  if (!old_entry) return FromStatus(old_entry.error());
  Result<Entry> new_entry = vfs_->Lookup(ctx_, to->dir.ino, to->name);
  if (!new_entry && new_entry.error().code() != Code::kNotFound)
    return FromStatus(new_entry.error());
  bool exchange = op.flags == RENAME_EXCHANGE;
  meta::RenameFlags flags = op.flags == RENAME_NOREPLACE ? meta::RenameFlags::kNoReplace
                            : exchange                   ? meta::RenameFlags::kExchange
                                                         : meta::RenameFlags::kNone;
  auto direct = [&]() {
    return vfs_->Rename(ctx_, from->dir.ino, from->name, to->dir.ino, to->name, flags);
  };

  bool same_inode = new_entry && new_entry->ino == old_entry->ino;
  if (op.flags == RENAME_NOREPLACE && new_entry)
    return KernelFirst("rename", EEXIST, direct(), same_inode);
  if (exchange && !new_entry) return KernelFirst("rename", ENOENT, direct());

  // lock_rename's trap: the child of the upper parent on the way to the lower.
  const Path& po = from->dir.phys;
  const Path& pn = to->dir.phys;
  std::optional<Path> trap;
  if (po != pn) {
    if (IsPrefix(pn, po)) trap = Path(po.begin(), po.begin() + static_cast<long>(pn.size()) + 1);
    if (IsPrefix(po, pn)) trap = Path(pn.begin(), pn.begin() + static_cast<long>(po.size()) + 1);
  }
  Path old_path = po;
  old_path.push_back(from->name);
  Path new_path = pn;
  new_path.push_back(to->name);
  if (trap && old_path == *trap) return KernelFirst("rename", EINVAL, direct());
  if (trap && new_path == *trap)
    return KernelFirst("rename", exchange ? EINVAL : ENOTEMPTY, direct());

  if (same_inode) {
    // Two names of one inode: POSIX says rename does nothing and succeeds.
    Status st = direct();
    if (!st.ok())
      ++report_.notes[fmt::format("rename of two links to one inode: kernel ok, shoal {}",
                                  ErrName(ErrnoOf(st.code())))];
    Outcome o;
    o.detail = "no-op in the kernel; shoal says " + st.ToString();
    return o;
  }
  if (new_entry && !exchange) {
    bool old_dir = old_entry->attr.type == FileType::kDir;
    bool new_dir = new_entry->attr.type == FileType::kDir;
    if (old_dir && !new_dir) return KernelFirst("rename", ENOTDIR, direct());
    if (!old_dir && new_dir) return KernelFirst("rename", EISDIR, direct());
  }
  return FromStatus(direct());
}

Outcome ModelRun::ShoalApply(const Op& op, std::optional<std::pair<Ino, uint64_t>>* new_handle) {
  const Handle* h = IsHandleOp(op.kind) ? &handles_[op.handle] : nullptr;
  switch (op.kind) {
    case Kind::kCreate:
      return ShoalCreate(op, new_handle);
    case Kind::kOpen: {
      Result<Node> n = Walk(op.a, op.follow);
      if (!n) return FromStatus(n.error());
      Outcome o;
      if (n->attr.type == FileType::kSymlink) o.err = ELOOP;  // O_NOFOLLOW
      if (n->attr.type == FileType::kDir) o.err = EISDIR;     // O_RDWR
      if (o.err != 0) {
        o.detail = "refused by the kernel";
        return o;
      }
      int flags = O_RDWR | op.flags | (op.follow ? 0 : O_NOFOLLOW);
      Result<vfs::OpenResult> r = vfs_->Open(ctx_, n->ino, flags);
      if (!r) return FromStatus(r.error());
      *new_handle = std::make_pair(n->ino, r->fh);
      o.attrs = FromShoal(r->attr);
      return o;
    }
    case Kind::kWrite: {
      std::string data = RandomBytes(op.data_seed, op.len);
      Result<size_t> r = vfs_->Write(ctx_, h->ino, h->fh, op.off, data);
      if (!r) return FromStatus(r.error());
      Outcome o;
      o.count = *r;
      return o;
    }
    case Kind::kRead: {
      std::string out;
      Status st = vfs_->Read(ctx_, h->ino, h->fh, op.off, op.len, &out);
      Outcome o = FromStatus(st);
      if (st.ok()) o.data = std::move(out);
      return o;
    }
    case Kind::kFstat: {
      Result<Attr> r = vfs_->GetAttr(ctx_, h->ino);
      if (!r) return FromStatus(r.error());
      Outcome o;
      o.attrs = FromShoal(*r);
      return o;
    }
    case Kind::kClose: {
      Status flushed = vfs_->Flush(ctx_, h->ino, h->fh, /*lock_owner=*/h->fh);
      Status released = vfs_->Release(h->ino, h->fh);
      return FromStatus(flushed.ok() ? released : flushed);
    }
    case Kind::kFsync:
      return FromStatus(vfs_->Fsync(ctx_, h->ino, h->fh, op.flags != 0));
    case Kind::kTruncate: {
      Result<Node> n = Walk(op.a, true);
      if (!n) return FromStatus(n.error());
      Outcome o;
      if (n->attr.type == FileType::kDir)
        o.err = EISDIR;
      else if (n->attr.type != FileType::kFile)
        o.err = EINVAL;
      if (o.err != 0) {
        o.detail = "refused by the kernel";
        return o;
      }
      return ShoalSetAttr(n->ino, meta::SetAttrRequest{}, op.len, std::nullopt);
    }
    case Kind::kFtruncate:
      return ShoalSetAttr(h->ino, meta::SetAttrRequest{}, op.len, h->fh);
    case Kind::kFallocate: {
      Status st = vfs_->Fallocate(ctx_, h->ino, h->fh, op.flags, op.off, op.len);
      if (!st.ok()) return FromStatus(st);
      Result<Attr> r = vfs_->GetAttr(ctx_, h->ino);
      if (!r) return FromStatus(r.error());
      Outcome o;
      o.attrs = FromShoal(*r);
      return o;
    }
    case Kind::kRename:
      return ShoalRename(op);
    case Kind::kLink: {
      Result<Node> from = Walk(op.a, false);
      if (!from) return FromStatus(from.error());
      Result<ParentAndName> to = WalkParent(op.b);
      if (!to) return FromStatus(to.error());
      auto direct = [&]() {
        return internal::StatusOf(vfs_->Link(ctx_, from->ino, to->dir.ino, to->name));
      };
      Result<Entry> look = vfs_->Lookup(ctx_, to->dir.ino, to->name);
      if (look) return KernelFirst("link", EEXIST, direct());
      if (look.error().code() != Code::kNotFound) return FromStatus(look.error());
      if (from->attr.type == FileType::kDir) return KernelFirst("link", EPERM, direct());
      Result<Entry> r = vfs_->Link(ctx_, from->ino, to->dir.ino, to->name);
      if (!r) return FromStatus(r.error());
      Outcome o;
      o.attrs = FromShoal(r->attr);
      return o;
    }
    case Kind::kUnlink:
    case Kind::kRmdir: {
      Result<ParentAndName> p = WalkParent(op.a);
      if (!p) return FromStatus(p.error());
      Result<Entry> look = vfs_->Lookup(ctx_, p->dir.ino, p->name);
      if (!look) return FromStatus(look.error());
      bool is_dir = look->attr.type == FileType::kDir;
      if (op.kind == Kind::kUnlink) {
        Status st = vfs_->Unlink(ctx_, p->dir.ino, p->name);
        return is_dir ? KernelFirst("unlink", EISDIR, st) : FromStatus(st);
      }
      Status st = vfs_->Rmdir(ctx_, p->dir.ino, p->name);
      return is_dir ? FromStatus(st) : KernelFirst("rmdir", ENOTDIR, st);
    }
    case Kind::kMkdir:
    case Kind::kSymlink:
    case Kind::kMknodFifo: {
      Result<ParentAndName> p = WalkParent(op.a);
      if (!p) return FromStatus(p.error());
      Result<Entry> look = vfs_->Lookup(ctx_, p->dir.ino, p->name);
      if (!look && look.error().code() != Code::kNotFound) return FromStatus(look.error());
      Result<Entry> r =
          op.kind == Kind::kMkdir ? vfs_->Mkdir(ctx_, p->dir.ino, p->name, op.mode & 01777)
          : op.kind == Kind::kSymlink
              ? vfs_->Symlink(ctx_, p->dir.ino, p->name, op.text)
              : vfs_->Mknod(ctx_, p->dir.ino, p->name, S_IFIFO | (op.mode & 07777), 0);
      const char* what = op.kind == Kind::kMkdir     ? "mkdir"
                         : op.kind == Kind::kSymlink ? "symlink"
                                                     : "mknod";
      if (look) return KernelFirst(what, EEXIST, internal::StatusOf(r));
      if (!r) return FromStatus(r.error());
      Outcome o;
      o.attrs = FromShoal(r->attr);
      return o;
    }
    case Kind::kReadlink: {
      Result<Node> n = Walk(op.a, false);
      if (!n) return FromStatus(n.error());
      if (n->attr.type != FileType::kSymlink) {
        Outcome o;
        o.err = EINVAL;
        o.detail = "refused by the kernel";
        return o;
      }
      Result<std::string> r = vfs_->Readlink(ctx_, n->ino);
      if (!r) return FromStatus(r.error());
      Outcome o;
      o.data = *r;
      return o;
    }
    case Kind::kStat: {
      Result<Node> n = Walk(op.a, op.follow);
      if (!n) return FromStatus(n.error());
      Result<Attr> r = vfs_->GetAttr(ctx_, n->ino);
      if (!r) return FromStatus(r.error());
      Outcome o;
      o.attrs = FromShoal(*r);
      return o;
    }
    case Kind::kChmod:
    case Kind::kChown:
    case Kind::kUtimens: {
      Result<Node> n = Walk(op.a, op.kind == Kind::kChmod || op.follow);
      if (!n) return FromStatus(n.error());
      meta::SetAttrRequest req;
      if (op.kind == Kind::kChmod) {
        req.mask = meta::kSetMode;
        req.mode = op.mode;
      } else if (op.kind == Kind::kChown) {
        req.mask = meta::kSetUid | meta::kSetGid;
        req.uid = op.uid;
        req.gid = op.gid;
      } else {
        if (op.atime_now)
          req.mask |= meta::kSetAtimeNow;
        else if (!op.atime_omit)
          req.mask |= meta::kSetAtime;
        req.mask |= op.mtime_now ? meta::kSetMtimeNow : meta::kSetMtime;
        req.atime = op.atime;
        req.mtime = op.mtime;
      }
      return ShoalSetAttr(n->ino, req, std::nullopt, std::nullopt);
    }
    case Kind::kSetXattr:
    case Kind::kGetXattr:
    case Kind::kRemoveXattr: {
      Result<Node> n = Walk(op.a, true);
      if (!n) return FromStatus(n.error());
      Outcome o;
      if (n->attr.type != FileType::kFile && n->attr.type != FileType::kDir) {
        // user.* attributes exist only on files and directories (xattr_permission).
        o.err = op.kind == Kind::kGetXattr ? ENODATA : EPERM;
        o.detail = "refused by the kernel";
        return o;
      }
      if (op.kind == Kind::kSetXattr) {
        meta::XattrFlags flags = op.flags == XATTR_CREATE    ? meta::XattrFlags::kCreate
                                 : op.flags == XATTR_REPLACE ? meta::XattrFlags::kReplace
                                                             : meta::XattrFlags::kAny;
        return FromStatus(vfs_->SetXattr(ctx_, n->ino, op.text, op.value, flags));
      }
      if (op.kind == Kind::kRemoveXattr)
        return FromStatus(vfs_->RemoveXattr(ctx_, n->ino, op.text));
      Result<std::string> r = vfs_->GetXattr(ctx_, n->ino, op.text);
      if (!r) return FromStatus(r.error());
      o.data = *r;
      return o;
    }
    case Kind::kCollectGarbage: {
      Result<size_t> r = vfs_->CollectGarbage();
      if (!r) return FromStatus(r.error());
      Outcome o;
      o.detail = fmt::format("{} slices deleted", *r);
      return o;
    }
    case Kind::kRemount:
      return Outcome{};
  }
  return Outcome{};
}

}  // namespace shoal::model
