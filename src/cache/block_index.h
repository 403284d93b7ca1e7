// BlockIndex: DiskCache's in-memory index, kept small per block.
//
// Maps the 128-bit hash of a block key to a 32-byte Entry, with an intrusive
// doubly linked LRU list threaded through the entries that may be evicted.
// Entries live in a slab (a vector, freed slots reused) and are named by
// their slot number, a Ref; an open-addressing table of Refs (linear probing,
// at most 3/4 full, backward-shift deletion) finds them by hash. So a block
// costs 32 bytes of Entry plus 5.3 to 10.7 bytes of table, about 40 bytes, and
// up to twice the Entry while the slab vector has spare capacity after
// growing. The key itself is not kept: the block's file name is its hash,
// and the file holds the key (block_file.h).
//
// Not thread-safe: DiskCache guards it with its mutex. Refs stay valid until
// their entry is erased; growing the table does not move entries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace shoal::cache {

// XXH3-128 of a block key. Collisions are taken as impossible for indexing
// (2^-128); a file's key is still checked on every read, so even a collision
// could only cost a miss, never wrong bytes.
struct KeyHash {
  uint64_t lo = 0;
  uint64_t hi = 0;
  bool operator==(const KeyHash&) const = default;
};
KeyHash HashKey(std::string_view key);

class BlockIndex {
 public:
  using Ref = uint32_t;
  static constexpr Ref kNone = UINT32_MAX;

  struct Entry {
    KeyHash hash;
    uint32_t charge = 0;  // bytes charged against the cache's limit
    Ref prev = kNone;     // LRU neighbours; `next` also links free slots
    Ref next = kNone;
    uint8_t dir = 0;    // which cache directory holds the file
    uint8_t state = 0;  // owned by DiskCache
    uint8_t flags = 0;  // owned by DiskCache
    uint8_t lru = 0;    // 1 while in the LRU list
  };
  static_assert(sizeof(Entry) == 32, "keep the per-block cost small");

  // kNone when absent.
  Ref Find(const KeyHash& hash) const;
  // Adds an entry for `hash`, which must be absent, outside the LRU list.
  Ref Insert(const KeyHash& hash);
  // Removes the entry (and takes it out of the LRU list).
  void Erase(Ref ref);
  Entry& at(Ref ref) { return entries_[ref]; }
  const Entry& at(Ref ref) const { return entries_[ref]; }
  size_t size() const { return size_; }

  // The LRU list: front is the most recently used.
  void PushFront(Ref ref);  // ref must not be in the list
  void PushBack(Ref ref);   // ref must not be in the list
  void Unlink(Ref ref);     // no-op when not in the list
  void Touch(Ref ref);      // moves to the front if in the list
  bool InLru(Ref ref) const { return entries_[ref].lru != 0; }
  Ref Oldest() const { return tail_; }
  Ref NewerThan(Ref ref) const { return entries_[ref].prev; }

  // Heap bytes held by the index, for reporting the cost per block.
  size_t MemoryBytes() const;

 private:
  size_t Home(const KeyHash& hash) const { return hash.lo & (slots_.size() - 1); }
  void Grow();

  std::vector<Entry> entries_;
  Ref free_ = kNone;             // first free slot in entries_
  std::vector<uint32_t> slots_;  // power-of-two size; kNone is empty
  size_t size_ = 0;
  Ref head_ = kNone;  // most recently used
  Ref tail_ = kNone;  // least recently used
};

}  // namespace shoal::cache
