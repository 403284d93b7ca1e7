#include "cache/block_index.h"

#include <xxhash.h>

#include <cassert>

namespace shoal::cache {
namespace {

constexpr size_t kMinSlots = 16;

}  // namespace

KeyHash HashKey(std::string_view key) {
  XXH128_hash_t h = XXH3_128bits(key.data(), key.size());
  return KeyHash{h.low64, h.high64};
}

BlockIndex::Ref BlockIndex::Find(const KeyHash& hash) const {
  if (slots_.empty()) return kNone;
  const size_t mask = slots_.size() - 1;
  for (size_t i = Home(hash);; i = (i + 1) & mask) {
    Ref ref = slots_[i];
    if (ref == kNone) return kNone;
    if (entries_[ref].hash == hash) return ref;
  }
}

void BlockIndex::Grow() {
  std::vector<uint32_t> old = std::move(slots_);
  slots_.assign(old.empty() ? kMinSlots : old.size() * 2, kNone);
  const size_t mask = slots_.size() - 1;
  for (Ref ref : old) {
    if (ref == kNone) continue;
    size_t i = Home(entries_[ref].hash);
    while (slots_[i] != kNone) i = (i + 1) & mask;
    slots_[i] = ref;
  }
}

BlockIndex::Ref BlockIndex::Insert(const KeyHash& hash) {
  assert(Find(hash) == kNone);
  if ((size_ + 1) * 4 > slots_.size() * 3) Grow();
  Ref ref;
  if (free_ != kNone) {
    ref = free_;
    free_ = entries_[ref].next;
    entries_[ref] = Entry{};
  } else {
    ref = static_cast<Ref>(entries_.size());
    entries_.emplace_back();
  }
  entries_[ref].hash = hash;
  const size_t mask = slots_.size() - 1;
  size_t i = Home(hash);
  while (slots_[i] != kNone) i = (i + 1) & mask;
  slots_[i] = ref;
  ++size_;
  return ref;
}

void BlockIndex::Erase(Ref ref) {
  Unlink(ref);
  const size_t mask = slots_.size() - 1;
  size_t hole = Home(entries_[ref].hash);
  while (slots_[hole] != ref) hole = (hole + 1) & mask;
  // Backward-shift deletion: pull later members of the probe run into the
  // hole unless that would put them before their home slot.
  for (size_t j = (hole + 1) & mask; slots_[j] != kNone; j = (j + 1) & mask) {
    size_t home = Home(entries_[slots_[j]].hash);
    // Distance from home to j and from home to the hole, going forward.
    if (((j - home) & mask) >= ((j - hole) & mask)) {
      slots_[hole] = slots_[j];
      hole = j;
    }
  }
  slots_[hole] = kNone;
  entries_[ref] = Entry{};
  entries_[ref].next = free_;
  free_ = ref;
  --size_;
}

void BlockIndex::PushFront(Ref ref) {
  Entry& e = entries_[ref];
  assert(!e.lru);
  e.lru = 1;
  e.prev = kNone;
  e.next = head_;
  if (head_ != kNone) entries_[head_].prev = ref;
  head_ = ref;
  if (tail_ == kNone) tail_ = ref;
}

void BlockIndex::PushBack(Ref ref) {
  Entry& e = entries_[ref];
  assert(!e.lru);
  e.lru = 1;
  e.next = kNone;
  e.prev = tail_;
  if (tail_ != kNone) entries_[tail_].next = ref;
  tail_ = ref;
  if (head_ == kNone) head_ = ref;
}

void BlockIndex::Unlink(Ref ref) {
  Entry& e = entries_[ref];
  if (!e.lru) return;
  if (e.prev != kNone) {
    entries_[e.prev].next = e.next;
  } else {
    head_ = e.next;
  }
  if (e.next != kNone) {
    entries_[e.next].prev = e.prev;
  } else {
    tail_ = e.prev;
  }
  e.prev = e.next = kNone;
  e.lru = 0;
}

void BlockIndex::Touch(Ref ref) {
  if (!entries_[ref].lru || head_ == ref) return;
  Unlink(ref);
  PushFront(ref);
}

size_t BlockIndex::MemoryBytes() const {
  return entries_.capacity() * sizeof(Entry) + slots_.capacity() * sizeof(uint32_t);
}

}  // namespace shoal::cache
