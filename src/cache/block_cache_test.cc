// The contract every BlockCache keeps (cache.h), typed over the
// implementations. Each environment opens caches of a given limit and says
// what a block is charged against it.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "cache/cache.h"
#include "cache/disk_cache.h"
#include "cache/mem_cache.h"
#include "cache/test_util.h"

namespace shoal::cache {
namespace {

using testing::BlockData;
using testing::TestKey;

class MemEnv {
 public:
  BlockCache* Open(uint64_t limit_bytes) {
    cache_ = std::make_unique<MemCache>(limit_bytes);
    return cache_.get();
  }
  static uint64_t Charge(std::string_view key, size_t size) { return size; }

 private:
  std::unique_ptr<MemCache> cache_;
};

class DiskEnv {
 public:
  BlockCache* Open(uint64_t limit_bytes) {
    cache_.reset();
    DiskCacheOptions options;
    options.dirs = {dir_.path()};
    options.name = "test";
    options.limit_bytes = limit_bytes;
    options.min_free_ratio = 0;  // the test machine's disk may be fuller than the default floor
    Result<std::unique_ptr<DiskCache>> cache = DiskCache::Open(std::move(options));
    EXPECT_TRUE(cache.has_value()) << cache.error().ToString();
    if (!cache.has_value()) return nullptr;
    cache_ = std::move(*cache);
    cache_->WaitForScan();
    return cache_.get();
  }
  static uint64_t Charge(std::string_view key, size_t size) {
    return DiskCache::Charge(key.size(), size);
  }

 private:
  testing::TempDir dir_;
  std::unique_ptr<DiskCache> cache_;
};

template <typename Env>
class BlockCacheTest : public ::testing::Test {
 protected:
  // Opens a cache that holds exactly `blocks` blocks of kSize bytes.
  BlockCache& OpenFor(int blocks) {
    cache_ = env_.Open(blocks * Env::Charge(TestKey(0), kSize));
    if (cache_ == nullptr) ADD_FAILURE() << "cannot open the cache";
    return *cache_;
  }
  void PutBlock(int n) { cache_->Put(TestKey(n), BlockData(TestKey(n), kSize)); }
  bool Has(int n) {
    std::optional<std::string> got = cache_->Get(TestKey(n));
    if (got.has_value()) {
      EXPECT_EQ(*got, BlockData(TestKey(n), kSize)) << "block " << n;
    }
    return got.has_value();
  }

  static constexpr size_t kSize = 1000;
  Env env_;
  BlockCache* cache_ = nullptr;
};

using Envs = ::testing::Types<MemEnv, DiskEnv>;
class EnvNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    return std::is_same_v<T, MemEnv> ? "Mem" : "Disk";
  }
};
TYPED_TEST_SUITE(BlockCacheTest, Envs, EnvNames);

TYPED_TEST(BlockCacheTest, GetReturnsWhatWasPut) {
  BlockCache& cache = this->OpenFor(10);
  const std::string data = BlockData("a", 1000);
  cache.Put("vol/a", data);
  EXPECT_EQ(cache.Get("vol/a"), data);
  EXPECT_EQ(cache.Get("vol/a", 10, 20), data.substr(10, 20));
  EXPECT_EQ(cache.Get("vol/a", 990, 100), data.substr(990)) << "cut short at the end";
  EXPECT_EQ(cache.Get("vol/a", 1000, 5), "") << "at the end: empty, still a hit";
  EXPECT_EQ(cache.Get("vol/a", 5000, 5), "");
  EXPECT_EQ(cache.Get("vol/a", 3, 0), "");
  EXPECT_EQ(cache.Stats().hits, 6u);
}

TYPED_TEST(BlockCacheTest, UnknownKeyMisses) {
  BlockCache& cache = this->OpenFor(10);
  EXPECT_EQ(cache.Get("vol/nothing"), std::nullopt);
  EXPECT_EQ(cache.Get("vol/nothing", 0, 10), std::nullopt);
  EXPECT_EQ(cache.Stats().misses, 2u);
  EXPECT_EQ(cache.Stats().hits, 0u);
}

TYPED_TEST(BlockCacheTest, ContainsAsksTheIndexWithoutCountingAHit) {
  BlockCache& cache = this->OpenFor(10);
  EXPECT_FALSE(cache.Contains("vol/c"));
  cache.Put("vol/c", BlockData("c", 1000));
  EXPECT_TRUE(cache.Contains("vol/c"));
  ASSERT_TRUE(cache.Stage("vol/s", BlockData("s", 1000)).ok());
  EXPECT_TRUE(cache.Contains("vol/s")) << "a staged block is readable";
  cache.Remove("vol/c");
  EXPECT_FALSE(cache.Contains("vol/c"));
  EXPECT_EQ(cache.Stats().hits, 0u);
  EXPECT_EQ(cache.Stats().misses, 0u);
}

TYPED_TEST(BlockCacheTest, PutOfACachedKeyKeepsTheFirstCopy) {
  BlockCache& cache = this->OpenFor(10);
  cache.Put("vol/a", "first");
  cache.Put("vol/a", "second");
  EXPECT_EQ(cache.Get("vol/a"), "first");
  EXPECT_EQ(cache.Stats().inserts, 1u);
  EXPECT_EQ(cache.Stats().blocks, 1u);
}

TYPED_TEST(BlockCacheTest, RemoveForgetsABlock) {
  BlockCache& cache = this->OpenFor(10);
  this->PutBlock(1);
  this->PutBlock(2);
  cache.Remove(TestKey(1));
  cache.Remove("vol/never-cached");
  EXPECT_FALSE(this->Has(1));
  EXPECT_TRUE(this->Has(2));
  CacheStats s = cache.Stats();
  EXPECT_EQ(s.blocks, 1u);
  EXPECT_EQ(s.bytes, TypeParam::Charge(TestKey(2), this->kSize));
  EXPECT_EQ(s.evictions, 0u) << "a Remove is not an eviction";
  // Removed blocks can be cached again.
  this->PutBlock(1);
  EXPECT_TRUE(this->Has(1));
}

TYPED_TEST(BlockCacheTest, EvictsLeastRecentlyUsedFirst) {
  BlockCache& cache = this->OpenFor(3);
  this->PutBlock(1);
  this->PutBlock(2);
  this->PutBlock(3);
  EXPECT_TRUE(this->Has(1));  // 1 is now the most recent: 2 is the oldest
  this->PutBlock(4);
  EXPECT_FALSE(this->Has(2));
  this->PutBlock(5);  // recency, oldest first: 3, 1, 4
  EXPECT_FALSE(this->Has(3));
  EXPECT_TRUE(this->Has(1));
  EXPECT_TRUE(this->Has(4));
  EXPECT_TRUE(this->Has(5));
  CacheStats s = cache.Stats();
  EXPECT_EQ(s.evictions, 2u);
  EXPECT_EQ(s.blocks, 3u);
  EXPECT_LE(s.bytes, s.limit_bytes);
}

TYPED_TEST(BlockCacheTest, StatsCountWhatHappened) {
  BlockCache& cache = this->OpenFor(2);
  this->PutBlock(1);
  this->PutBlock(2);
  this->PutBlock(3);  // evicts 1
  EXPECT_TRUE(this->Has(3));
  EXPECT_TRUE(this->Has(2));
  EXPECT_FALSE(this->Has(1));
  // Larger than the whole cache.
  cache.Put("vol/huge", std::string(3 * TypeParam::Charge(TestKey(0), this->kSize), 'x'));
  CacheStats s = cache.Stats();
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.inserts, 3u);
  EXPECT_EQ(s.evictions, 1u);
  EXPECT_EQ(s.rejected, 1u);
  EXPECT_EQ(s.corrupt, 0u);
  EXPECT_EQ(s.errors, 0u);
  EXPECT_EQ(s.blocks, 2u);
  EXPECT_EQ(s.bytes, 2 * TypeParam::Charge(TestKey(1), this->kSize));
  EXPECT_EQ(s.limit_bytes, 2 * TypeParam::Charge(TestKey(0), this->kSize));
  EXPECT_FALSE(s.scanning);
}

TYPED_TEST(BlockCacheTest, StagedBlocksAreReadableListedAndNeverEvicted) {
  BlockCache& cache = this->OpenFor(3);
  const std::string a = BlockData(TestKey(101), this->kSize);
  const std::string b = BlockData(TestKey(102), this->kSize);
  ASSERT_TRUE(cache.Stage(TestKey(101), a).ok());
  ASSERT_TRUE(cache.Stage(TestKey(102), b).ok());
  ASSERT_TRUE(cache.Stage(TestKey(102), b).ok()) << "staging twice is fine";
  for (int i = 1; i <= 5; ++i) this->PutBlock(i);  // only one slot is left for these
  EXPECT_EQ(cache.Get(TestKey(101)), a);
  EXPECT_EQ(cache.Get(TestKey(102)), b);
  EXPECT_TRUE(this->Has(5));
  EXPECT_EQ(cache.ListStaged(), (std::vector<std::string>{TestKey(101), TestKey(102)}));
  CacheStats s = cache.Stats();
  EXPECT_EQ(s.staged_blocks, 2u);
  EXPECT_EQ(s.staged_bytes, 2 * TypeParam::Charge(TestKey(101), this->kSize));
  EXPECT_EQ(s.blocks, 3u);
  EXPECT_EQ(s.inserts, 7u);

  // Full of staged blocks: more staging is refused, caching is rejected.
  ASSERT_TRUE(cache.Stage(TestKey(103), BlockData(TestKey(103), this->kSize)).ok());
  Status full = cache.Stage(TestKey(104), BlockData(TestKey(104), this->kSize));
  EXPECT_EQ(full.code(), Code::kNoSpace) << full.ToString();
  this->PutBlock(6);
  EXPECT_FALSE(this->Has(6));
  EXPECT_GE(cache.Stats().rejected, 1u);

  // Once uploaded, a staged block is an ordinary cached one.
  cache.Uploaded(TestKey(101));
  cache.Uploaded("vol/not-staged");  // no-op
  EXPECT_EQ(cache.ListStaged(), (std::vector<std::string>{TestKey(102), TestKey(103)}));
  EXPECT_EQ(cache.Get(TestKey(101)), a);
  this->PutBlock(7);  // evicts 101, the only unstaged block
  EXPECT_TRUE(this->Has(7));
  EXPECT_EQ(cache.Get(TestKey(101)), std::nullopt);
  EXPECT_EQ(cache.Stats().staged_blocks, 2u);
}

TYPED_TEST(BlockCacheTest, StagingACachedBlockPinsIt) {
  BlockCache& cache = this->OpenFor(2);
  this->PutBlock(1);
  ASSERT_TRUE(cache.Stage(TestKey(1), BlockData(TestKey(1), this->kSize)).ok());
  this->PutBlock(2);
  this->PutBlock(3);  // evicts 2, not the staged 1
  EXPECT_TRUE(this->Has(1));
  EXPECT_FALSE(this->Has(2));
  EXPECT_EQ(cache.ListStaged(), std::vector<std::string>{TestKey(1)});
  EXPECT_EQ(cache.Stats().blocks, 2u);
}

TYPED_TEST(BlockCacheTest, RemoveDropsAStagedBlock) {
  BlockCache& cache = this->OpenFor(3);
  ASSERT_TRUE(cache.Stage(TestKey(1), BlockData(TestKey(1), this->kSize)).ok());
  cache.Remove(TestKey(1));
  EXPECT_TRUE(cache.ListStaged().empty());
  EXPECT_FALSE(this->Has(1));
  CacheStats s = cache.Stats();
  EXPECT_EQ(s.staged_blocks, 0u);
  EXPECT_EQ(s.staged_bytes, 0u);
  EXPECT_EQ(s.bytes, 0u);
}

TYPED_TEST(BlockCacheTest, LimitZeroDisablesTheCache) {
  BlockCache& cache = *this->env_.Open(0);
  cache.Put("vol/a", "data");
  EXPECT_EQ(cache.Get("vol/a"), std::nullopt);
  EXPECT_EQ(cache.Stage("vol/a", "data").code(), Code::kUnsupported);
  EXPECT_TRUE(cache.ListStaged().empty());
  CacheStats s = cache.Stats();
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.blocks, 0u);
  EXPECT_EQ(s.limit_bytes, 0u);
}

// Several threads put, get, remove and stage overlapping keys under a limit
// small enough to evict all the time: a Get returns either nothing or
// exactly the block's bytes, and the accounting ends consistent.
TYPED_TEST(BlockCacheTest, ConcurrentUseNeverReturnsWrongBytes) {
  BlockCache& cache = this->OpenFor(8);
  constexpr int kKeys = 24;
  constexpr int kThreads = 4;
  constexpr int kOps = 400;
  auto size_of = [](int k) { return 200 + 37 * static_cast<size_t>(k); };
  std::atomic<int> wrong{0};
  std::atomic<int> hits{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < kOps; ++i) {
        const int k = static_cast<int>(rng() % kKeys);
        const std::string key = TestKey(k);
        const std::string data = BlockData(key, size_of(k));
        switch (rng() % 8) {
          case 0:
            cache.Remove(key);
            break;
          case 1:
          case 2:
            cache.Put(key, data);
            break;
          case 3:
            // Keys 0-3 are the staged ones: they come and go through upload.
            if (k < 4 && cache.Stage(key, data).ok()) cache.Uploaded(key);
            break;
          default: {
            const bool whole = rng() % 2 == 0;
            const uint64_t off = rng() % data.size();
            std::optional<std::string> got = whole ? cache.Get(key) : cache.Get(key, off, 100);
            if (got.has_value()) {
              ++hits;
              if (*got != (whole ? data : data.substr(off, 100))) ++wrong;
            }
            break;
          }
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(hits.load(), 0);
  CacheStats s = cache.Stats();
  EXPECT_LE(s.bytes, s.limit_bytes);
  EXPECT_EQ(s.corrupt, 0u);
  EXPECT_EQ(s.errors, 0u);
  // Every block the stats count is really there.
  uint64_t present = 0;
  for (int k = 0; k < kKeys; ++k) {
    std::optional<std::string> got = cache.Get(TestKey(k));
    if (got.has_value()) {
      ++present;
      EXPECT_EQ(*got, BlockData(TestKey(k), size_of(k)));
    }
  }
  EXPECT_EQ(present, s.blocks);
}

}  // namespace
}  // namespace shoal::cache
