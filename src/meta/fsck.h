// fsck: checks the invariants of a volume's metadata (docs/format.md) and,
// when asked, repairs what can be repaired without guessing.
//
// The check reads the whole key space in one read-only transaction (one
// snapshot where the engine has them), so that a volume in use can be checked;
// clients that are live may still have changes in flight (usage counters are
// flushed about once a second), which is why some findings are warnings when
// live sessions exist.
//
// Repairs run after the check, each in its own small transaction that first
// re-checks, against the current state, the condition that was found; a
// condition that no longer holds (another client changed the inode, or an
// earlier repair resolved it) is left alone. Nothing is moved to a
// lost+found directory: an unreachable directory that still has entries is
// reported, not repaired.
//
// This layer checks metadata only. The objects that hold the data belong to
// the chunk layer: the report lists the slices that chunks reference and the
// slices queued for deletion, so that a caller with a BlockStore can check
// the objects (the `shoal fsck` command does) and add what it finds with
// FsckReport::Add.
//
// Memory: about 60 bytes per inode and 24 per referenced slice, held for the
// duration of the check.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/status.h"
#include "kv/kv.h"
#include "meta/meta.h"

namespace shoal::meta {

// The kinds of problems, in the order the summary lists them. Names (for
// output and JSON) come from FsckKindName.
enum class FsckKind : uint8_t {
  kUndecodable,    // a key or value that does not decode
  kUnknownKey,     // a key of no kind the format defines
  kMissingRoot,    // inode 1 is missing or not a directory
  kDanglingEntry,  // an entry names a missing inode
  kBadEntry,       // an entry in a missing or non-directory parent, or naming the root
  kEntryType,      // an entry's type differs from its inode's
  kNlink,          // a non-directory's nlink differs from the entries naming it
  kDirNlink,       // a directory's nlink is not 2 + its subdirectories
  kDirLinks,       // a directory is named by more than one entry
  kDirParent,      // a directory's parent field does not name the directory holding its entry
  kDirLoop,        // following parent fields from a directory never reaches the root
  kOrphan,         // an inode no entry names and no live session holds open
  kDanglingKey,    // a chunk, xattr, symlink, holder or lock key of a missing or wrong inode
  kBadChunk,       // a chunk's slices do not decode or lie outside the chunk or the slice
  kMissingTarget,  // a symlink without its target
  kSharedSlice,    // one slice referenced from two places (the format has no slice sharing yet)
  kQueuedInUse,    // a slice queued for deletion that a chunk still references
  kCounter,        // next_inode / next_slice / next_session not above every id in use
  kUsage,          // used_inodes / used_bytes differ from a recount
  kStaleSession,   // a session whose heartbeat is older than the threshold
  kStaleHolder,    // an open-file holder key of a session that does not exist
  kStaleLock,      // lock records of a session that does not exist
  kMissingObject,  // a block of a referenced slice is not in the object store
  kDamagedObject,  // a block has another length than its name says
  kLeakedObject,   // an object under the volume's prefix that no slice refers to
};
inline constexpr int kFsckKinds = static_cast<int>(FsckKind::kLeakedObject) + 1;
std::string_view FsckKindName(FsckKind kind);

enum class FsckSeverity : uint8_t {
  kError,    // the volume is inconsistent
  kWarning,  // worth knowing, but may be a change in flight or harmless
};

struct FsckProblem {
  FsckKind kind = FsckKind::kUndecodable;
  FsckSeverity severity = FsckSeverity::kError;
  Ino ino = 0;        // the inode concerned; 0 when none
  std::string path;   // a path of the inode when one is known ("/a/b"), else empty
  std::string where;  // what is damaged: "entry 'x' in directory 5", an object key, ...
  std::string what;   // one line: what is wrong
  bool repaired = false;
  std::string repair;  // with --repair: what was done, or why nothing was
};

// Counts of what was checked.
struct FsckCounts {
  uint64_t keys = 0;
  uint64_t inodes = 0;
  uint64_t dirs = 0;
  uint64_t files = 0;
  uint64_t symlinks = 0;
  uint64_t others = 0;  // fifos, devices, sockets
  uint64_t entries = 0;
  uint64_t bytes = 0;  // sum of the lengths of regular files
  uint64_t chunks = 0;
  uint64_t slices = 0;          // slice records with data (holes excluded)
  uint64_t pending_slices = 0;  // slices queued for deletion ("G")
  uint64_t open_unlinked = 0;   // inodes with no link kept by a live session
  uint64_t holders = 0;         // open-file holder keys (guards excluded)
  uint64_t locks = 0;           // inodes with lock records
  uint64_t sessions = 0;
  uint64_t stale_sessions = 0;
  uint64_t objects_checked = 0;  // blocks of referenced slices looked up
  uint64_t objects_listed = 0;   // objects listed under the volume's prefix
};

struct FsckTally {
  uint64_t errors = 0;
  uint64_t warnings = 0;
  uint64_t repaired = 0;
  uint64_t open_errors = 0;  // errors not repaired
};

// A slice with data, where it was found (the first place, for messages).
struct FsckSliceRef {
  uint64_t id = 0;
  uint32_t size = 0;
  uint32_t chunk = 0;  // chunk index; unused for queued slices
  Ino ino = 0;         // 0 for a slice queued for deletion
};

struct FsckSession {
  SessionInfo info;
  bool stale = false;
};

struct FsckReport {
  VolumeConfig volume;
  bool repair = false;
  bool exclusive = false;      // the engine admits one process: every session found is dead
  uint64_t live_sessions = 0;  // sessions that are not stale
  FsckCounts counts;
  std::vector<FsckSession> sessions;
  std::vector<FsckProblem> problems;  // the first max_problems found
  uint64_t problems_omitted = 0;      // found but not kept in `problems`
  std::array<FsckTally, kFsckKinds> by_kind{};
  // Every slice that chunks reference, sorted by id (duplicates kept, so
  // that a slice referenced twice shows twice); and the deletion queue.
  std::vector<FsckSliceRef> slices;
  std::vector<FsckSliceRef> pending;

  size_t max_problems = 100;  // 0: keep all

  // Records a problem (counted whether or not it is kept).
  void Add(FsckProblem p);
  const FsckTally& tally(FsckKind k) const { return by_kind[static_cast<int>(k)]; }
  FsckTally Total() const;
  // No problem at all, warnings included.
  bool Clean() const;
  // Errors that were not repaired: the exit status of `shoal fsck` is 1 then.
  bool HasOpenErrors() const { return Total().open_errors > 0; }
};

struct FsckOptions {
  bool repair = false;
  // A session whose last heartbeat is older than this is stale.
  int64_t stale_after_sec = 300;
  size_t max_problems = 100;  // problems kept in the report; 0: all
  int64_t now_sec = 0;        // the current time; 0: the clock (tests set it)
};

// Progress of a long pass: `done` of `total` (total 0: unknown) in `phase`
// ("metadata", "repair", "objects", "listing"). Called from the calling
// thread; may be called often, callers throttle output themselves.
using FsckProgress = std::function<void(std::string_view phase, uint64_t done, uint64_t total)>;

// Checks (and with options.repair, repairs) the volume in `engine`.
// kNotFound / kVersion / kCorrupt when there is no volume record that this
// build can read; engine failures as they come. Problems found are not
// errors: they are in the report.
Result<FsckReport> Fsck(std::shared_ptr<kv::Engine> engine, const FsckOptions& options,
                        const FsckProgress& progress = {});

// Paths of the given inodes ("/a/b"), from one scan of the directory
// entries: an inode that no entry reaches from the root gets none. An inode
// with several links gets one of its paths.
Result<std::unordered_map<Ino, std::string>> FsckPaths(kv::Engine& engine,
                                                       const std::unordered_set<Ino>& inos);

}  // namespace shoal::meta
