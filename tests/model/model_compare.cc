#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model_run.h"

namespace shoal::model {

namespace {

constexpr size_t kReadPiece = 1u << 20;  // how the tree comparison reads files
constexpr size_t kMaxDiffs = 12;         // tree differences listed before giving up

std::string ReadRealFile(int dirfd, const std::string& name) {
  int fd = openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return "";
  std::string out;
  char buf[1 << 16];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------
// Comparison.

std::string ModelRun::CompareOutcomes(const Op& op, const Outcome& real, const Outcome& shoal) {
  if (real.err != shoal.err)
    return fmt::format("errno differs: real {}, shoal {}", ErrName(real.err), ErrName(shoal.err));
  if (real.err != 0) return "";
  if (real.count != shoal.count)
    return fmt::format("bytes written differ: real {}, shoal {}", real.count.value_or(0),
                       shoal.count.value_or(0));
  if (real.data.has_value() != shoal.data.has_value())
    return fmt::format("only {} returned data", real.data ? "real" : "shoal");
  if (real.data) {
    std::string d = DescribeDataDiff(*real.data, *shoal.data);
    if (!d.empty()) return "data differs: " + d;
  }
  if (real.attrs.has_value() != shoal.attrs.has_value())
    return fmt::format("only {} replied with attributes", real.attrs ? "real" : "shoal");
  if (real.attrs) {
    bool times = op.kind == Kind::kUtimens;
    std::string d = DiffAttrs(*real.attrs, *shoal.attrs, times && !op.atime_now && !op.atime_omit,
                              times && !op.mtime_now);
    if (!d.empty()) return "attributes differ (real vs shoal): " + d;
  }
  return "";
}

// Reads through a handle the run already holds when there is one: opening
// and releasing another would commit buffered writes, so that comparing
// often would change what the run exercises.
Result<std::string> ModelRun::ShoalContent(Ino ino) {
  std::optional<uint64_t> fh;
  for (const Handle& h : handles_)
    if (h.ino == ino) fh = h.fh;
  bool opened = !fh;
  if (opened) {
    ASSIGN_OR_RETURN(vfs::OpenResult r, vfs_->Open(ctx_, ino, O_RDONLY));
    fh = r.fh;
  }
  std::string content;
  Status st;
  for (;;) {
    std::string piece;
    st = vfs_->Read(ctx_, ino, *fh, content.size(), kReadPiece, &piece);
    if (!st.ok()) break;
    content += piece;
    if (piece.size() < kReadPiece) break;
  }
  if (opened) {
    Status released = vfs_->Release(ino, *fh);
    if (st.ok()) st = released;
  }
  RETURN_IF_ERROR(st);
  return content;
}

std::string ModelRun::CompareXattrs(const std::string& rel, Ino ino) {
  std::map<std::string, std::string> real;
  std::string path = RealPath(rel);
  std::string names(4096, '\0');
  ssize_t n = llistxattr(path.c_str(), names.data(), names.size());
  for (size_t i = 0; n > 0 && i < static_cast<size_t>(n);) {
    std::string name(names.c_str() + i);
    i += name.size() + 1;
    if (name.rfind("user.", 0) != 0) continue;
    std::string value(meta::kMaxXattrValue, '\0');
    ssize_t m = lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
    if (m >= 0) real[name] = value.substr(0, static_cast<size_t>(m));
  }
  std::map<std::string, std::string> shoal;
  Result<std::vector<std::string>> listed = vfs_->ListXattr(ctx_, ino);
  if (!listed) return "listxattr failed: " + listed.error().ToString();
  for (const std::string& name : *listed) {
    Result<std::string> value = vfs_->GetXattr(ctx_, ino, name);
    if (!value) return fmt::format("getxattr {} failed: {}", name, value.error().ToString());
    shoal[name] = *value;
  }
  if (real == shoal) return "";
  std::string real_text, shoal_text;
  for (const auto& [k, v] : real) real_text += fmt::format(" {}={}", k, Hex(v));
  for (const auto& [k, v] : shoal) shoal_text += fmt::format(" {}={}", k, Hex(v));
  return fmt::format("xattrs differ: real{{{} }} shoal{{{} }}", real_text, shoal_text);
}

void ModelRun::CompareNode(const std::string& rel, int dirfd, const std::string& name, Ino ino,
                           const std::optional<Attr>& listed, std::vector<std::string>* diffs) {
  auto diff = [&](std::string what) { diffs->push_back(fmt::format("{}: {}", Quote(rel), what)); };
  struct stat st;
  if (fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    diff(fmt::format("lstat failed on the real side: {}", std::strerror(errno)));
    return;
  }
  Result<Attr> attr = vfs_->GetAttr(ctx_, ino);
  if (!attr) {
    diff("getattr failed: " + attr.error().ToString());
    return;
  }
  Attrs real = FromStat(st);
  Attrs shoal = FromShoal(*attr);
  auto it = explicit_mtime_.find(st.st_ino);
  bool mtime = it != explicit_mtime_.end() && it->second == real.mtime;
  std::string d = DiffAttrs(real, shoal, false, mtime);
  if (!d.empty()) diff("attributes differ (real vs shoal): " + d);
  if (listed) {
    std::string dl = DiffAttrs(FromShoal(*attr), FromShoal(*listed), false, false);
    if (!dl.empty()) diff("readdirplus attributes differ from getattr (getattr vs listed): " + dl);
  }
  std::string dx = CompareXattrs(rel, ino);
  if (!dx.empty()) diff(dx);
  if (real.type != shoal.type) return;

  if (S_ISREG(st.st_mode)) {
    std::string real_data = ReadRealFile(dirfd, name);
    Result<std::string> shoal_data = ShoalContent(ino);
    if (!shoal_data) {
      diff("reading through shoal failed: " + shoal_data.error().ToString());
    } else {
      std::string dd = DescribeDataDiff(real_data, *shoal_data);
      if (!dd.empty()) diff("contents differ: " + dd);
    }
  } else if (S_ISLNK(st.st_mode)) {
    std::string buf(4096, '\0');
    ssize_t n = readlinkat(dirfd, name.c_str(), buf.data(), buf.size());
    buf.resize(n > 0 ? static_cast<size_t>(n) : 0);
    Result<std::string> target = vfs_->Readlink(ctx_, ino);
    if (!target)
      diff("readlink failed: " + target.error().ToString());
    else if (*target != buf)
      diff(fmt::format("symlink target {} vs {}", Quote(buf), Quote(*target)));
  } else if (S_ISDIR(st.st_mode)) {
    int child = openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (child < 0) {
      diff(fmt::format("open on the real side failed: {}", std::strerror(errno)));
      return;
    }
    CompareDir(rel, child, ino, diffs);
    close(child);
  }
}

void ModelRun::CompareDir(const std::string& rel, int dirfd, Ino ino,
                          std::vector<std::string>* diffs) {
  if (diffs->size() >= kMaxDiffs) return;
  auto diff = [&](std::string what) {
    diffs->push_back(fmt::format("{}: {}", Quote(rel.empty() ? "/" : rel), what));
  };
  std::vector<std::string> real_names;
  {
    int fd = dup(dirfd);
    DIR* d = fdopendir(fd);
    if (!d) {
      close(fd);
      diff("cannot list the real directory");
      return;
    }
    rewinddir(d);  // the duplicate shares its offset with dirfd
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") real_names.push_back(n);
    }
    closedir(d);
    std::sort(real_names.begin(), real_names.end());
  }

  bool plus = (compare_count_++ % 2) == 1;
  std::map<std::string, vfs::DirItem> items;
  int dots = 0;
  Result<uint64_t> dh = vfs_->OpenDir(ctx_, ino);
  if (!dh) {
    diff("opendir failed: " + dh.error().ToString());
    return;
  }
  uint64_t offset = 0;
  for (int round = 0;; ++round) {
    if (round > 10000) {
      diff("readdir does not end");
      break;
    }
    Result<std::vector<vfs::DirItem>> page = vfs_->ReadDir(ctx_, ino, *dh, offset, plus);
    if (!page) {
      diff("readdir failed: " + page.error().ToString());
      break;
    }
    if (page->empty()) break;
    for (vfs::DirItem& item : *page) {
      if (item.name == "." || item.name == "..") {
        ++dots;
        continue;
      }
      if (items.count(item.name)) diff(fmt::format("readdir lists {} twice", Quote(item.name)));
      std::string n = item.name;
      items.emplace(n, std::move(item));
    }
    offset = page->back().next_offset;
  }
  Status released = vfs_->ReleaseDir(ino, *dh);
  if (!released.ok()) diff("releasedir failed: " + released.ToString());
  if (dots != 2) diff(fmt::format("readdir listed {} of \".\" and \"..\", not 2", dots));

  for (const std::string& n : real_names)
    if (!items.count(n)) diff(fmt::format("{} is missing from shoal", Quote(n)));
  for (const auto& [n, item] : items)
    if (!std::binary_search(real_names.begin(), real_names.end(), n))
      diff(fmt::format("{} exists only in shoal (ino {})", Quote(n), item.ino));

  for (const std::string& n : real_names) {
    if (diffs->size() >= kMaxDiffs) return;
    auto it = items.find(n);
    if (it == items.end()) continue;
    std::string child_rel = rel.empty() ? n : rel + "/" + n;
    Result<Entry> looked = vfs_->Lookup(ctx_, ino, n);
    if (!looked) {
      diffs->push_back(fmt::format("{}: listed but lookup fails: {}", Quote(child_rel),
                                   looked.error().ToString()));
      continue;
    }
    if (looked->ino != it->second.ino)
      diffs->push_back(fmt::format("{}: readdir says ino {}, lookup says {}", Quote(child_rel),
                                   it->second.ino, looked->ino));
    CompareNode(child_rel, dirfd, n, it->second.ino, it->second.attr, diffs);
  }
}

// "" when the trees are the same. Also checks that names of one inode on
// one side are names of one inode on the other (hard links), and the
// attributes seen through every open handle.
std::string ModelRun::CompareTrees() {
  std::vector<std::string> diffs;
  struct stat st;
  Result<Attr> root = vfs_->GetAttr(ctx_, meta::kRootIno);
  if (fstat(real_fd_, &st) != 0 || !root) {
    diffs.push_back("cannot stat the roots");
  } else {
    std::string d = DiffAttrs(FromStat(st), FromShoal(*root), false, false);
    if (!d.empty()) diffs.push_back("root: attributes differ (real vs shoal): " + d);
    CompareDir("", real_fd_, meta::kRootIno, &diffs);
  }

  // Hard-link identity, from a fresh walk of both trees.
  std::map<ino_t, Ino> real_to_shoal;
  std::map<Ino, ino_t> shoal_to_real;
  std::function<void(int, Ino, const std::string&)> walk = [&](int dirfd, Ino dir,
                                                               const std::string& rel) {
    Result<std::vector<meta::DirEntry>> entries = vfs_->meta().Readdir(ctx_, dir, false);
    if (!entries) return;
    for (const meta::DirEntry& e : *entries) {
      struct stat cst;
      if (fstatat(dirfd, e.name.c_str(), &cst, AT_SYMLINK_NOFOLLOW) != 0) continue;
      std::string child_rel = rel.empty() ? e.name : rel + "/" + e.name;
      auto [r, r_new] = real_to_shoal.emplace(cst.st_ino, e.ino);
      auto [s, s_new] = shoal_to_real.emplace(e.ino, cst.st_ino);
      if (r->second != e.ino || s->second != cst.st_ino)
        diffs.push_back(
            fmt::format("{}: hard links differ: real inode {} is shoal {} elsewhere, "
                        "shoal inode {} is real {} elsewhere",
                        Quote(child_rel), cst.st_ino, r->second, e.ino, s->second));
      if (S_ISDIR(cst.st_mode) && e.type == FileType::kDir) {
        int child = openat(dirfd, e.name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (child >= 0) {
          walk(child, e.ino, child_rel);
          close(child);
        }
      }
    }
  };
  walk(real_fd_, meta::kRootIno, "");

  for (size_t i = 0; i < handles_.size(); ++i) {
    const Handle& h = handles_[i];
    Result<Attr> attr = vfs_->GetAttr(ctx_, h.ino);
    if (fstat(h.fd, &st) != 0) continue;
    if (!attr) {
      diffs.push_back(fmt::format("open handle h{} (ino {}): getattr failed: {}", i, h.ino,
                                  attr.error().ToString()));
      continue;
    }
    std::string d = DiffAttrs(FromStat(st), FromShoal(*attr), false, false);
    if (!d.empty())
      diffs.push_back(
          fmt::format("open handle h{} (ino {}, opened as {}): attributes differ "
                      "(real vs shoal): {}",
                      i, h.ino, Quote(h.opened_as), d));
  }

  std::string out;
  for (size_t i = 0; i < diffs.size() && i < kMaxDiffs; ++i) out += "\n    " + diffs[i];
  return out;
}

// Closes every handle on both sides; "" when both sides agreed.
std::string ModelRun::CloseAll() {
  std::string out;
  for (size_t i = 0; i < handles_.size(); ++i) {
    Handle& h = handles_[i];
    Outcome real = FromSyscall(close(h.fd));
    h.fd = -1;
    Status flushed = vfs_->Flush(ctx_, h.ino, h.fh, h.fh);
    Status released = vfs_->Release(h.ino, h.fh);
    Outcome shoal = FromStatus(flushed.ok() ? released : flushed);
    if (real.err != shoal.err)
      out += fmt::format("\n    close h{} (ino {}): real {}, shoal {}", i, h.ino, OutcomeText(real),
                         OutcomeText(shoal));
  }
  handles_.clear();
  return out;
}

}  // namespace shoal::model
