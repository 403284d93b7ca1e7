// Pieces shared by the files that implement Meta. Not part of meta's API.
#pragma once

#include <array>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "meta/codec.h"
#include "meta/meta.h"

namespace shoal::meta {

// Changes to the usage counters made by one transaction. Collected while the
// transaction function runs (reset on every retry) and applied to the
// in-memory totals only once it commits.
struct Delta {
  int64_t bytes = 0;
  int64_t inodes = 0;
};

// Inode attributes read and changed within one transaction. Reading an inode
// twice yields the same object, so an operation that touches the same
// directory as source and target (rename within a directory) sees its own
// changes. Flush() writes the changed ones.
class AttrCache {
 public:
  explicit AttrCache(kv::Txn& txn) : txn_(txn) {}

  // kNotFound (with `what` in the message) when the inode does not exist.
  Result<Attr*> Get(Ino ino);
  void MarkDirty(Ino ino) { dirty_.insert(ino); }
  // The inode is being deleted: its attributes will not be written back.
  void Forget(Ino ino);
  void Flush();

 private:
  kv::Txn& txn_;
  std::map<Ino, Attr> attrs_;
  std::set<Ino> dirty_;
};

// POSIX access check of `mask` (R_OK | W_OK | X_OK) against attributes.
Status CheckAccess(const Context& ctx, const Attr& attr, int mask);

// Checks that `name` may name a directory entry: not empty, no '/', not "."
// or "..", at most kMaxName bytes.
Status ValidateName(std::string_view name);

// Reads a directory's attributes and checks that it is one (and is not
// deleted), then checks `mask` on it.
Result<Attr*> GetDir(AttrCache& attrs, const Context& ctx, Ino dir, int mask);

// Removes everything an inode owns (attributes, chunks, xattrs, symlink
// target) and queues its slices for deletion. The caller removed its entries.
Status FreeInode(kv::Txn& txn, AttrCache& attrs, Ino ino, Delta* delta);

// Queues the objects of slices for deletion (skips holes).
void QueueSliceDeletes(kv::Txn& txn, const std::vector<Slice>& slices);

// The sticky-bit rule: in a sticky directory only the owner of the entry,
// the owner of the directory, or root may remove or rename an entry.
Status CheckSticky(const Context& ctx, const Attr& dir, const Attr& victim);

class Meta::Impl {
 public:
  std::mutex mu;
  // Id ranges taken from the counters: [next, end).
  uint64_t next_ino = 0, end_ino = 0;
  uint64_t next_slice = 0, end_slice = 0;
  uint64_t session = 0;
  SessionInfo session_info;
  std::unordered_map<Ino, int> open_counts;
  // True on an engine that other clients share (not Exclusive()): every file
  // this session opens is recorded with an "H" key, so that another client's
  // unlink keeps it alive. On an exclusive engine this client is the only
  // one, and an "H" key is written only when it unlinks a file it has open.
  bool shared = false;
  // Inodes for which this session may have an "H" key: only their last Close
  // needs a transaction. May hold extra ones (from a transaction that was
  // retried), never miss one.
  std::unordered_set<Ino> held;
  // Serialize this session's open and last close of one inode, so that the
  // "H" key a first open writes is not deleted by a concurrent last close.
  static constexpr size_t kOpenStripes = 64;
  std::array<std::mutex, kOpenStripes> open_stripes;
  std::mutex& OpenStripe(Ino ino) { return open_stripes[ino % kOpenStripes]; }
  // Inodes on which this client took a lock: the others need no release.
  std::unordered_set<Ino> locked;
  // Usage not yet added to the stored counters (flushed by Heartbeat).
  int64_t pending_bytes = 0;
  int64_t pending_inodes = 0;

  bool IsOpen(Ino ino) {
    std::lock_guard lock(mu);
    auto it = open_counts.find(ino);
    return it != open_counts.end() && it->second > 0;
  }
  void Apply(const Delta& d) {
    std::lock_guard lock(mu);
    pending_bytes += d.bytes;
    pending_inodes += d.inodes;
  }
};

// Runs fn in one transaction (retried on conflict) with an attribute cache
// that is written back when fn succeeds; the usage changes fn records are
// applied once the transaction has committed. The shape of every update.
using UpdateFn = std::function<Status(kv::Txn&, AttrCache&, Delta&)>;
Status Update(kv::Engine& engine, Meta::Impl& impl, const UpdateFn& fn);

// --- open holders ("H" keys; see docs/format.md) ---

// The key that every first open by a session on a shared engine writes, and
// that an unlink reads before it counts the holders: an open that commits
// while the unlink runs makes the unlink conflict and look again. Scans of
// the holders skip it.
inline constexpr uint64_t kHolderGuard = ~0ull;

// Adds the usage this client has not stored yet (Impl::pending_*) to the
// stored counters.
Status AddPendingUsage(kv::Engine& engine, Meta::Impl& impl);

// Records in `txn` that `session` holds `ino` open.
void AddHolder(kv::Txn& txn, Meta::Impl& impl, Ino ino, uint64_t session);

// Whether any session holds `ino` open (on a shared engine, with the guard
// read so that a concurrent open conflicts).
Result<bool> HasHolders(kv::Txn& txn, Meta::Impl& impl, Ino ino);

// Drops `session`'s hold on `ino` and frees the inode if it has no link and
// no other holder left. Nothing to do when the hold is already gone.
Status ReleaseHolder(kv::Engine& engine, Meta::Impl& impl, Ino ino, uint64_t session);
// The same for several inodes, in one transaction.
Status ReleaseHolders(kv::Engine& engine, Meta::Impl& impl, const std::vector<Ino>& inos,
                      uint64_t session);

// Creates a regular file that counts as opened by this session (the caller
// counts the open).
Result<Entry> CreateFile(kv::Engine& engine, Meta::Impl& impl, const Context& ctx, Ino parent,
                         std::string_view name, uint32_t perm);

// A counter's value (0 when it was never set).
Result<uint64_t> ReadCounter(kv::Txn& txn, std::string_view name);
// Adds to the stored usage counters in `txn` (two's complement sums).
Status AddToUsage(kv::Txn& txn, int64_t bytes, int64_t inodes);

// Takes an inode number (from a batch taken from the counter).
Result<Ino> NextInode(kv::Engine& engine, Meta::Impl& impl);

// Counter names.
inline constexpr std::string_view kNextInode = "next_inode";
inline constexpr std::string_view kNextSlice = "next_slice";
inline constexpr std::string_view kNextSession = "next_session";
inline constexpr std::string_view kUsedBytes = "used_bytes";
inline constexpr std::string_view kUsedInodes = "used_inodes";

}  // namespace shoal::meta
