// Namespace operations: one transaction each, permission checks inside it.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "meta/internal.h"

namespace shoal::meta {

using codec::AttrKey;
using codec::EntryKey;

namespace {

// The directory entry `name` in `parent`: nullopt when there is none.
Result<std::optional<std::pair<Ino, FileType>>> GetEntry(kv::Txn& txn, Ino parent,
                                                         std::string_view name) {
  ASSIGN_OR_RETURN(auto v, txn.Get(EntryKey(parent, name)));
  if (!v) return std::optional<std::pair<Ino, FileType>>();
  ASSIGN_OR_RETURN(auto e, codec::DecodeEntry(*v));
  return std::optional<std::pair<Ino, FileType>>(e);
}

Result<bool> DirIsEmpty(kv::Txn& txn, Ino dir) {
  bool empty = true;
  std::string prefix = codec::EntryPrefix(dir);
  RETURN_IF_ERROR(
      txn.Scan(prefix, kv::PrefixEnd(prefix), 1, true, [&](std::string_view, std::string_view) {
        empty = false;
        return false;
      }));
  return empty;
}

// Fails with kInvalid when `dir` is `ancestor` or lies below it: a directory
// cannot be moved into its own subtree.
Status CheckNotBelow(AttrCache& attrs, Ino ancestor, Ino dir) {
  constexpr int kMaxDepth = 1 << 20;  // a bound on a walk up a corrupt tree
  Ino x = dir;
  for (int i = 0; i < kMaxDepth; ++i) {
    if (x == ancestor) return Invalid("cannot move a directory into itself or its own subtree");
    if (x == kRootIno) return OkStatus();
    ASSIGN_OR_RETURN(Attr * a, attrs.Get(x));
    x = a->parent;
  }
  return Corrupt("the directory tree has a loop above inode " + std::to_string(dir));
}

void Touch(AttrCache& attrs, Ino ino, Attr* a, Timespec now) {
  a->mtime = a->ctime = now;
  attrs.MarkDirty(ino);
}

}  // namespace

Result<Entry> Meta::Lookup(const Context& ctx, Ino parent, std::string_view name) {
  if (name.size() > kMaxName) return Status(Code::kNameTooLong, "name too long");
  Entry e;
  RETURN_IF_ERROR(engine_->View([&](kv::Txn& txn) -> Status {
    AttrCache attrs(txn);
    ASSIGN_OR_RETURN(Attr * dir, GetDir(attrs, ctx, parent, X_OK));
    if (name == "." || name == "..") {
      e.ino = name == "." ? parent : dir->parent;
    } else {
      ASSIGN_OR_RETURN(auto entry, GetEntry(txn, parent, name));
      if (!entry) return NotFound("no entry '" + std::string(name) + "'");
      e.ino = entry->first;
    }
    ASSIGN_OR_RETURN(Attr * a, attrs.Get(e.ino));
    e.attr = *a;
    return OkStatus();
  }));
  return e;
}

Result<Attr> Meta::GetAttr(Ino ino) {
  Attr attr;
  RETURN_IF_ERROR(engine_->View([&](kv::Txn& txn) -> Status {
    AttrCache attrs(txn);
    ASSIGN_OR_RETURN(Attr * a, attrs.Get(ino));
    attr = *a;
    return OkStatus();
  }));
  return attr;
}

Status Meta::Access(const Context& ctx, Ino ino, int mask) {
  ASSIGN_OR_RETURN(Attr a, GetAttr(ino));
  return CheckAccess(ctx, a, mask);
}

Result<Attr> Meta::SetAttr(const Context& ctx, Ino ino, const SetAttrRequest& req) {
  Attr out;
  RETURN_IF_ERROR(Update(*engine_, *impl_, [&](kv::Txn& txn, AttrCache& attrs, Delta&) -> Status {
    ASSIGN_OR_RETURN(Attr * a, attrs.Get(ino));
    const bool owner = ctx.IsRoot() || ctx.uid() == a->uid;
    Timespec now = Now();
    if (req.mask & (kSetUid | kSetGid)) {
      bool uid_changes = (req.mask & kSetUid) && req.uid != a->uid;
      bool gid_changes = (req.mask & kSetGid) && req.gid != a->gid;
      if (!ctx.IsRoot()) {
        if (uid_changes) return NotPermitted("only root may change the owner of a file");
        if (gid_changes && (ctx.uid() != a->uid || !ctx.InGroup(req.gid))) {
          return NotPermitted("only the owner may change the group, and only to one of theirs");
        }
      }
      if (req.mask & kSetUid) a->uid = req.uid;
      if (req.mask & kSetGid) a->gid = req.gid;
      // As Linux: chown clears set-user-id, and set-group-id when the group may execute.
      if (a->type != FileType::kDir) {
        a->mode &= ~S_ISUID;
        if (a->mode & S_IXGRP) a->mode &= ~S_ISGID;
      }
    }
    if (req.mask & kSetMode) {
      uint32_t mode = req.mode & 07777;
      // A write by another user makes the kernel clear set-user-id and
      // set-group-id through a setattr sent as that user: allow exactly that.
      bool only_clears_setid = (mode | S_ISUID | S_ISGID) == (a->mode | S_ISUID | S_ISGID) &&
                               (mode & ~a->mode) == 0 && mode != a->mode;
      if (!owner && !only_clears_setid) return NotPermitted("only the owner may change the mode");
      if (!ctx.IsRoot() && !ctx.InGroup(a->gid)) mode &= ~S_ISGID;
      a->mode = mode;
    }
    if (req.mask & (kSetAtime | kSetMtime)) {
      if (!owner) return NotPermitted("only the owner may set times explicitly");
    }
    if (req.mask & (kSetAtimeNow | kSetMtimeNow)) {
      if (!owner) RETURN_IF_ERROR(CheckAccess(ctx, *a, W_OK));
    }
    if (req.mask & kSetAtime) a->atime = req.atime;
    if (req.mask & kSetMtime) a->mtime = req.mtime;
    if (req.mask & kSetAtimeNow) a->atime = now;
    if (req.mask & kSetMtimeNow) a->mtime = now;
    a->ctime = (req.mask & kSetCtime) ? req.ctime : now;
    attrs.MarkDirty(ino);
    out = *a;
    return OkStatus();
  }));
  return out;
}

namespace {

struct NewNode {
  FileType type;
  uint32_t mode;  // permission bits
  uint64_t rdev = 0;
  std::string_view target;  // symlinks
};

}  // namespace

// Creates a node of any type: the shared part of Mknod and Symlink.
// With `open`, a regular file counts as held open by this session from the
// start (recorded in the same transaction on a shared engine).
static Result<Entry> CreateNode(kv::Engine& engine, Meta::Impl& impl, const Context& ctx,
                                Ino parent, std::string_view name, const NewNode& node,
                                bool open = false) {
  RETURN_IF_ERROR(ValidateName(name));
  ASSIGN_OR_RETURN(Ino ino, NextInode(engine, impl));
  Entry e;
  RETURN_IF_ERROR(Update(engine, impl, [&](kv::Txn& txn, AttrCache& attrs, Delta& delta) -> Status {
    ASSIGN_OR_RETURN(Attr * dir, GetDir(attrs, ctx, parent, W_OK | X_OK));
    ASSIGN_OR_RETURN(auto existing, GetEntry(txn, parent, name));
    if (existing) return Exists("'" + std::string(name) + "' already exists");
    if (node.type == FileType::kDir && dir->nlink >= kMaxLinks) {
      return Status(Code::kTooManyLinks, "the directory has too many subdirectories");
    }
    Timespec now = Now();
    Attr a;
    a.type = node.type;
    a.mode = node.mode & 07777;
    a.uid = ctx.uid();
    a.gid = ctx.gid();
    // A set-group-id directory hands its group down, and its bit to subdirectories.
    if (dir->mode & S_ISGID) {
      a.gid = dir->gid;
      if (node.type == FileType::kDir) a.mode |= S_ISGID;
    }
    if (node.type != FileType::kDir && (a.mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP) &&
        !ctx.IsRoot() && !ctx.InGroup(a.gid)) {
      a.mode &= ~S_ISGID;
    }
    a.nlink = node.type == FileType::kDir ? 2 : 1;
    a.length = node.type == FileType::kDir       ? 4096
               : node.type == FileType::kSymlink ? node.target.size()
                                                 : 0;
    a.rdev = node.rdev;
    a.atime = a.mtime = a.ctime = now;
    a.parent = parent;
    txn.Put(AttrKey(ino), codec::EncodeAttr(a));
    txn.Put(EntryKey(parent, name), codec::EncodeEntry(ino, node.type));
    if (node.type == FileType::kSymlink) txn.Put(codec::SymlinkKey(ino), node.target);
    if (node.type == FileType::kDir) ++dir->nlink;
    if (open && impl.shared) {
      uint64_t session;
      {
        std::lock_guard lock(impl.mu);
        session = impl.session;
      }
      AddHolder(txn, impl, ino, session);
    }
    Touch(attrs, parent, dir, now);
    delta.inodes = 1;
    e = {ino, a};
    return OkStatus();
  }));
  return e;
}

Result<Entry> Meta::Mknod(const Context& ctx, Ino parent, std::string_view name, mode_t mode,
                          uint64_t rdev) {
  ASSIGN_OR_RETURN(FileType type, TypeOfMode(mode));
  if (type == FileType::kSymlink) return Invalid("use Symlink to create a symbolic link");
  bool device = type == FileType::kCharDev || type == FileType::kBlockDev;
  return CreateNode(*engine_, *impl_, ctx, parent, name,
                    {type, static_cast<uint32_t>(mode & 07777), device ? rdev : 0, {}});
}

Result<Entry> CreateFile(kv::Engine& engine, Meta::Impl& impl, const Context& ctx, Ino parent,
                         std::string_view name, uint32_t perm) {
  return CreateNode(engine, impl, ctx, parent, name, {FileType::kFile, perm, 0, {}},
                    /*open=*/true);
}

Result<Entry> Meta::Symlink(const Context& ctx, Ino parent, std::string_view name,
                            std::string_view target) {
  if (target.empty()) return NotFound("a symbolic link needs a target");
  if (target.size() >= 4096) return Status(Code::kNameTooLong, "symlink target too long");
  return CreateNode(*engine_, *impl_, ctx, parent, name, {FileType::kSymlink, 0777, 0, target});
}

Result<std::string> Meta::Readlink(Ino ino) {
  std::string target;
  RETURN_IF_ERROR(engine_->View([&](kv::Txn& txn) -> Status {
    ASSIGN_OR_RETURN(auto v, txn.Get(codec::SymlinkKey(ino)));
    if (!v) {
      ASSIGN_OR_RETURN(auto a, txn.Get(AttrKey(ino)));
      if (!a) return NotFound("inode " + std::to_string(ino) + " does not exist");
      return Invalid("not a symbolic link");
    }
    target = std::move(*v);
    return OkStatus();
  }));
  return target;
}

// Drops one link of a non-directory inode whose entry the caller removed.
// An inode left with no links is freed, or kept while a session has it open.
static Status DropLink(kv::Txn& txn, AttrCache& attrs, Meta::Impl& impl, Ino ino, Attr* a,
                       Timespec now, Delta* delta) {
  if (a->nlink > 0) --a->nlink;
  a->ctime = now;
  if (a->nlink > 0) {
    attrs.MarkDirty(ino);
    return OkStatus();
  }
  bool keep = false;
  if (impl.shared) {
    ASSIGN_OR_RETURN(keep, HasHolders(txn, impl, ino));
  } else if (impl.IsOpen(ino)) {
    // The only client has it open: it becomes the holder now.
    uint64_t session;
    {
      std::lock_guard lock(impl.mu);
      session = impl.session;
    }
    AddHolder(txn, impl, ino, session);
    keep = true;
  }
  if (keep) {
    attrs.MarkDirty(ino);
    return OkStatus();
  }
  return FreeInode(txn, attrs, ino, delta);
}

Status Meta::Unlink(const Context& ctx, Ino parent, std::string_view name) {
  RETURN_IF_ERROR(ValidateName(name));
  RETURN_IF_ERROR(
      Update(*engine_, *impl_, [&](kv::Txn& txn, AttrCache& attrs, Delta& delta) -> Status {
        ASSIGN_OR_RETURN(Attr * dir, GetDir(attrs, ctx, parent, W_OK | X_OK));
        ASSIGN_OR_RETURN(auto entry, GetEntry(txn, parent, name));
        if (!entry) return NotFound("no entry '" + std::string(name) + "'");
        Ino ino = entry->first;
        ASSIGN_OR_RETURN(Attr * a, attrs.Get(ino));
        if (a->type == FileType::kDir) return IsDir("'" + std::string(name) + "' is a directory");
        RETURN_IF_ERROR(CheckSticky(ctx, *dir, *a));
        Timespec now = Now();
        txn.Delete(EntryKey(parent, name));
        Touch(attrs, parent, dir, now);
        RETURN_IF_ERROR(DropLink(txn, attrs, *impl_, ino, a, now, &delta));
        return OkStatus();
      }));
  return OkStatus();
}

Status Meta::Rmdir(const Context& ctx, Ino parent, std::string_view name) {
  if (name == ".") return Invalid("cannot remove '.'");
  if (name == "..") return NotEmpty("cannot remove '..'");
  RETURN_IF_ERROR(ValidateName(name));
  RETURN_IF_ERROR(
      Update(*engine_, *impl_, [&](kv::Txn& txn, AttrCache& attrs, Delta& delta) -> Status {
        ASSIGN_OR_RETURN(Attr * dir, GetDir(attrs, ctx, parent, W_OK | X_OK));
        ASSIGN_OR_RETURN(auto entry, GetEntry(txn, parent, name));
        if (!entry) return NotFound("no entry '" + std::string(name) + "'");
        Ino ino = entry->first;
        ASSIGN_OR_RETURN(Attr * a, attrs.Get(ino));
        if (a->type != FileType::kDir)
          return NotDir("'" + std::string(name) + "' is not a directory");
        RETURN_IF_ERROR(CheckSticky(ctx, *dir, *a));
        ASSIGN_OR_RETURN(bool empty, DirIsEmpty(txn, ino));
        if (!empty) return NotEmpty("'" + std::string(name) + "' is not empty");
        txn.Delete(EntryKey(parent, name));
        --dir->nlink;
        Touch(attrs, parent, dir, Now());
        RETURN_IF_ERROR(FreeInode(txn, attrs, ino, &delta));
        return OkStatus();
      }));
  return OkStatus();
}

Status Meta::Rename(const Context& ctx, Ino parent, std::string_view name, Ino new_parent,
                    std::string_view new_name, RenameFlags flags) {
  RETURN_IF_ERROR(ValidateName(name));
  RETURN_IF_ERROR(ValidateName(new_name));
  const bool exchange = flags == RenameFlags::kExchange;
  const bool no_replace = flags == RenameFlags::kNoReplace;
  if (flags != RenameFlags::kNone && !exchange && !no_replace) {
    return Invalid("unknown rename flags");
  }
  RETURN_IF_ERROR(
      Update(*engine_, *impl_, [&](kv::Txn& txn, AttrCache& attrs, Delta& delta) -> Status {
        ASSIGN_OR_RETURN(Attr * pa, GetDir(attrs, ctx, parent, W_OK | X_OK));
        ASSIGN_OR_RETURN(Attr * npa, GetDir(attrs, ctx, new_parent, W_OK | X_OK));
        ASSIGN_OR_RETURN(auto src, GetEntry(txn, parent, name));
        if (!src) return NotFound("no entry '" + std::string(name) + "'");
        ASSIGN_OR_RETURN(auto dst, GetEntry(txn, new_parent, new_name));
        const Ino src_ino = src->first;
        if (no_replace && dst) return Exists("'" + std::string(new_name) + "' already exists");
        if (dst && dst->first == src_ino) return OkStatus();  // the same file: nothing to do
        if (exchange && !dst)
          return NotFound("no entry '" + std::string(new_name) + "' to exchange");
        ASSIGN_OR_RETURN(Attr * sa, attrs.Get(src_ino));
        Attr* da = nullptr;
        if (dst) {
          ASSIGN_OR_RETURN(da, attrs.Get(dst->first));
        }
        const bool src_dir = sa->type == FileType::kDir;
        const bool dst_dir = da && da->type == FileType::kDir;
        RETURN_IF_ERROR(CheckSticky(ctx, *pa, *sa));
        if (da) RETURN_IF_ERROR(CheckSticky(ctx, *npa, *da));
        if (parent != new_parent) {
          // Moving a directory rewrites its "..", which needs write access to it.
          if (src_dir) RETURN_IF_ERROR(CheckAccess(ctx, *sa, W_OK));
          if (exchange && dst_dir) RETURN_IF_ERROR(CheckAccess(ctx, *da, W_OK));
          if (src_dir) RETURN_IF_ERROR(CheckNotBelow(attrs, src_ino, new_parent));
          if (exchange && dst_dir) RETURN_IF_ERROR(CheckNotBelow(attrs, dst->first, parent));
        }
        Timespec now = Now();
        if (exchange) {
          txn.Put(EntryKey(parent, name), codec::EncodeEntry(dst->first, da->type));
          txn.Put(EntryKey(new_parent, new_name), codec::EncodeEntry(src_ino, sa->type));
          if (parent != new_parent) {
            if (src_dir) {
              sa->parent = new_parent;
              --pa->nlink;
              ++npa->nlink;
            }
            if (dst_dir) {
              da->parent = parent;
              ++pa->nlink;
              --npa->nlink;
            }
          }
          da->ctime = now;
          attrs.MarkDirty(dst->first);
        } else {
          if (da) {
            if (src_dir && !dst_dir)
              return NotDir("'" + std::string(new_name) + "' is not a directory");
            if (!src_dir && dst_dir) return IsDir("'" + std::string(new_name) + "' is a directory");
            if (dst_dir) {
              ASSIGN_OR_RETURN(bool empty, DirIsEmpty(txn, dst->first));
              if (!empty) return NotEmpty("'" + std::string(new_name) + "' is not empty");
              --npa->nlink;
              RETURN_IF_ERROR(FreeInode(txn, attrs, dst->first, &delta));
            } else {
              RETURN_IF_ERROR(DropLink(txn, attrs, *impl_, dst->first, da, now, &delta));
            }
            da = nullptr;  // may have been freed
          }
          if (src_dir && parent != new_parent && npa->nlink >= kMaxLinks) {
            return Status(Code::kTooManyLinks, "the target directory has too many subdirectories");
          }
          txn.Delete(EntryKey(parent, name));
          txn.Put(EntryKey(new_parent, new_name), codec::EncodeEntry(src_ino, sa->type));
          if (src_dir && parent != new_parent) {
            sa->parent = new_parent;
            --pa->nlink;
            ++npa->nlink;
          }
        }
        sa->ctime = now;
        attrs.MarkDirty(src_ino);
        Touch(attrs, parent, pa, now);
        Touch(attrs, new_parent, npa, now);
        return OkStatus();
      }));
  return OkStatus();
}

Result<Entry> Meta::Link(const Context& ctx, Ino ino, Ino new_parent, std::string_view new_name) {
  RETURN_IF_ERROR(ValidateName(new_name));
  Entry e;
  RETURN_IF_ERROR(Update(*engine_, *impl_, [&](kv::Txn& txn, AttrCache& attrs, Delta&) -> Status {
    ASSIGN_OR_RETURN(Attr * a, attrs.Get(ino));
    if (a->type == FileType::kDir) return NotPermitted("cannot hard-link a directory");
    if (a->nlink == 0) return NotFound("the file was removed");
    ASSIGN_OR_RETURN(Attr * dir, GetDir(attrs, ctx, new_parent, W_OK | X_OK));
    ASSIGN_OR_RETURN(auto existing, GetEntry(txn, new_parent, new_name));
    if (existing) return Exists("'" + std::string(new_name) + "' already exists");
    if (a->nlink >= kMaxLinks) return Status(Code::kTooManyLinks, "the file has too many links");
    Timespec now = Now();
    ++a->nlink;
    a->ctime = now;
    attrs.MarkDirty(ino);
    txn.Put(EntryKey(new_parent, new_name), codec::EncodeEntry(ino, a->type));
    Touch(attrs, new_parent, dir, now);
    e = {ino, *a};
    return OkStatus();
  }));
  return e;
}

Result<std::vector<DirEntry>> Meta::Readdir(const Context& ctx, Ino dir, bool with_attr) {
  std::vector<DirEntry> out;
  RETURN_IF_ERROR(engine_->View([&](kv::Txn& txn) -> Status {
    out.clear();
    AttrCache attrs(txn);
    RETURN_IF_ERROR(GetDir(attrs, ctx, dir, R_OK));
    Status bad;
    std::string prefix = codec::EntryPrefix(dir);
    RETURN_IF_ERROR(txn.Scan(
        prefix, kv::PrefixEnd(prefix), 0, false, [&](std::string_view k, std::string_view v) {
          auto name = codec::EntryName(k);
          auto entry = codec::DecodeEntry(v);
          if (!name || !entry) {
            bad = Corrupt("a directory entry of inode " + std::to_string(dir) + " does not decode");
            return false;
          }
          out.push_back({std::string(*name), entry->first, entry->second, {}});
          return true;
        }));
    RETURN_IF_ERROR(bad);
    if (!with_attr || out.empty()) return OkStatus();
    std::vector<std::string> keys;
    keys.reserve(out.size());
    for (const auto& d : out) keys.push_back(AttrKey(d.ino));
    ASSIGN_OR_RETURN(auto values, txn.BatchGet(keys));
    for (size_t i = 0; i < out.size(); ++i) {
      if (!values[i]) continue;  // removed meanwhile by a racing writer: no attributes
      ASSIGN_OR_RETURN(out[i].attr, codec::DecodeAttr(*values[i]));
    }
    return OkStatus();
  }));
  return out;
}

// --- xattrs ---

namespace {

enum class XattrAccess { kRead, kWrite };

// Linux's rules by namespace: trusted.* is root's; user.* follows the file's
// permission bits and exists only on regular files and directories.
Status CheckXattr(const Context& ctx, const Attr& a, std::string_view name, XattrAccess access) {
  if (name.empty()) return Invalid("empty xattr name");
  if (name.size() > kMaxXattrName) return Status(Code::kRange, "xattr name too long");
  // ACLs that would be stored but not enforced would mislead: refuse them,
  // as a file system mounted without ACL support does.
  if (name.starts_with("system.posix_acl_")) {
    return Unsupported("POSIX ACLs are not supported; use the mode bits");
  }
  if (name.starts_with("trusted.") && !ctx.IsRoot()) {
    return NotPermitted("trusted.* attributes are root's");
  }
  if (name.starts_with("user.")) {
    if (a.type != FileType::kFile && a.type != FileType::kDir) {
      return access == XattrAccess::kRead ? Status(Code::kNoData, "no such attribute")
                                          : NotPermitted("user.* attributes need a file or dir");
    }
    if (access == XattrAccess::kWrite && (a.mode & S_ISVTX) && a.type == FileType::kDir &&
        !ctx.IsRoot() && ctx.uid() != a.uid) {
      return NotPermitted("sticky directory: only its owner may change its attributes");
    }
    return CheckAccess(ctx, a, access == XattrAccess::kRead ? R_OK : W_OK);
  }
  if (access == XattrAccess::kWrite && !ctx.IsRoot() && ctx.uid() != a.uid) {
    return NotPermitted("only the owner may change this attribute");
  }
  return OkStatus();
}

}  // namespace

Result<std::string> Meta::GetXattr(const Context& ctx, Ino ino, std::string_view name) {
  std::string value;
  RETURN_IF_ERROR(engine_->View([&](kv::Txn& txn) -> Status {
    AttrCache attrs(txn);
    ASSIGN_OR_RETURN(Attr * a, attrs.Get(ino));
    RETURN_IF_ERROR(CheckXattr(ctx, *a, name, XattrAccess::kRead));
    ASSIGN_OR_RETURN(auto v, txn.Get(codec::XattrKey(ino, name)));
    if (!v) return Status(Code::kNoData, "no attribute '" + std::string(name) + "'");
    value = std::move(*v);
    return OkStatus();
  }));
  return value;
}

Result<std::vector<std::string>> Meta::ListXattr(const Context& ctx, Ino ino) {
  std::vector<std::string> names;
  RETURN_IF_ERROR(engine_->View([&](kv::Txn& txn) -> Status {
    names.clear();
    AttrCache attrs(txn);
    RETURN_IF_ERROR(attrs.Get(ino));
    std::string prefix = codec::XattrPrefix(ino);
    return txn.Scan(prefix, kv::PrefixEnd(prefix), 0, true,
                    [&](std::string_view k, std::string_view) {
                      auto name = codec::XattrName(k);
                      if (name && (ctx.IsRoot() || !name->starts_with("trusted."))) {
                        names.emplace_back(*name);
                      }
                      return true;
                    });
  }));
  return names;
}

Status Meta::SetXattr(const Context& ctx, Ino ino, std::string_view name, std::string_view value,
                      XattrFlags flags) {
  if (value.size() > kMaxXattrValue) {
    return Status(Code::kNoSpace, "xattr value larger than " + std::to_string(kMaxXattrValue));
  }
  return Update(*engine_, *impl_, [&](kv::Txn& txn, AttrCache& attrs, Delta&) -> Status {
    ASSIGN_OR_RETURN(Attr * a, attrs.Get(ino));
    RETURN_IF_ERROR(CheckXattr(ctx, *a, name, XattrAccess::kWrite));
    ASSIGN_OR_RETURN(auto old, txn.Get(codec::XattrKey(ino, name)));
    if (old && flags == XattrFlags::kCreate) return Exists("attribute exists");
    if (!old && flags == XattrFlags::kReplace) return Status(Code::kNoData, "no such attribute");
    txn.Put(codec::XattrKey(ino, name), value);
    a->ctime = Now();
    attrs.MarkDirty(ino);
    return OkStatus();
  });
}

Status Meta::RemoveXattr(const Context& ctx, Ino ino, std::string_view name) {
  return Update(*engine_, *impl_, [&](kv::Txn& txn, AttrCache& attrs, Delta&) -> Status {
    ASSIGN_OR_RETURN(Attr * a, attrs.Get(ino));
    RETURN_IF_ERROR(CheckXattr(ctx, *a, name, XattrAccess::kWrite));
    ASSIGN_OR_RETURN(auto old, txn.Get(codec::XattrKey(ino, name)));
    if (!old) return Status(Code::kNoData, "no attribute '" + std::string(name) + "'");
    txn.Delete(codec::XattrKey(ino, name));
    a->ctime = Now();
    attrs.MarkDirty(ino);
    return OkStatus();
  });
}

}  // namespace shoal::meta
