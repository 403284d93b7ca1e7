// fsck: one scan of the key space into compact tables, checks over the
// tables, then repairs (each its own transaction, re-checking first).
//
// The scan visits keys in order (A, C, D, F, G, H, K, P, S, U, X, Y), so
// that when a directory entry or a chunk is seen, every inode is already
// known. Holder and lock keys come before the session records they name:
// they are kept aside and judged after the scan.
#include "meta/fsck.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "meta/codec.h"
#include "meta/internal.h"

namespace shoal::meta {

std::string_view FsckKindName(FsckKind kind) {
  switch (kind) {
    case FsckKind::kUndecodable:
      return "undecodable";
    case FsckKind::kUnknownKey:
      return "unknown_key";
    case FsckKind::kMissingRoot:
      return "missing_root";
    case FsckKind::kDanglingEntry:
      return "dangling_entry";
    case FsckKind::kBadEntry:
      return "bad_entry";
    case FsckKind::kEntryType:
      return "entry_type";
    case FsckKind::kNlink:
      return "nlink";
    case FsckKind::kDirNlink:
      return "dir_nlink";
    case FsckKind::kDirLinks:
      return "dir_links";
    case FsckKind::kDirParent:
      return "dir_parent";
    case FsckKind::kDirLoop:
      return "dir_loop";
    case FsckKind::kOrphan:
      return "orphan";
    case FsckKind::kDanglingKey:
      return "dangling_key";
    case FsckKind::kBadChunk:
      return "bad_chunk";
    case FsckKind::kMissingTarget:
      return "missing_target";
    case FsckKind::kSharedSlice:
      return "shared_slice";
    case FsckKind::kQueuedInUse:
      return "queued_in_use";
    case FsckKind::kCounter:
      return "counter";
    case FsckKind::kUsage:
      return "usage";
    case FsckKind::kStaleSession:
      return "stale_session";
    case FsckKind::kStaleHolder:
      return "stale_holder";
    case FsckKind::kStaleLock:
      return "stale_lock";
    case FsckKind::kMissingObject:
      return "missing_object";
    case FsckKind::kDamagedObject:
      return "damaged_object";
    case FsckKind::kLeakedObject:
      return "leaked_object";
  }
  return "unknown";
}

void FsckReport::Add(FsckProblem p) {
  FsckTally& t = by_kind[static_cast<int>(p.kind)];
  if (p.severity == FsckSeverity::kError) {
    ++t.errors;
    if (!p.repaired) ++t.open_errors;
  } else {
    ++t.warnings;
  }
  if (p.repaired) ++t.repaired;
  if (max_problems == 0 || problems.size() < max_problems) {
    problems.push_back(std::move(p));
  } else {
    ++problems_omitted;
  }
}

FsckTally FsckReport::Total() const {
  FsckTally total;
  for (const FsckTally& t : by_kind) {
    total.errors += t.errors;
    total.warnings += t.warnings;
    total.repaired += t.repaired;
    total.open_errors += t.open_errors;
  }
  return total;
}

bool FsckReport::Clean() const {
  FsckTally t = Total();
  return t.errors == 0 && t.warnings == 0;
}

Result<std::unordered_map<Ino, std::string>> FsckPaths(kv::Engine& engine,
                                                       const std::unordered_set<Ino>& inos) {
  // Where each directory, and each wanted inode, is named: (parent, name).
  std::unordered_map<Ino, std::pair<Ino, std::string>> names;
  RETURN_IF_ERROR(engine.View([&](kv::Txn& txn) -> Status {
    names.clear();
    return txn.Scan("D", kv::PrefixEnd("D"), 0, false, [&](std::string_view k, std::string_view v) {
      auto parent = codec::InoOfKey(k);
      auto name = codec::EntryName(k);
      auto entry = codec::DecodeEntry(v);
      if (!parent || !name || !entry) return true;  // fsck reports these
      auto [ino, type] = *entry;
      if (type == FileType::kDir || inos.contains(ino)) {
        names.try_emplace(ino, *parent, std::string(*name));
      }
      return true;
    });
  }));
  // A tree deeper than this is treated as broken (the walk also stops at a loop).
  constexpr int kMaxDepth = 4096;
  std::unordered_map<Ino, std::string> out;
  for (Ino ino : inos) {
    if (ino == kRootIno) {
      out[ino] = "/";
      continue;
    }
    std::vector<std::string_view> parts;
    Ino x = ino;
    bool reached = false;
    for (int depth = 0; depth < kMaxDepth; ++depth) {
      if (x == kRootIno) {
        reached = true;
        break;
      }
      auto it = names.find(x);
      if (it == names.end()) break;
      parts.push_back(it->second.second);
      x = it->second.first;
    }
    if (!reached) continue;
    std::string path;
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
      path += '/';
      path += *it;
    }
    out[ino] = std::move(path);
  }
  return out;
}

namespace {

// Keys scanned between two progress calls.
constexpr uint64_t kProgressEvery = 4096;

std::string InoText(Ino ino) { return "inode " + std::to_string(ino); }

std::string EntryText(Ino parent, std::string_view name) {
  return "entry '" + std::string(name) + "' in directory " + std::to_string(parent);
}

std::string_view TypeName(FileType t) {
  switch (t) {
    case FileType::kFile:
      return "file";
    case FileType::kDir:
      return "directory";
    case FileType::kSymlink:
      return "symlink";
    case FileType::kFifo:
      return "fifo";
    case FileType::kCharDev:
      return "char device";
    case FileType::kBlockDev:
      return "block device";
    case FileType::kSocket:
      return "socket";
  }
  return "?";
}

// What the scan keeps of an inode.
struct InodeInfo {
  Ino ino = 0;
  Ino parent = 0;
  uint64_t length = 0;
  uint32_t nlink = 0;
  uint32_t entries = 0;   // valid entries that name it
  uint32_t subdirs = 0;   // a directory's valid entries that name directories
  uint32_t children = 0;  // a directory's valid entries
  Ino entry_dir = 0;      // the directory of the first valid entry naming it
  FileType type = FileType::kFile;
  bool has_target = false;  // a symlink's "Y" key was seen
  bool held = false;        // an "H" key of an existing session names it
  uint8_t walk = 0;         // parent-chain check: 0 new, 1 on the path, 2 reaches root, 3 not
};

// What a repair found when it ran.
struct Outcome {
  bool repaired = false;
  std::string note;
};
inline Outcome Done(std::string note) { return {true, std::move(note)}; }
inline Outcome Gone() {
  return {true, "no longer present (changed meanwhile, or resolved by an earlier repair)"};
}
inline Outcome Skipped(std::string why) { return {false, std::move(why)}; }

using RepairFn = std::function<Result<Outcome>()>;

// A problem found, with how to repair it.
struct Finding {
  FsckProblem problem;
  int phase = 0;    // repairs run in phase order (see Repair)
  RepairFn repair;  // empty: not repairable
  std::string why_not;
  // An inode that must not be freed as an orphan when this repair fails.
  Ino protects = 0;
};

// Repair phases: sessions first (their clean-up releases holds and locks),
// then records of missing sessions, then entries, then keys of missing
// inodes, then link counts and parent fields, then loops (which the parent
// repairs may have broken), then orphans (whose verdict depends on all of the
// above), then the id counters, and the usage recount last.
enum Phase : int {
  kPhaseSessions = 0,
  kPhaseHolders = 1,
  kPhaseEntries = 2,
  kPhaseKeys = 3,
  kPhaseLinks = 4,
  kPhaseLoops = 5,
  kPhaseOrphans = 6,
  kPhaseCounters = 7,
  kPhaseUsage = 8,
};

// Reads and decodes an inode inside a transaction; nullopt when absent.
Result<std::optional<Attr>> ReadAttr(kv::Txn& txn, Ino ino) {
  ASSIGN_OR_RETURN(auto v, txn.Get(codec::AttrKey(ino)));
  if (!v) return std::optional<Attr>();
  ASSIGN_OR_RETURN(Attr a, codec::DecodeAttr(*v));
  return std::optional<Attr>(a);
}

// Rewrites a directory's attributes with new times: the guard that scanners
// of its entries read (docs/format.md, "Transactions and guard keys").
Status TouchDir(kv::Txn& txn, Ino dir) {
  ASSIGN_OR_RETURN(auto v, txn.Get(codec::AttrKey(dir)));
  if (!v) return OkStatus();
  auto a = codec::DecodeAttr(*v);
  if (!a || a->type != FileType::kDir) return OkStatus();
  a->mtime = a->ctime = Now();
  txn.Put(codec::AttrKey(dir), codec::EncodeAttr(*a));
  return OkStatus();
}

// Whether a session that still exists holds `ino` open (guard keys aside).
Result<bool> HeldByLiveSession(kv::Txn& txn, Ino ino) {
  std::vector<uint64_t> sessions;
  std::string prefix = codec::HolderPrefix(ino);
  RETURN_IF_ERROR(
      txn.Scan(prefix, kv::PrefixEnd(prefix), 0, true, [&](std::string_view k, std::string_view) {
        auto h = codec::DecodeHolderKey(k);
        if (h && h->second != kHolderGuard) sessions.push_back(h->second);
        return true;
      }));
  for (uint64_t s : sessions) {
    ASSIGN_OR_RETURN(auto u, txn.Get(codec::SessionKey(s)));
    if (u) return true;
  }
  return false;
}

class Checker {
 public:
  Checker(std::shared_ptr<kv::Engine> engine, const FsckOptions& options,
          const FsckProgress& progress)
      : engine_(std::move(engine)), options_(options), progress_(progress) {
    impl_.shared = !engine_->Exclusive();
  }

  Result<FsckReport> Run() {
    ASSIGN_OR_RETURN(report_.volume, Meta::Load(*engine_));
    report_.repair = options_.repair;
    report_.exclusive = engine_->Exclusive();
    report_.max_problems = options_.max_problems;
    RETURN_IF_ERROR(engine_->View([&](kv::Txn& txn) { return Scan(txn); }));
    JudgeSessions();
    JudgeHolders();
    JudgeLocks();
    JudgeInodes();
    JudgeParentChains();
    JudgeSlices();
    JudgeCounters();
    RETURN_IF_ERROR(FillPaths());
    if (options_.repair) RETURN_IF_ERROR(Repair());
    for (Finding& f : findings_) report_.Add(std::move(f.problem));
    report_.slices = std::move(refs_);
    report_.pending = std::move(pending_);
    return std::move(report_);
  }

 private:
  // --- the scan ---

  void Reset() {
    report_.counts = {};
    report_.sessions.clear();
    findings_.clear();
    inodes_.clear();
    corrupt_inodes_.clear();
    counters_.clear();
    holders_.clear();
    locks_.clear();
    refs_.clear();
    pending_.clear();
    session_ids_.clear();
    max_ino_ = 0;
    max_slice_ = 0;
    max_session_ = 0;
  }

  Status Scan(kv::Txn& txn) {
    Reset();  // the engine may run this more than once
    Status bad;
    RETURN_IF_ERROR(txn.Scan("", "", 0, false, [&](std::string_view k, std::string_view v) {
      uint64_t n = ++report_.counts.keys;
      if (progress_ && n % kProgressEvery == 0) progress_("metadata", n, 0);
      Status s = OnKey(k, v);
      if (!s.ok()) {
        bad = s;
        return false;
      }
      return true;
    }));
    if (progress_) progress_("metadata", report_.counts.keys, report_.counts.keys);
    return bad;
  }

  Status OnKey(std::string_view k, std::string_view v) {
    switch (k.empty() ? '\0' : k[0]) {
      case 'A':
        OnAttr(k, v);
        return OkStatus();
      case 'C':
        OnCounter(k, v);
        return OkStatus();
      case 'D':
        OnEntry(k, v);
        return OkStatus();
      case 'F':
      case 'P':
        OnLock(k, v);
        return OkStatus();
      case 'G':
        OnQueued(k);
        return OkStatus();
      case 'H':
        OnHolder(k);
        return OkStatus();
      case 'K':
        OnChunk(k, v);
        return OkStatus();
      case 'S':
        if (k.size() == 1) return OkStatus();  // the volume record, read by Meta::Load
        break;
      case 'U':
        OnSession(k, v);
        return OkStatus();
      case 'X':
        OnXattr(k);
        return OkStatus();
      case 'Y':
        OnSymlink(k, v);
        return OkStatus();
      default:
        break;
    }
    Add(FsckKind::kUnknownKey, 0, "key " + Printable(k),
        "a key of a kind the format does not define", FsckSeverity::kWarning)
        .why_not = "left alone: it may belong to a newer shoal";
    return OkStatus();
  }

  // A key with its non-printable bytes escaped, for messages.
  static std::string Printable(std::string_view k) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : k.substr(0, 64)) {
      if (c >= 0x20 && c < 0x7f && c != '\\') {
        out += static_cast<char>(c);
      } else {
        out += "\\x";
        out += kHex[c >> 4];
        out += kHex[c & 0xf];
      }
    }
    if (k.size() > 64) out += "...";
    return out;
  }

  InodeInfo* Find(Ino ino) {
    auto it = std::lower_bound(inodes_.begin(), inodes_.end(), ino,
                               [](const InodeInfo& i, Ino x) { return i.ino < x; });
    if (it == inodes_.end() || it->ino != ino) return nullptr;
    return &*it;
  }

  void OnAttr(std::string_view k, std::string_view v) {
    auto ino = codec::InoOfKey(k);
    if (!ino || k.size() != 9) {
      Add(FsckKind::kUndecodable, 0, "key " + Printable(k), "an inode key of the wrong length")
          .why_not = "needs a look by hand";
      return;
    }
    max_ino_ = std::max(max_ino_, *ino);
    auto a = codec::DecodeAttr(v);
    if (!a) {
      corrupt_inodes_.insert(*ino);
      Add(FsckKind::kUndecodable, *ino, InoText(*ino), "the inode's attributes do not decode")
          .why_not = "needs a look by hand (its entries and data are left alone)";
      return;
    }
    InodeInfo info;
    info.ino = *ino;
    info.parent = a->parent;
    info.length = a->length;
    info.nlink = a->nlink;
    info.type = a->type;
    inodes_.push_back(info);  // "A" keys come in inode order: the table stays sorted
    FsckCounts& c = report_.counts;
    ++c.inodes;
    switch (a->type) {
      case FileType::kDir:
        ++c.dirs;
        break;
      case FileType::kFile:
        ++c.files;
        c.bytes += a->length;
        break;
      case FileType::kSymlink:
        ++c.symlinks;
        break;
      default:
        ++c.others;
        break;
    }
  }

  void OnCounter(std::string_view k, std::string_view v) {
    std::string name(k.substr(1));
    auto n = codec::DecodeU64(v);
    if (!n) {
      // Repaired like a missing counter (JudgeCounters), when it is one fsck knows.
      Add(FsckKind::kUndecodable, 0, "counter " + name, "the counter's value does not decode")
          .why_not = "see the counter problem, if any";
      return;
    }
    counters_[name] = *n;
  }

  void OnEntry(std::string_view k, std::string_view v) {
    ++report_.counts.entries;
    auto parent = codec::InoOfKey(k);
    auto name_view = codec::EntryName(k);
    auto entry = codec::DecodeEntry(v);
    if (!parent || !name_view || !entry) {
      Add(FsckKind::kUndecodable, 0, "key " + Printable(k), "a directory entry does not decode")
          .why_not = "needs a look by hand";
      return;
    }
    std::string name(*name_view);
    auto [ino, type] = *entry;
    std::string where = EntryText(*parent, name);
    InodeInfo* dir = Find(*parent);
    std::string value(v);
    if (dir == nullptr || dir->type != FileType::kDir) {
      if (corrupt_inodes_.contains(*parent)) return;  // reported with the inode
      std::string what = dir == nullptr
                             ? "its directory " + std::to_string(*parent) + " does not exist"
                             : "it sits in inode " + std::to_string(*parent) + ", which is a " +
                                   std::string(TypeName(dir->type));
      Finding& f =
          Add(FsckKind::kBadEntry, ino, where, what + " (names inode " + std::to_string(ino) + ")");
      f.phase = kPhaseEntries;
      f.protects = ino;
      f.repair = [this, p = *parent, name, value]() {
        return RemoveEntry(p, name, value, 0, true);
      };
      return;
    }
    if (ino == kRootIno) {
      Finding& f = Add(FsckKind::kBadEntry, ino, where, "it names the root directory");
      f.phase = kPhaseEntries;
      f.repair = [this, p = *parent, name, value]() {
        return RemoveEntry(p, name, value, 0, false);
      };
      return;
    }
    InodeInfo* target = Find(ino);
    if (target == nullptr) {
      if (corrupt_inodes_.contains(ino)) return;  // reported with the inode
      Finding& f = Add(FsckKind::kDanglingEntry, ino, where,
                       "it names inode " + std::to_string(ino) + ", which does not exist");
      f.phase = kPhaseEntries;
      f.repair = [this, p = *parent, name, value, ino]() {
        return RemoveEntry(p, name, value, ino, false);
      };
      return;
    }
    ++target->entries;
    ++dir->children;
    if (target->type == FileType::kDir) ++dir->subdirs;
    if (target->entries == 1) target->entry_dir = *parent;
    if (Status s = ValidateName(name); !s.ok()) {
      Add(FsckKind::kBadEntry, ino, where, "its name is not valid: " + s.message()).why_not =
          "rename it by hand";  // removing it would drop a link
    }
    if (type != target->type) {
      Finding& f = Add(FsckKind::kEntryType, ino, where,
                       "the entry says " + std::string(TypeName(type)) + " but inode " +
                           std::to_string(ino) + " is a " + std::string(TypeName(target->type)));
      f.phase = kPhaseEntries;
      f.repair = [this, p = *parent, name, value, ino, want = target->type]() {
        return FixEntryType(p, name, value, ino, want);
      };
    }
  }

  void OnLock(std::string_view k, std::string_view v) {
    bool plock = k[0] == 'P';
    auto ino = codec::InoOfKey(k);
    std::string key(k);
    std::string value(v);
    if (!ino || k.size() != 9) {
      Add(FsckKind::kUndecodable, 0, "key " + Printable(k), "a lock key of the wrong length")
          .why_not = "needs a look by hand";
      return;
    }
    std::string where =
        std::string(plock ? "POSIX locks" : "flocks") + " of inode " + std::to_string(*ino);
    std::vector<uint64_t> sessions;
    bool decoded = false;
    if (plock) {
      if (auto r = codec::DecodePlocks(v)) {
        decoded = true;
        for (const auto& x : *r) sessions.push_back(x.session);
      }
    } else if (auto r = codec::DecodeFlocks(v)) {
      decoded = true;
      for (const auto& x : *r) sessions.push_back(x.session);
    }
    if (!decoded) {
      // Lock records are ephemeral: dropping undecodable ones costs their
      // holders their locks, and unblocks every lock call on the file.
      Finding& f = Add(FsckKind::kUndecodable, *ino, where, "the lock records do not decode");
      f.phase = kPhaseHolders;
      f.repair = [this, key, value]() { return RemoveKeyIfUnchanged(key, value, "dropped"); };
      return;
    }
    ++report_.counts.locks;
    if (Find(*ino) == nullptr && !corrupt_inodes_.contains(*ino)) {
      Finding& f = Add(FsckKind::kDanglingKey, *ino, where, "the inode does not exist");
      f.phase = kPhaseKeys;
      f.repair = [this, key, ino = *ino]() { return RemoveKeyOfMissingInode(key, ino); };
      return;
    }
    locks_.push_back({*ino, plock, std::move(sessions)});
  }

  void OnQueued(std::string_view k) {
    auto g = codec::DeletedSlice(k);
    if (!g) {
      Add(FsckKind::kUndecodable, 0, "key " + Printable(k),
          "a key of the deletion queue does not decode")
          .why_not = "needs a look by hand";
      return;
    }
    ++report_.counts.pending_slices;
    max_slice_ = std::max(max_slice_, g->first);
    pending_.push_back({g->first, g->second, 0, 0});
  }

  void OnHolder(std::string_view k) {
    auto h = codec::DecodeHolderKey(k);
    if (!h) {
      std::string key(k);
      Finding& f = Add(FsckKind::kUndecodable, 0, "key " + Printable(k),
                       "an open-file holder key does not decode");
      f.phase = kPhaseHolders;
      f.repair = [this, key]() { return RemoveKeyIfUnchanged(key, "", "removed"); };
      return;
    }
    auto [ino, session] = *h;
    if (Find(ino) == nullptr && !corrupt_inodes_.contains(ino)) {
      std::string key(k);
      Finding& f = Add(FsckKind::kDanglingKey, ino,
                       session == kHolderGuard ? "open guard of inode " + std::to_string(ino)
                                               : "hold of inode " + std::to_string(ino) +
                                                     " by session " + std::to_string(session),
                       "the inode does not exist");
      f.phase = kPhaseKeys;
      f.repair = [this, key, ino]() { return RemoveKeyOfMissingInode(key, ino); };
      return;
    }
    if (session != kHolderGuard) holders_.emplace_back(ino, session);
  }

  void OnChunk(std::string_view k, std::string_view v) {
    auto ino = codec::InoOfKey(k);
    auto index = codec::ChunkIndex(k);
    if (!ino || !index) {
      Add(FsckKind::kUndecodable, 0, "key " + Printable(k), "a chunk key does not decode").why_not =
          "needs a look by hand";
      return;
    }
    ++report_.counts.chunks;
    std::string where = "chunk " + std::to_string(*index) + " of inode " + std::to_string(*ino);
    std::string key(k);
    InodeInfo* inode = Find(*ino);
    auto slices = DecodeSlices(v);
    if (inode == nullptr || inode->type != FileType::kFile) {
      if (corrupt_inodes_.contains(*ino)) return;
      Finding& f = Add(FsckKind::kDanglingKey, *ino, where,
                       inode == nullptr ? "the inode does not exist"
                                        : "the inode is a " + std::string(TypeName(inode->type)) +
                                              ", not a regular file");
      f.phase = kPhaseKeys;
      f.repair = [this, key, ino = *ino]() { return RemoveKeyOfMissingInode(key, ino); };
      // Its slices still count as referenced until the repair queues them,
      // so that their objects are not reported as leaked meanwhile.
    }
    if (!slices) {
      Add(FsckKind::kBadChunk, *ino, where, "the chunk's slice list does not decode").why_not =
          "needs a look by hand: the file's data in this chunk is unreadable";
      return;
    }
    for (const Slice& s : *slices) {
      std::string bad;
      if (s.End() > kChunkSize) {
        bad = "ends at " + std::to_string(s.End()) + ", past the chunk's 64 MiB";
      } else if (s.id != 0 && s.size > kChunkSize) {
        bad = "stores " + std::to_string(s.size) + " bytes, more than a chunk";
      } else if (s.id != 0 && uint64_t{s.off} + s.len > s.size) {
        bad = "shows bytes " + std::to_string(s.off) + ".." + std::to_string(s.off + s.len) +
              " of a slice of " + std::to_string(s.size);
      }
      if (!bad.empty()) {
        Add(FsckKind::kBadChunk, *ino, where, "slice " + std::to_string(s.id) + " " + bad).why_not =
            "needs a look by hand";
      }
      if (s.id == 0) continue;
      ++report_.counts.slices;
      max_slice_ = std::max(max_slice_, s.id);
      refs_.push_back({s.id, s.size, *index, *ino});
    }
  }

  void OnSession(std::string_view k, std::string_view v) {
    auto id = codec::InoOfKey(k);  // a "U" key is laid out as an inode key: kind, u64
    auto s = codec::DecodeSession(v);
    if (!id || k.size() != 9 || !s) {
      std::string key(k), value(v);
      Finding& f =
          Add(FsckKind::kUndecodable, 0, "key " + Printable(k), "a session record does not decode");
      // An undecodable record makes every session listing fail (and so the
      // clean-up of dead sessions): removing it releases that session's holds.
      f.phase = kPhaseSessions;
      f.repair = [this, key, value]() { return RemoveKeyIfUnchanged(key, value, "removed"); };
      return;
    }
    s->id = *id;
    max_session_ = std::max(max_session_, *id);
    session_ids_.insert(*id);
    report_.sessions.push_back({*s, false});
  }

  void OnXattr(std::string_view k) {
    auto ino = codec::InoOfKey(k);
    if (!ino) {
      Add(FsckKind::kUndecodable, 0, "key " + Printable(k), "an xattr key does not decode")
          .why_not = "needs a look by hand";
      return;
    }
    if (Find(*ino) != nullptr || corrupt_inodes_.contains(*ino)) return;
    std::string key(k);
    auto name = codec::XattrName(k);
    Finding& f =
        Add(FsckKind::kDanglingKey, *ino,
            "xattr '" + std::string(name ? *name : "?") + "' of inode " + std::to_string(*ino),
            "the inode does not exist");
    f.phase = kPhaseKeys;
    f.repair = [this, key, ino = *ino]() { return RemoveKeyOfMissingInode(key, ino); };
  }

  void OnSymlink(std::string_view k, std::string_view v) {
    auto ino = codec::InoOfKey(k);
    if (!ino || k.size() != 9) {
      Add(FsckKind::kUndecodable, 0, "key " + Printable(k), "a symlink key does not decode")
          .why_not = "needs a look by hand";
      return;
    }
    InodeInfo* inode = Find(*ino);
    if (inode != nullptr && inode->type == FileType::kSymlink) {
      inode->has_target = true;
      return;
    }
    if (corrupt_inodes_.contains(*ino)) return;
    std::string key(k);
    Finding& f =
        Add(FsckKind::kDanglingKey, *ino, "symlink target of inode " + std::to_string(*ino),
            inode == nullptr
                ? "the inode does not exist"
                : "the inode is a " + std::string(TypeName(inode->type)) + ", not a symlink");
    f.phase = kPhaseKeys;
    f.repair = [this, key, ino = *ino]() { return RemoveKeyOfMissingInode(key, ino); };
  }

  // --- judgements over the tables ---

  void JudgeSessions() {
    int64_t now = Now().sec;
    for (FsckSession& s : report_.sessions) {
      int64_t age = now - s.info.heartbeat_sec;
      s.stale = report_.exclusive || age >= options_.stale_after_sec;
      if (!s.stale) {
        ++report_.live_sessions;
        continue;
      }
      ++report_.counts.stale_sessions;
      std::string what =
          report_.exclusive
              ? "the engine admits one process at a time, so this session's client is gone"
              : "last heartbeat " + std::to_string(age) + " s ago (threshold " +
                    std::to_string(options_.stale_after_sec) + " s)";
      Finding& f = Add(FsckKind::kStaleSession, 0,
                       "session " + std::to_string(s.info.id) + " (" + s.info.host + " pid " +
                           std::to_string(s.info.pid) + " on " + s.info.mountpoint + ")",
                       what, FsckSeverity::kWarning);
      f.phase = kPhaseSessions;
      f.repair = [this, id = s.info.id]() { return CleanSessions(id); };
    }
    report_.counts.sessions = report_.sessions.size();
  }

  void JudgeHolders() {
    for (auto [ino, session] : holders_) {
      ++report_.counts.holders;
      if (session_ids_.contains(session)) {
        if (InodeInfo* i = Find(ino)) i->held = true;
        continue;
      }
      Finding& f =
          Add(FsckKind::kStaleHolder, ino,
              "hold of inode " + std::to_string(ino) + " by session " + std::to_string(session),
              "session " + std::to_string(session) + " does not exist");
      f.phase = kPhaseHolders;
      f.repair = [this, ino, session]() { return ReleaseStaleHolder(ino, session); };
    }
  }

  void JudgeLocks() {
    for (const LockInfo& l : locks_) {
      std::vector<uint64_t> missing;
      for (uint64_t s : l.sessions) {
        if (!session_ids_.contains(s) &&
            std::find(missing.begin(), missing.end(), s) == missing.end()) {
          missing.push_back(s);
        }
      }
      if (missing.empty()) continue;
      std::string list;
      for (uint64_t s : missing) list += (list.empty() ? "" : ", ") + std::to_string(s);
      Finding& f = Add(
          FsckKind::kStaleLock, l.ino,
          std::string(l.plock ? "POSIX locks" : "flocks") + " of inode " + std::to_string(l.ino),
          "held by session(s) " + list + ", which do not exist");
      f.phase = kPhaseHolders;
      f.repair = [this, ino = l.ino, plock = l.plock]() { return DropStaleLocks(ino, plock); };
    }
  }

  void JudgeInodes() {
    InodeInfo* root = Find(kRootIno);
    if (root == nullptr || root->type != FileType::kDir) {
      Add(FsckKind::kMissingRoot, kRootIno, InoText(kRootIno),
          root == nullptr ? "the root directory does not exist" : "the root is not a directory")
          .why_not = "not repairable by fsck";
    }
    for (InodeInfo& i : inodes_) {
      std::string where = InoText(i.ino);
      if (i.type == FileType::kSymlink && !i.has_target) {
        Add(FsckKind::kMissingTarget, i.ino, where, "a symlink without its target").why_not =
            "remove the link by hand";
      }
      if (i.type == FileType::kDir) {
        JudgeDir(i, where);
        continue;
      }
      if (i.entries == 0) {
        if (i.nlink == 0 && i.held) {
          ++report_.counts.open_unlinked;
          continue;
        }
        std::string what = i.nlink == 0
                               ? "no link and no live session holds it open"
                               : "nlink is " + std::to_string(i.nlink) + " but no entry names it";
        if (i.held) what += "; a live session holds it open";
        Finding& f = Add(
            FsckKind::kOrphan, i.ino, where,
            std::string(TypeName(i.type)) + " of " + std::to_string(i.length) + " bytes: " + what);
        f.phase = kPhaseOrphans;
        f.repair = [this, ino = i.ino, nlink = i.nlink]() { return ResolveOrphan(ino, nlink); };
        continue;
      }
      if (i.nlink != i.entries) {
        Finding& f = Add(FsckKind::kNlink, i.ino, where,
                         "nlink is " + std::to_string(i.nlink) + " but " +
                             std::to_string(i.entries) + " entries name it");
        f.phase = kPhaseLinks;
        f.repair = [this, ino = i.ino, seen = i.nlink, want = i.entries]() {
          return SetNlink(ino, seen, want);
        };
      }
    }
  }

  void JudgeDir(InodeInfo& i, const std::string& where) {
    uint32_t want = 2 + i.subdirs;
    if (i.nlink != want) {
      Finding& f =
          Add(FsckKind::kDirNlink, i.ino, where,
              "nlink is " + std::to_string(i.nlink) + " but it has " + std::to_string(i.subdirs) +
                  " subdirectories (so " + std::to_string(want) + ")");
      f.phase = kPhaseLinks;
      f.repair = [this, ino = i.ino, seen = i.nlink, want]() { return SetNlink(ino, seen, want); };
    }
    if (i.ino == kRootIno) {
      if (i.parent != kRootIno) {
        Finding& f = Add(FsckKind::kDirParent, i.ino, where,
                         "the root's parent field is " + std::to_string(i.parent) + ", not 1");
        f.phase = kPhaseLinks;
        f.repair = [this, seen = i.parent]() { return SetParent(kRootIno, seen, kRootIno); };
      }
      return;
    }
    if (i.entries == 0) {
      Finding& f = Add(FsckKind::kOrphan, i.ino, where,
                       "a directory that no entry names" +
                           (i.children > 0 ? " (it has " + std::to_string(i.children) +
                                                 " entries, unreachable too)"
                                           : std::string()));
      if (i.children > 0) {
        f.why_not =
            "not repaired: it has entries, and fsck attaches nothing to a lost+found directory";
      } else {
        f.phase = kPhaseOrphans;
        f.repair = [this, ino = i.ino, nlink = i.nlink]() { return ResolveOrphan(ino, nlink); };
      }
      return;
    }
    if (i.entries > 1) {
      Add(FsckKind::kDirLinks, i.ino, where,
          "a directory named by " + std::to_string(i.entries) + " entries")
          .why_not = "remove the extra entries by hand (the parent field names the right one)";
    }
    if (i.parent != i.entry_dir && i.entries == 1) {
      Finding& f = Add(FsckKind::kDirParent, i.ino, where,
                       "its parent field names inode " + std::to_string(i.parent) +
                           " but its entry sits in directory " + std::to_string(i.entry_dir));
      f.phase = kPhaseLinks;
      f.repair = [this, ino = i.ino, seen = i.parent, want = i.entry_dir]() {
        return SetParent(ino, seen, want);
      };
    }
  }

  // Follows every directory's parent fields; each directory is visited once.
  // A chain that meets a missing inode or a non-directory is reported
  // elsewhere (orphan or dir_parent); a loop is reported here.
  void JudgeParentChains() {
    if (InodeInfo* root = Find(kRootIno)) root->walk = 2;
    std::vector<InodeInfo*> path;
    for (InodeInfo& start : inodes_) {
      if (start.type != FileType::kDir || start.walk != 0) continue;
      path.clear();
      uint8_t result = 3;
      InodeInfo* x = &start;
      for (;;) {
        if (x == nullptr || x->type != FileType::kDir) break;
        if (x->walk == 2 || x->walk == 3) {
          result = x->walk;
          break;
        }
        if (x->walk == 1) {
          auto from = std::find(path.begin(), path.end(), x);
          std::string cycle;
          for (auto it = from; it != path.end(); ++it) cycle += std::to_string((*it)->ino) + " -> ";
          cycle += std::to_string(x->ino);
          Finding& f = Add(FsckKind::kDirLoop, x->ino, InoText(x->ino),
                           "parent fields form a loop: " + cycle + " (never reaching the root)");
          // Nothing of its own to repair: a wrong parent field (dir_parent)
          // is the usual cause, and its repair comes first.
          f.phase = kPhaseLoops;
          f.repair = [this, ino = x->ino]() { return RecheckLoop(ino); };
          break;
        }
        x->walk = 1;
        path.push_back(x);
        x = Find(x->parent);
      }
      for (InodeInfo* p : path) p->walk = result;
    }
  }

  void JudgeSlices() {
    auto by_id = [](const FsckSliceRef& a, const FsckSliceRef& b) { return a.id < b.id; };
    std::stable_sort(refs_.begin(), refs_.end(), by_id);
    for (size_t i = 1; i < refs_.size(); ++i) {
      const FsckSliceRef& a = refs_[i - 1];
      const FsckSliceRef& b = refs_[i];
      if (a.id != b.id) continue;
      Add(FsckKind::kSharedSlice, b.ino,
          "chunk " + std::to_string(b.chunk) + " of inode " + std::to_string(b.ino),
          "slice " + std::to_string(b.id) + " is also referenced by chunk " +
              std::to_string(a.chunk) + " of inode " + std::to_string(a.ino) +
              ": freeing one frees the other's data")
          .why_not = "copy one of the files by hand";
    }
    for (const FsckSliceRef& g : pending_) {
      auto it = std::lower_bound(refs_.begin(), refs_.end(), g, by_id);
      if (it == refs_.end() || it->id != g.id) continue;
      Finding& f =
          Add(FsckKind::kQueuedInUse, it->ino,
              "chunk " + std::to_string(it->chunk) + " of inode " + std::to_string(it->ino),
              "slice " + std::to_string(g.id) + " is queued for deletion but still referenced");
      f.phase = kPhaseKeys;
      f.repair = [this, g, ref = *it]() { return Unqueue(g, ref); };
    }
  }

  void JudgeCounters() {
    auto check_next = [&](std::string_view name, uint64_t needed, std::string_view what) {
      auto it = counters_.find(std::string(name));
      uint64_t have = it == counters_.end() ? 0 : it->second;
      if (it != counters_.end() && have >= needed) return;
      Finding& f =
          Add(FsckKind::kCounter, 0, "counter " + std::string(name),
              it == counters_.end() ? "missing (should be at least " + std::to_string(needed) + ")"
                                    : "is " + std::to_string(have) + " but " + std::string(what) +
                                          " " + std::to_string(needed - 1) + " is in use");
      f.phase = kPhaseCounters;
      f.repair = [this, name = std::string(name), needed]() { return RaiseCounter(name, needed); };
    };
    check_next(kNextInode, std::max(max_ino_, kRootIno) + 1, "inode");
    check_next(kNextSlice, max_slice_ + 1, "slice");
    check_next(kNextSession, max_session_ + 1, "session");

    // Usage: live clients add their changes about once a second. On an
    // exclusive engine, a session left behind is a client that crashed with
    // changes not yet counted, and the next mount recounts.
    const bool unflushed =
        report_.live_sessions > 0 || (report_.exclusive && !report_.sessions.empty());
    FsckSeverity severity = unflushed ? FsckSeverity::kWarning : FsckSeverity::kError;
    auto check_usage = [&](std::string_view name, uint64_t counted, std::string_view unit) {
      auto it = counters_.find(std::string(name));
      uint64_t have = it == counters_.end() ? 0 : it->second;
      if (it != counters_.end() && have == counted) return;
      int64_t diff = static_cast<int64_t>(have) - static_cast<int64_t>(counted);
      std::string what = it == counters_.end()
                             ? "missing; a recount gives " + std::to_string(counted)
                             : "is " + std::to_string(have) + " but a recount gives " +
                                   std::to_string(counted) + " " + std::string(unit) + " (" +
                                   (diff > 0 ? "+" : "") + std::to_string(diff) + ")";
      if (report_.live_sessions > 0) {
        what += "; live clients may not have stored their latest changes yet";
      } else if (unflushed) {
        what += "; a client that crashed had changes not yet counted (the next mount recounts)";
      }
      Finding& f = Add(FsckKind::kUsage, 0, "counter " + std::string(name), what, severity);
      f.phase = kPhaseUsage;
      f.repair = [this]() { return Recount(); };
    };
    check_usage(kUsedInodes, report_.counts.inodes, "inodes");
    check_usage(kUsedBytes, report_.counts.bytes, "bytes");
  }

  Status FillPaths() {
    std::unordered_set<Ino> wanted;
    for (const Finding& f : findings_) {
      // A missing inode gets the path of an entry that names it, if any.
      if (f.problem.ino != 0) wanted.insert(f.problem.ino);
    }
    if (wanted.empty()) return OkStatus();
    ASSIGN_OR_RETURN(auto paths, FsckPaths(*engine_, wanted));
    for (Finding& f : findings_) {
      auto it = paths.find(f.problem.ino);
      if (it != paths.end()) f.problem.path = it->second;
    }
    return OkStatus();
  }

  // --- repairs ---

  Status Repair() {
    std::stable_sort(findings_.begin(), findings_.end(),
                     [](const Finding& a, const Finding& b) { return a.phase < b.phase; });
    uint64_t total = 0, done = 0;
    for (const Finding& f : findings_) total += f.repair ? 1 : 0;
    std::unordered_set<Ino> unsettled;  // inodes whose entries could not be repaired
    for (Finding& f : findings_) {
      if (!f.repair) {
        f.problem.repair = f.why_not.empty() ? "not repairable by fsck" : f.why_not;
        continue;
      }
      if (f.phase == kPhaseOrphans && unsettled.contains(f.problem.ino)) {
        f.problem.repair = "not repaired: an entry naming it could not be repaired";
        continue;
      }
      if (f.phase > kPhaseHolders && !usage_flushed_) {
        // Holds released through the shared code count usage in memory:
        // store it before anything reads the counters.
        RETURN_IF_ERROR(FlushImplUsage());
        usage_flushed_ = true;
      }
      Result<Outcome> r = f.repair();
      if (r) {
        f.problem.repaired = r->repaired;
        f.problem.repair = r->note;
      } else {
        f.problem.repair = "repair failed: " + r.error().message();
      }
      if (!f.problem.repaired && f.protects != 0) unsettled.insert(f.protects);
      if (progress_) progress_("repair", ++done, total);
    }
    if (!usage_flushed_) RETURN_IF_ERROR(FlushImplUsage());
    return OkStatus();
  }

  Status FlushImplUsage() { return AddPendingUsage(*engine_, impl_); }

  Result<Meta*> GetMeta() {
    if (!meta_) {
      ASSIGN_OR_RETURN(meta_, Meta::Open(engine_));
    }
    return meta_.get();
  }

  // Removes the sessions that are stale now, through the same code that
  // clients use (it releases their holds, freeing unlinked files, and drops
  // their locks). Runs once; each stale session then checks it is gone.
  Result<Outcome> CleanSessions(uint64_t id) {
    if (!sessions_cleaned_) {
      sessions_cleaned_ = true;
      ASSIGN_OR_RETURN(Meta * meta, GetMeta());
      ASSIGN_OR_RETURN(int removed,
                       meta->CleanStaleSessions(report_.exclusive ? 0 : options_.stale_after_sec));
      (void)removed;
      RETURN_IF_ERROR(meta->FlushUsage());
    }
    bool present = false;
    RETURN_IF_ERROR(engine_->View([&](kv::Txn& txn) -> Status {
      ASSIGN_OR_RETURN(auto v, txn.Get(codec::SessionKey(id)));
      present = v.has_value();
      return OkStatus();
    }));
    if (present) return Skipped("not removed: it sent a heartbeat since the check");
    return Done("session removed; its open files and locks released");
  }

  Result<Outcome> RemoveKeyIfUnchanged(const std::string& key, const std::string& value,
                                       std::string_view done) {
    bool changed = false;
    RETURN_IF_ERROR(engine_->Txn([&](kv::Txn& txn) -> Status {
      ASSIGN_OR_RETURN(auto v, txn.Get(key));
      changed = !v || *v != value;
      if (!changed) txn.Delete(key);
      return OkStatus();
    }));
    if (changed) return Gone();
    return Done(std::string(done));
  }

  // Removes a chunk, xattr, symlink, holder or lock key whose inode is
  // missing (or, for chunks and symlink targets, of another type). A chunk's
  // slices are queued for deletion, as freeing the inode would have done.
  Result<Outcome> RemoveKeyOfMissingInode(const std::string& key, Ino ino) {
    bool gone = false;
    RETURN_IF_ERROR(engine_->Txn([&](kv::Txn& txn) -> Status {
      gone = false;
      ASSIGN_OR_RETURN(auto a, ReadAttr(txn, ino));
      if (a && !(key[0] == 'K' && a->type != FileType::kFile) &&
          !(key[0] == 'Y' && a->type != FileType::kSymlink)) {
        gone = true;  // the inode exists (again?) and may own the key
        return OkStatus();
      }
      ASSIGN_OR_RETURN(auto v, txn.Get(key));
      if (!v) {
        gone = true;
        return OkStatus();
      }
      if (key[0] == 'K') {
        ASSIGN_OR_RETURN(auto slices, DecodeSlices(*v));
        QueueSliceDeletes(txn, slices);
      }
      txn.Delete(key);
      return OkStatus();
    }));
    if (gone) return Gone();
    return Done(key[0] == 'K' ? "removed; its slices queued for deletion" : "removed");
  }

  // Removes a directory entry that names a missing inode (`missing` != 0),
  // sits in a missing or non-directory parent (`bad_parent`), or names the
  // root. The parent's attributes are rewritten: they guard its entries.
  Result<Outcome> RemoveEntry(Ino parent, const std::string& name, const std::string& value,
                              Ino missing, bool bad_parent) {
    bool gone = false;
    RETURN_IF_ERROR(engine_->Txn([&](kv::Txn& txn) -> Status {
      gone = false;
      ASSIGN_OR_RETURN(auto v, txn.Get(codec::EntryKey(parent, name)));
      if (!v || *v != value) {
        gone = true;
        return OkStatus();
      }
      if (missing != 0) {
        ASSIGN_OR_RETURN(auto a, txn.Get(codec::AttrKey(missing)));
        if (a) {
          gone = true;
          return OkStatus();
        }
      }
      if (bad_parent) {
        ASSIGN_OR_RETURN(auto p, ReadAttr(txn, parent));
        if (p && p->type == FileType::kDir) {
          gone = true;
          return OkStatus();
        }
      }
      txn.Delete(codec::EntryKey(parent, name));
      return TouchDir(txn, parent);
    }));
    if (gone) return Gone();
    return Done("entry removed");
  }

  Result<Outcome> FixEntryType(Ino parent, const std::string& name, const std::string& value,
                               Ino ino, FileType want) {
    bool gone = false;
    RETURN_IF_ERROR(engine_->Txn([&](kv::Txn& txn) -> Status {
      gone = false;
      ASSIGN_OR_RETURN(auto v, txn.Get(codec::EntryKey(parent, name)));
      ASSIGN_OR_RETURN(auto a, ReadAttr(txn, ino));
      if (!v || *v != value || !a || a->type != want) {
        gone = true;
        return OkStatus();
      }
      txn.Put(codec::EntryKey(parent, name), codec::EncodeEntry(ino, want));
      return TouchDir(txn, parent);
    }));
    if (gone) return Gone();
    return Done("entry type set to " + std::string(TypeName(want)));
  }

  // Sets an inode's nlink if it still is what the check saw: every change to
  // the entries naming an inode changes its nlink, so an unchanged nlink
  // means the count the check made still holds.
  Result<Outcome> SetNlink(Ino ino, uint32_t seen, uint32_t want) {
    bool gone = false;
    RETURN_IF_ERROR(engine_->Txn([&](kv::Txn& txn) -> Status {
      gone = false;
      AttrCache attrs(txn);
      auto a = attrs.Get(ino);
      if (!a) {
        if (a.error().code() != Code::kNotFound) return a.error();
        gone = true;
        return OkStatus();
      }
      if ((*a)->nlink != seen) {
        gone = true;
        return OkStatus();
      }
      (*a)->nlink = want;
      (*a)->ctime = Now();
      attrs.MarkDirty(ino);
      attrs.Flush();
      return OkStatus();
    }));
    if (gone) return Gone();
    return Done("nlink set to " + std::to_string(want));
  }

  Result<Outcome> SetParent(Ino ino, Ino seen, Ino want) {
    bool gone = false;
    RETURN_IF_ERROR(engine_->Txn([&](kv::Txn& txn) -> Status {
      gone = false;
      AttrCache attrs(txn);
      auto a = attrs.Get(ino);
      if (!a) {
        if (a.error().code() != Code::kNotFound) return a.error();
        gone = true;
        return OkStatus();
      }
      if ((*a)->parent != seen) {
        gone = true;
        return OkStatus();
      }
      // The directory holding its entry must still hold it.
      if (ino != kRootIno) {
        bool named = false;
        std::string prefix = codec::EntryPrefix(want);
        Status bad;
        RETURN_IF_ERROR(txn.Scan(prefix, kv::PrefixEnd(prefix), 0, false,
                                 [&](std::string_view, std::string_view v) {
                                   auto e = codec::DecodeEntry(v);
                                   named = e && e->first == ino;
                                   return !named;
                                 }));
        ASSIGN_OR_RETURN(auto dir, ReadAttr(txn, want));  // the guard of that scan
        if (!named || !dir) {
          gone = true;
          return OkStatus();
        }
      }
      (*a)->parent = want;
      (*a)->ctime = Now();
      attrs.MarkDirty(ino);
      attrs.Flush();
      return OkStatus();
    }));
    if (gone) return Gone();
    return Done("parent set to " + std::to_string(want));
  }

  // Whether the parent fields above `ino` still loop, after the repairs of
  // parent fields.
  Result<Outcome> RecheckLoop(Ino ino) {
    bool reaches_root = false;
    RETURN_IF_ERROR(engine_->View([&](kv::Txn& txn) -> Status {
      reaches_root = false;
      std::unordered_set<Ino> seen;
      for (Ino x = ino; seen.insert(x).second;) {
        if (x == kRootIno) {
          reaches_root = true;
          break;
        }
        ASSIGN_OR_RETURN(auto a, ReadAttr(txn, x));
        if (!a || a->type != FileType::kDir) break;
        x = a->parent;
      }
      return OkStatus();
    }));
    if (reaches_root) return Done("resolved by repairing parent fields");
    return Skipped(
        "not repaired: no parent field along the loop disagrees with the entries; "
        "it needs a look by hand");
  }

  // An inode no entry names: freed (its slices queued for deletion) unless a
  // live session holds it open; then its nlink is set to 0, so that the
  // holder's last close frees it.
  Result<Outcome> ResolveOrphan(Ino ino, uint32_t seen_nlink) {
    enum { kGone, kFreed, kUnlinked, kHasEntries } result = kGone;
    RETURN_IF_ERROR(engine_->Txn([&](kv::Txn& txn) -> Status {
      result = kGone;
      AttrCache attrs(txn);
      auto a = attrs.Get(ino);
      if (!a) {
        if (a.error().code() != Code::kNotFound) return a.error();
        return OkStatus();
      }
      Attr* attr = *a;
      if (attr->nlink != seen_nlink) return OkStatus();
      if (attr->type == FileType::kDir) {
        std::string prefix = codec::EntryPrefix(ino);
        bool empty = true;
        RETURN_IF_ERROR(txn.Scan(prefix, kv::PrefixEnd(prefix), 1, true,
                                 [&](std::string_view, std::string_view) {
                                   empty = false;
                                   return false;
                                 }));
        if (!empty) {
          result = kHasEntries;
          return OkStatus();
        }
      } else {
        // On a shared engine the guard is read so that an open committing
        // meanwhile conflicts with this transaction.
        if (impl_.shared) RETURN_IF_ERROR(txn.Get(codec::HolderKey(ino, kHolderGuard)));
        ASSIGN_OR_RETURN(bool held, HeldByLiveSession(txn, ino));
        if (held) {
          if (attr->nlink == 0) return OkStatus();  // an open unlinked file: fine
          attr->nlink = 0;
          attr->ctime = Now();
          attrs.MarkDirty(ino);
          attrs.Flush();
          result = kUnlinked;
          return OkStatus();
        }
      }
      Delta delta;
      RETURN_IF_ERROR(FreeInode(txn, attrs, ino, &delta));
      // What FreeInode leaves: holder keys of dead sessions, the guard, locks.
      std::vector<std::string> holds;
      std::string prefix = codec::HolderPrefix(ino);
      RETURN_IF_ERROR(txn.Scan(prefix, kv::PrefixEnd(prefix), 0, true,
                               [&](std::string_view k, std::string_view) {
                                 holds.emplace_back(k);
                                 return true;
                               }));
      for (const auto& k : holds) txn.Delete(k);
      txn.Delete(codec::FlockKey(ino));
      txn.Delete(codec::PlockKey(ino));
      // In the same transaction, so that the counters stay right whatever else runs.
      RETURN_IF_ERROR(AddToUsage(txn, delta.bytes, delta.inodes));
      result = kFreed;
      return OkStatus();
    }));
    switch (result) {
      case kFreed:
        return Done("freed (its slices queued for deletion)");
      case kUnlinked:
        return Done("nlink set to 0: the live session that holds it open frees it at close");
      case kHasEntries:
        return Skipped("not repaired: it has entries now");
      case kGone:
        break;
    }
    return Gone();
  }

  // A hold by a session that no longer exists: released as a session
  // clean-up would (which frees an unlinked file when it was the last).
  Result<Outcome> ReleaseStaleHolder(Ino ino, uint64_t session) {
    bool present = false;
    RETURN_IF_ERROR(engine_->View([&](kv::Txn& txn) -> Status {
      ASSIGN_OR_RETURN(auto h, txn.Get(codec::HolderKey(ino, session)));
      ASSIGN_OR_RETURN(auto u, txn.Get(codec::SessionKey(session)));
      present = h.has_value() && !u.has_value();
      return OkStatus();
    }));
    if (!present) return Gone();
    RETURN_IF_ERROR(ReleaseHolder(*engine_, impl_, ino, session));
    return Done("hold released");
  }

  Result<Outcome> DropStaleLocks(Ino ino, bool plock) {
    size_t dropped = 0;
    RETURN_IF_ERROR(engine_->Txn([&](kv::Txn& txn) -> Status {
      dropped = 0;
      std::string key = plock ? codec::PlockKey(ino) : codec::FlockKey(ino);
      ASSIGN_OR_RETURN(auto v, txn.Get(key));
      if (!v) return OkStatus();
      std::unordered_map<uint64_t, bool> exists;
      auto missing = [&](uint64_t s) -> Result<bool> {
        auto it = exists.find(s);
        if (it == exists.end()) {
          ASSIGN_OR_RETURN(auto u, txn.Get(codec::SessionKey(s)));
          it = exists.emplace(s, u.has_value()).first;
        }
        return !it->second;
      };
      // The records of sessions that still exist.
      auto keep = [&](auto records) -> Result<decltype(records)> {
        decltype(records) kept;
        for (const auto& r : records) {
          ASSIGN_OR_RETURN(bool gone, missing(r.session));
          if (gone) {
            ++dropped;
          } else {
            kept.push_back(r);
          }
        }
        return kept;
      };
      std::string out;
      if (plock) {
        ASSIGN_OR_RETURN(auto records, codec::DecodePlocks(*v));
        ASSIGN_OR_RETURN(auto kept, keep(std::move(records)));
        out = codec::EncodePlocks(kept);
      } else {
        ASSIGN_OR_RETURN(auto records, codec::DecodeFlocks(*v));
        ASSIGN_OR_RETURN(auto kept, keep(std::move(records)));
        out = codec::EncodeFlocks(kept);
      }
      if (dropped == 0) return OkStatus();
      if (out.empty()) {
        txn.Delete(key);
      } else {
        txn.Put(key, out);
      }
      return OkStatus();
    }));
    if (dropped == 0) return Gone();
    return Done(std::to_string(dropped) + " lock record(s) dropped");
  }

  // A slice queued for deletion that a chunk still references: the queue
  // entry goes (the chunk's data stays readable as long as objects remain).
  Result<Outcome> Unqueue(const FsckSliceRef& g, const FsckSliceRef& ref) {
    bool gone = false;
    RETURN_IF_ERROR(engine_->Txn([&](kv::Txn& txn) -> Status {
      gone = true;
      std::string gkey = codec::DeletedSliceKey(g.id, g.size);
      ASSIGN_OR_RETURN(auto q, txn.Get(gkey));
      if (!q) return OkStatus();
      ASSIGN_OR_RETURN(auto k, txn.Get(codec::ChunkKey(ref.ino, ref.chunk)));
      if (!k) return OkStatus();
      auto slices = DecodeSlices(*k);
      if (!slices) return OkStatus();
      bool used =
          std::any_of(slices->begin(), slices->end(), [&](const Slice& s) { return s.id == g.id; });
      if (!used) return OkStatus();
      txn.Delete(gkey);
      gone = false;
      return OkStatus();
    }));
    if (gone) return Gone();
    return Done("removed from the deletion queue (objects already deleted stay missing)");
  }

  Result<Outcome> RaiseCounter(const std::string& name, uint64_t needed) {
    bool gone = false;
    RETURN_IF_ERROR(engine_->Txn([&](kv::Txn& txn) -> Status {
      ASSIGN_OR_RETURN(auto v, txn.Get(codec::CounterKey(name)));
      auto have = v ? codec::DecodeU64(*v) : Result<uint64_t>(uint64_t{0});
      gone = v && have && *have >= needed;
      if (!gone) txn.Put(codec::CounterKey(name), codec::EncodeU64(needed));
      return OkStatus();
    }));
    if (gone) return Gone();
    return Done("set to " + std::to_string(needed));
  }

  // Stores a recount of the usage counters; only when no live session could
  // add its unflushed changes on top of it afterwards.
  Result<Outcome> Recount() {
    if (recounted_) return Done("recounted");
    ASSIGN_OR_RETURN(Meta * meta, GetMeta());
    ASSIGN_OR_RETURN(auto sessions, meta->ListSessions());
    if (!report_.exclusive) {
      int64_t now = Now().sec;
      for (const SessionInfo& s : sessions) {
        if (now - s.heartbeat_sec < options_.stale_after_sec) {
          return Skipped("not repaired: session " + std::to_string(s.id) +
                         " is live and keeps changes it has not flushed; run fsck again when "
                         "the volume is not mounted");
        }
      }
    }
    RETURN_IF_ERROR(meta->RecountUsage());
    recounted_ = true;
    return Done("recounted");
  }

  Finding& Add(FsckKind kind, Ino ino, std::string where, std::string what,
               FsckSeverity severity = FsckSeverity::kError) {
    Finding& f = findings_.emplace_back();
    f.problem.kind = kind;
    f.problem.severity = severity;
    f.problem.ino = ino;
    f.problem.where = std::move(where);
    f.problem.what = std::move(what);
    return f;
  }

  struct LockInfo {
    Ino ino;
    bool plock;
    std::vector<uint64_t> sessions;
  };

  std::shared_ptr<kv::Engine> engine_;
  const FsckOptions options_;
  const FsckProgress& progress_;
  // For the shared helpers (ReleaseHolder): the usage they count is stored
  // by FlushImplUsage.
  Meta::Impl impl_;
  std::unique_ptr<Meta> meta_;  // opened for the repairs that go through Meta
  FsckReport report_;
  std::vector<Finding> findings_;

  std::vector<InodeInfo> inodes_;  // sorted by ino
  std::unordered_set<Ino> corrupt_inodes_;
  std::map<std::string, uint64_t> counters_;
  std::vector<std::pair<Ino, uint64_t>> holders_;  // (ino, session), guards excluded
  std::vector<LockInfo> locks_;
  std::vector<FsckSliceRef> refs_;
  std::vector<FsckSliceRef> pending_;
  std::unordered_set<uint64_t> session_ids_;
  Ino max_ino_ = 0;
  uint64_t max_slice_ = 0;
  uint64_t max_session_ = 0;
  bool sessions_cleaned_ = false;
  bool usage_flushed_ = false;
  bool recounted_ = false;
};

}  // namespace

Result<FsckReport> Fsck(std::shared_ptr<kv::Engine> engine, const FsckOptions& options,
                        const FsckProgress& progress) {
  Checker checker(std::move(engine), options, progress);
  return checker.Run();
}

}  // namespace shoal::meta
