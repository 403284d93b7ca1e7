#include "cache/block_index.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <vector>

namespace shoal::cache {
namespace {

using Ref = BlockIndex::Ref;

TEST(BlockIndexTest, FindsWhatWasInsertedAndNotWhatWasErased) {
  BlockIndex index;
  Ref a = index.Insert(HashKey("a"));
  Ref b = index.Insert(HashKey("b"));
  EXPECT_EQ(index.Find(HashKey("a")), a);
  EXPECT_EQ(index.Find(HashKey("b")), b);
  EXPECT_EQ(index.Find(HashKey("c")), BlockIndex::kNone);
  index.Erase(a);
  EXPECT_EQ(index.Find(HashKey("a")), BlockIndex::kNone);
  EXPECT_EQ(index.Find(HashKey("b")), b);
  EXPECT_EQ(index.size(), 1u);
}

// Hashes whose homes cluster in a few slots at both ends of the table make
// long probe runs that wrap around, which is where backward-shift deletion
// can go wrong.
KeyHash CollidingHash(uint64_t hi) {
  uint64_t lo = hi % 2 == 0 ? hi % 8 : ~uint64_t{0} - hi % 8;
  return KeyHash{lo, hi};
}

TEST(BlockIndexTest, MatchesAModelUnderRandomInsertsAndErasesWithCollidingHomes) {
  BlockIndex index;
  std::map<uint64_t, Ref> model;  // hash.hi -> ref
  std::mt19937_64 rng(42);
  for (int step = 0; step < 20000; ++step) {
    const KeyHash h = CollidingHash(rng() % 600);
    auto it = model.find(h.hi);
    if (it == model.end()) {
      ASSERT_EQ(index.Find(h), BlockIndex::kNone) << "step " << step;
      model[h.hi] = index.Insert(h);
    } else {
      ASSERT_EQ(index.Find(h), it->second) << "step " << step;
      if (rng() % 2 == 0) {
        index.Erase(it->second);
        model.erase(it);
      }
    }
    ASSERT_EQ(index.size(), model.size());
  }
  for (const auto& [hi, ref] : model) {
    EXPECT_EQ(index.Find(CollidingHash(hi)), ref);
    EXPECT_EQ(index.at(ref).hash, CollidingHash(hi));
  }
}

std::vector<Ref> LruOrder(const BlockIndex& index) {
  std::vector<Ref> order;  // oldest first
  for (Ref r = index.Oldest(); r != BlockIndex::kNone; r = index.NewerThan(r)) order.push_back(r);
  return order;
}

TEST(BlockIndexTest, LruListKeepsRecencyOrder) {
  BlockIndex index;
  Ref a = index.Insert(HashKey("a"));
  Ref b = index.Insert(HashKey("b"));
  Ref c = index.Insert(HashKey("c"));
  Ref d = index.Insert(HashKey("d"));
  index.PushFront(a);
  index.PushFront(b);
  index.PushFront(c);
  EXPECT_EQ(LruOrder(index), (std::vector<Ref>{a, b, c}));
  index.Touch(a);
  EXPECT_EQ(LruOrder(index), (std::vector<Ref>{b, c, a}));
  index.PushBack(d);
  EXPECT_EQ(LruOrder(index), (std::vector<Ref>{d, b, c, a}));
  index.Unlink(c);
  EXPECT_FALSE(index.InLru(c));
  index.Touch(c);  // not in the list: stays out
  EXPECT_EQ(LruOrder(index), (std::vector<Ref>{d, b, a}));
  index.Erase(b);  // erasing takes it out of the list
  EXPECT_EQ(LruOrder(index), (std::vector<Ref>{d, a}));
  index.Erase(d);
  index.Erase(a);
  EXPECT_EQ(index.Oldest(), BlockIndex::kNone);
}

TEST(BlockIndexTest, CostsFewBytesPerEntry) {
  BlockIndex index;
  constexpr int kEntries = 100000;
  for (int i = 0; i < kEntries; ++i) index.PushFront(index.Insert(HashKey(std::to_string(i))));
  const double per_entry = static_cast<double>(index.MemoryBytes()) / kEntries;
  RecordProperty("bytes_per_entry", std::to_string(per_entry));
  EXPECT_LE(per_entry, 80.0);
}

}  // namespace
}  // namespace shoal::cache
