// flock and POSIX record locks, kept in the metadata engine so that they hold
// across every client of the volume. A lock belongs to (session, owner): the
// owner is the kernel's lock owner (per open file for flock, per process for
// POSIX locks).
#include "meta/internal.h"

namespace shoal::meta {

using codec::FlockRecord;
using codec::PlockRecord;

namespace {

bool Overlaps(const PosixLock& a, const PosixLock& b) {
  return a.start <= b.end && b.start <= a.end;
}

bool Conflicts(const PosixLock& held, const PosixLock& wanted) {
  return Overlaps(held, wanted) &&
         (held.type == LockType::kWrite || wanted.type == LockType::kWrite);
}

// Merges a holder's own records of one type that overlap or touch.
void MergeOwn(std::vector<PlockRecord>* records, uint64_t session, uint64_t owner) {
  std::vector<PlockRecord> mine, others;
  for (auto& r : *records) (r.session == session && r.owner == owner ? mine : others).push_back(r);
  std::sort(mine.begin(), mine.end(),
            [](const PlockRecord& a, const PlockRecord& b) { return a.lock.start < b.lock.start; });
  std::vector<PlockRecord> merged;
  for (auto& r : mine) {
    if (!merged.empty()) {
      PlockRecord& last = merged.back();
      bool touches = last.lock.end == UINT64_MAX || r.lock.start <= last.lock.end + 1;
      if (touches && last.lock.type == r.lock.type) {
        last.lock.end = std::max(last.lock.end, r.lock.end);
        continue;
      }
    }
    merged.push_back(r);
  }
  others.insert(others.end(), merged.begin(), merged.end());
  *records = std::move(others);
}

}  // namespace

Status Meta::Flock(Ino ino, uint64_t owner, LockType type) {
  uint64_t session;
  {
    std::lock_guard lock(impl_->mu);
    session = impl_->session;
  }
  RETURN_IF_ERROR(engine_->Txn([&](kv::Txn& txn) -> Status {
    ASSIGN_OR_RETURN(auto v, txn.Get(codec::FlockKey(ino)));
    std::vector<FlockRecord> records;
    if (v) {
      ASSIGN_OR_RETURN(records, codec::DecodeFlocks(*v));
    }
    auto mine = [&](const FlockRecord& r) { return r.session == session && r.owner == owner; };
    std::erase_if(records,
                  [&](const FlockRecord& r) { return mine(r) && type == LockType::kUnlock; });
    if (type != LockType::kUnlock) {
      for (const auto& r : records) {
        if (!mine(r) && (type == LockType::kWrite || r.type == LockType::kWrite)) {
          return Status(Code::kWouldBlock, "the file is locked by another owner");
        }
      }
      std::erase_if(records, mine);
      records.push_back({session, owner, type});
    }
    if (records.empty()) {
      txn.Delete(codec::FlockKey(ino));
    } else {
      txn.Put(codec::FlockKey(ino), codec::EncodeFlocks(records));
    }
    return OkStatus();
  }));
  if (type != LockType::kUnlock) {
    std::lock_guard lock(impl_->mu);
    impl_->locked.insert(ino);
  }
  return OkStatus();
}

Result<PosixLock> Meta::GetLk(Ino ino, uint64_t owner, const PosixLock& probe) {
  uint64_t session;
  {
    std::lock_guard lock(impl_->mu);
    session = impl_->session;
  }
  PosixLock found;
  RETURN_IF_ERROR(engine_->View([&](kv::Txn& txn) -> Status {
    found = {};
    ASSIGN_OR_RETURN(auto v, txn.Get(codec::PlockKey(ino)));
    if (!v) return OkStatus();
    ASSIGN_OR_RETURN(auto records, codec::DecodePlocks(*v));
    for (const auto& r : records) {
      if (r.session == session && r.owner == owner) continue;
      if (Conflicts(r.lock, probe)) {
        found = r.lock;
        break;
      }
    }
    return OkStatus();
  }));
  return found;
}

Status Meta::SetLk(Ino ino, uint64_t owner, const PosixLock& lock) {
  if (lock.start > lock.end) return Invalid("lock range ends before it starts");
  uint64_t session;
  {
    std::lock_guard guard(impl_->mu);
    session = impl_->session;
  }
  RETURN_IF_ERROR(engine_->Txn([&](kv::Txn& txn) -> Status {
    ASSIGN_OR_RETURN(auto v, txn.Get(codec::PlockKey(ino)));
    std::vector<PlockRecord> records;
    if (v) {
      ASSIGN_OR_RETURN(records, codec::DecodePlocks(*v));
    }
    auto mine = [&](const PlockRecord& r) { return r.session == session && r.owner == owner; };
    if (lock.type != LockType::kUnlock) {
      for (const auto& r : records) {
        if (!mine(r) && Conflicts(r.lock, lock)) {
          return Status(Code::kWouldBlock, "the range is locked by another owner");
        }
      }
    }
    // Cut the owner's own locks out of the range, then add the new one.
    std::vector<PlockRecord> next;
    for (const auto& r : records) {
      if (!mine(r) || !Overlaps(r.lock, lock)) {
        next.push_back(r);
        continue;
      }
      if (r.lock.start < lock.start) {
        PlockRecord left = r;
        left.lock.end = lock.start - 1;
        next.push_back(left);
      }
      if (r.lock.end > lock.end) {
        PlockRecord right = r;
        right.lock.start = lock.end + 1;
        next.push_back(right);
      }
    }
    if (lock.type != LockType::kUnlock) {
      next.push_back({session, owner, lock});
      MergeOwn(&next, session, owner);
    }
    if (next.empty()) {
      txn.Delete(codec::PlockKey(ino));
    } else {
      txn.Put(codec::PlockKey(ino), codec::EncodePlocks(next));
    }
    return OkStatus();
  }));
  if (lock.type != LockType::kUnlock) {
    std::lock_guard guard(impl_->mu);
    impl_->locked.insert(ino);
  }
  return OkStatus();
}

Status Meta::ReleaseLocks(Ino ino, uint64_t owner, bool flock) {
  uint64_t session;
  {
    std::lock_guard lock(impl_->mu);
    if (!impl_->locked.contains(ino)) return OkStatus();
    session = impl_->session;
  }
  return engine_->Txn([&](kv::Txn& txn) -> Status {
    auto mine = [&](const auto& r) { return r.session == session && r.owner == owner; };
    ASSIGN_OR_RETURN(auto pv, txn.Get(codec::PlockKey(ino)));
    if (pv) {
      ASSIGN_OR_RETURN(auto records, codec::DecodePlocks(*pv));
      size_t n = records.size();
      std::erase_if(records, mine);
      if (records.empty()) {
        txn.Delete(codec::PlockKey(ino));
      } else if (records.size() != n) {
        txn.Put(codec::PlockKey(ino), codec::EncodePlocks(records));
      }
    }
    if (!flock) return OkStatus();
    ASSIGN_OR_RETURN(auto fv, txn.Get(codec::FlockKey(ino)));
    if (fv) {
      ASSIGN_OR_RETURN(auto records, codec::DecodeFlocks(*fv));
      size_t n = records.size();
      std::erase_if(records, mine);
      if (records.empty()) {
        txn.Delete(codec::FlockKey(ino));
      } else if (records.size() != n) {
        txn.Put(codec::FlockKey(ino), codec::EncodeFlocks(records));
      }
    }
    return OkStatus();
  });
}

}  // namespace shoal::meta
