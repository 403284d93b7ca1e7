#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cache/disk_cache.h"
#include "chunk/chunk.h"
#include "chunk/test_util.h"
#include "object/fault_store.h"
#include "object/mem_store.h"

namespace shoal::chunk {
namespace {

using testing::AllObjects;
using testing::RandomBytes;
using testing::RecordingStore;

constexpr uint32_t kBlock = 1024;  // small blocks so that tests cross many boundaries cheaply

// The slice record for a freshly written slice shown whole at `pos`.
Slice Whole(uint64_t id, uint32_t size, uint32_t pos) { return Slice{id, size, 0, size, pos}; }

// Every test runs over each way of caching: none (reads fetch only the
// bytes asked for), the store's own MemCache, and a DiskCache.
enum class Mode { kDirect, kMemory, kDisk };

std::string ModeName(const ::testing::TestParamInfo<Mode>& info) {
  switch (info.param) {
    case Mode::kDirect:
      return "Direct";
    case Mode::kMemory:
      return "Memory";
    case Mode::kDisk:
      return "Disk";
  }
  return "?";
}

class BlockStoreTest : public ::testing::TestWithParam<Mode> {
 protected:
  void SetUp() override { blocks_ = Make(rec_); }

  // A block store over `store` in this test's mode. Written blocks are not
  // cached, so that reads exercise the fetch path.
  std::unique_ptr<BlockStore> Make(std::shared_ptr<object::ObjectStore> store) {
    BlockStoreOptions options;
    options.cache_writes = false;
    switch (GetParam()) {
      case Mode::kDirect:
        options.memory_cache_bytes = 0;
        break;
      case Mode::kMemory:
        options.memory_cache_bytes = 1 << 20;
        break;
      case Mode::kDisk: {
        cache::DiskCacheOptions disk;
        disk.dirs = {dir_.path()};
        disk.name = "c" + std::to_string(caches_++);
        disk.limit_bytes = 64 << 20;
        disk.min_free_ratio = 0;
        Result<std::unique_ptr<cache::DiskCache>> opened = cache::DiskCache::Open(disk);
        EXPECT_TRUE(opened.has_value()) << opened.error().ToString();
        if (opened.has_value()) options.cache = std::move(*opened);
        break;
      }
    }
    return std::make_unique<BlockStore>(std::move(store), "vol", kBlock, std::move(options));
  }
  bool cached() const { return GetParam() != Mode::kDirect; }
  std::map<std::string, uint64_t> Objects() { return AllObjects(*mem_); }

  testing::TempDir dir_;
  int caches_ = 0;
  std::shared_ptr<object::MemStore> mem_ = std::make_shared<object::MemStore>("block store test");
  std::shared_ptr<RecordingStore> rec_ = std::make_shared<RecordingStore>(mem_);
  std::unique_ptr<BlockStore> blocks_;
  std::mt19937_64 rng_{42};
};

INSTANTIATE_TEST_SUITE_P(Modes, BlockStoreTest,
                         ::testing::Values(Mode::kDirect, Mode::kMemory, Mode::kDisk), ModeName);

TEST_P(BlockStoreTest, BlockKeyFollowsTheFormat) {
  EXPECT_TRUE(std::regex_match(blocks_->BlockKey(1, 100, 0),
                               std::regex(R"(vol/chunks/[0-9a-f]{2}/0/1_0_100)")))
      << blocks_->BlockKey(1, 100, 0);
  const std::regex shape(R"(vol/chunks/[0-9a-f]{2}/1234/1234567890_2_952)");
  EXPECT_TRUE(std::regex_match(blocks_->BlockKey(1234567890, 3000, 2), shape))
      << blocks_->BlockKey(1234567890, 3000, 2);
  // Full blocks carry the block size, the last one what is left.
  EXPECT_TRUE(blocks_->BlockKey(7, 3000, 0).ends_with("/0/7_0_1024"));
  EXPECT_TRUE(blocks_->BlockKey(7, 3000, 1).ends_with("/0/7_1_1024"));
  EXPECT_TRUE(blocks_->BlockKey(7, 3000, 2).ends_with("/0/7_2_952"));
  EXPECT_TRUE(blocks_->BlockKey(7, 2048, 1).ends_with("/0/7_1_1024"));
  // The prefix depends on the id only.
  EXPECT_EQ(blocks_->BlockKey(7, 3000, 0).substr(0, 14), blocks_->BlockKey(7, 10, 0).substr(0, 14));
}

TEST_P(BlockStoreTest, BlockKeyPrefixIsPinned) {
  // XXH64 (seed 0) of the id's 8 little-endian bytes, mod 256, as two hex
  // digits. Pinned: changing these changes the on-disk format.
  EXPECT_EQ(blocks_->BlockKey(1, 1, 0), "vol/chunks/95/0/1_0_1");
  EXPECT_EQ(blocks_->BlockKey(2, 1, 0), "vol/chunks/b0/0/2_0_1");
  EXPECT_EQ(blocks_->BlockKey(1000000, 1, 0), "vol/chunks/1e/1/1000000_0_1");
}

TEST_P(BlockStoreTest, BlockKeysSpreadOverPrefixes) {
  std::set<std::string> prefixes;
  for (uint64_t id = 1; id <= 4096; ++id)
    prefixes.insert(blocks_->BlockKey(id, 1, 0).substr(11, 2));
  EXPECT_GE(prefixes.size(), 250u) << "sequential ids must spread over nearly all 256 prefixes";
}

TEST_P(BlockStoreTest, SliceKeysListEveryBlock) {
  EXPECT_TRUE(blocks_->SliceKeys(0, 5000).empty()) << "a hole has no objects";
  EXPECT_TRUE(blocks_->SliceKeys(3, 0).empty());
  std::vector<std::string> keys = blocks_->SliceKeys(3, 2049);
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_TRUE(keys[2].ends_with("3_2_1"));
}

TEST_P(BlockStoreTest, WritesAndReadsSlicesOfVariousSizes) {
  uint64_t id = 100;
  for (uint32_t size : {1u, 2u, kBlock - 1, kBlock, kBlock + 1, 4 * kBlock, 5 * kBlock + 17}) {
    ++id;
    std::string data = RandomBytes(rng_, size);
    ASSERT_TRUE(blocks_->WriteSlice(id, data).ok()) << "size " << size;
    // One object per block, each exactly as long as its name says.
    std::vector<std::string> keys = blocks_->SliceKeys(id, size);
    ASSERT_EQ(keys.size(), (size + kBlock - 1) / kBlock);
    std::map<std::string, uint64_t> objects = Objects();
    for (const std::string& key : keys) {
      ASSERT_TRUE(objects.contains(key)) << key;
      std::string length = key.substr(key.rfind('_') + 1);
      EXPECT_EQ(std::to_string(objects[key]), length) << key;
    }
    uint32_t pos = static_cast<uint32_t>(rng_() % 100000);
    std::string out;
    ASSERT_TRUE(blocks_->ReadChunk({Whole(id, size, pos)}, pos, size, &out).ok());
    EXPECT_EQ(out, data) << "size " << size;
  }
}

TEST_P(BlockStoreTest, ReadsTheVisiblePartOfASlice) {
  std::string data = RandomBytes(rng_, 3 * kBlock);
  ASSERT_TRUE(blocks_->WriteSlice(9, data).ok());
  // Bytes [1000, 2500) of the slice are visible at chunk position 50000.
  std::vector<Slice> slices = {Slice{9, 3 * kBlock, 1000, 1500, 50000}};
  std::string out;
  ASSERT_TRUE(blocks_->ReadChunk(slices, 50000, 1500, &out).ok());
  EXPECT_EQ(out, data.substr(1000, 1500));
}

TEST_P(BlockStoreTest, NewestSliceWins) {
  std::string a = RandomBytes(rng_, 4000);
  std::string b = RandomBytes(rng_, 1000);
  ASSERT_TRUE(blocks_->WriteSlice(1, a).ok());
  ASSERT_TRUE(blocks_->WriteSlice(2, b).ok());
  std::string out;
  ASSERT_TRUE(blocks_->ReadChunk({Whole(1, 4000, 0), Whole(2, 1000, 1500)}, 0, 4000, &out).ok());
  std::string want = a;
  want.replace(1500, 1000, b);
  EXPECT_EQ(out, want);
}

TEST_P(BlockStoreTest, HolesAndGapsReadAsZeros) {
  std::string a = RandomBytes(rng_, 3000);
  ASSERT_TRUE(blocks_->WriteSlice(1, a).ok());
  std::string out = "leftover bytes must be replaced";
  // Slice at [100, 3100), a hole over [500, 700), and nothing past 3100.
  ASSERT_TRUE(
      blocks_->ReadChunk({Whole(1, 3000, 100), Slice{0, 0, 0, 200, 500}}, 0, 4000, &out).ok());
  std::string want(4000, '\0');
  want.replace(100, 3000, a);
  want.replace(500, 200, std::string(200, '\0'));
  EXPECT_EQ(out, want);

  // A read of nothing but gap touches no object.
  int gets = rec_->gets();
  ASSERT_TRUE(blocks_->ReadChunk({Whole(1, 3000, 100)}, 5000, 100, &out).ok());
  EXPECT_EQ(out, std::string(100, '\0'));
  EXPECT_EQ(rec_->gets(), gets);
}

TEST_P(BlockStoreTest, RangeReadsFetchOnlyTheBytesNeeded) {
  std::string data = RandomBytes(rng_, 10 * kBlock + 5);
  ASSERT_TRUE(blocks_->WriteSlice(5, data).ok());
  std::vector<Slice> slices = {Whole(5, static_cast<uint32_t>(data.size()), 0)};
  std::set<uint32_t> touched;  // blocks read at least once
  for (int i = 0; i < 200; ++i) {
    uint32_t len = static_cast<uint32_t>(rng_() % (4 * kBlock));
    uint32_t pos = static_cast<uint32_t>(rng_() % (data.size() - len + 1));
    for (uint32_t b = pos / kBlock; len > 0 && b <= (pos + len - 1) / kBlock; ++b)
      touched.insert(b);
    uint64_t read_before = rec_->bytes_read();
    int gets_before = rec_->gets();
    std::string out;
    ASSERT_TRUE(blocks_->ReadChunk(slices, pos, len, &out).ok());
    ASSERT_EQ(out, data.substr(pos, len)) << pos << "+" << len;
    if (cached()) continue;
    EXPECT_EQ(rec_->bytes_read() - read_before, len) << "reads only what is asked for";
    int blocks_touched =
        len == 0 ? 0 : static_cast<int>((pos + len - 1) / kBlock - pos / kBlock + 1);
    EXPECT_EQ(rec_->gets() - gets_before, blocks_touched) << pos << "+" << len;
  }
  if (cached()) {
    // Whole blocks, each fetched once: the cache serves every later read.
    uint64_t bytes = 0;
    for (uint32_t b : touched) bytes += std::min<uint64_t>(kBlock, data.size() - b * kBlock);
    EXPECT_EQ(rec_->gets(), static_cast<int>(touched.size()));
    EXPECT_EQ(rec_->bytes_read(), bytes);
  }
}

// Random slice lists, read in random ranges, against a byte model of the chunk.
TEST_P(BlockStoreTest, RandomSlicesMatchByteModel) {
  constexpr uint32_t kWindow = 64 << 10;
  std::string model(kWindow, '\0');
  std::vector<Slice> slices;
  for (uint64_t id = 1; id <= 60; ++id) {
    if (rng_() % 8 == 0) {
      uint32_t len = 1 + static_cast<uint32_t>(rng_() % 8000);
      uint32_t pos = static_cast<uint32_t>(rng_() % (kWindow - len + 1));
      slices.push_back(Slice{0, 0, 0, len, pos});
      model.replace(pos, len, std::string(len, '\0'));
    } else {
      uint32_t size = 1 + static_cast<uint32_t>(rng_() % 8000);
      std::string data = RandomBytes(rng_, size);
      ASSERT_TRUE(blocks_->WriteSlice(id, data).ok());
      // Show a random part of the slice at a random place.
      uint32_t off = static_cast<uint32_t>(rng_() % size);
      uint32_t len = 1 + static_cast<uint32_t>(rng_() % (size - off));
      uint32_t pos = static_cast<uint32_t>(rng_() % (kWindow - len + 1));
      slices.push_back(Slice{id, size, off, len, pos});
      model.replace(pos, len, data.substr(off, len));
    }
    for (int q = 0; q < 5; ++q) {
      uint32_t len = static_cast<uint32_t>(rng_() % 20000);
      uint32_t pos = static_cast<uint32_t>(rng_() % (kWindow - len + 1));
      std::string out;
      ASSERT_TRUE(blocks_->ReadChunk(slices, pos, len, &out).ok());
      ASSERT_EQ(out, model.substr(pos, len))
          << "after slice " << id << ", read " << pos << "+" << len;
    }
  }
}

TEST_P(BlockStoreTest, MissingObjectIsIoErrorNamingTheKey) {
  ASSERT_TRUE(blocks_->WriteSlice(8, RandomBytes(rng_, 3 * kBlock)).ok());
  std::string key = blocks_->BlockKey(8, 3 * kBlock, 1);
  ASSERT_TRUE(mem_->Head(key).has_value());
  ASSERT_TRUE(mem_->Delete(key).ok());
  std::string out;
  Status st = blocks_->ReadChunk({Whole(8, 3 * kBlock, 0)}, 0, 3 * kBlock, &out);
  EXPECT_EQ(st.code(), Code::kIo);
  EXPECT_NE(st.message().find(key), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("missing"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("fsck"), std::string::npos) << st.message();
  // Reads that do not touch the missing block still work.
  EXPECT_TRUE(blocks_->ReadChunk({Whole(8, 3 * kBlock, 0)}, 0, kBlock, &out).ok());
}

TEST_P(BlockStoreTest, ShortObjectIsIoErrorNamingTheKey) {
  ASSERT_TRUE(blocks_->WriteSlice(8, RandomBytes(rng_, 2 * kBlock)).ok());
  std::string key = blocks_->BlockKey(8, 2 * kBlock, 1);
  ASSERT_TRUE(mem_->Put(key, std::string(100, 'x')).ok());
  std::string out;
  Status st = blocks_->ReadChunk({Whole(8, 2 * kBlock, 0)}, 0, 2 * kBlock, &out);
  EXPECT_EQ(st.code(), Code::kIo);
  EXPECT_NE(st.message().find(key), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("short (expected 1024 bytes at offset 0, got 100)"),
            std::string::npos)
      << st.message();
}

TEST_P(BlockStoreTest, SliceRecordLargerThanSliceIsCorrupt) {
  ASSERT_TRUE(blocks_->WriteSlice(8, RandomBytes(rng_, 100)).ok());
  std::string out;
  Status st = blocks_->ReadChunk({Slice{8, 100, 50, 60, 0}}, 0, 60, &out);
  EXPECT_EQ(st.code(), Code::kCorrupt) << st.ToString();
}

TEST_P(BlockStoreTest, ReadPastTheChunkIsInvalid) {
  std::string out;
  Status st = blocks_->ReadChunk({}, static_cast<uint32_t>(kChunkSize - 10), 11, &out);
  EXPECT_EQ(st.code(), Code::kInvalid);
}

// The failure names the key; a disk cache keeps the failed block (the write
// succeeds, and the failure comes back as `deferred`), other modes fail.
TEST_P(BlockStoreTest, WriteFailureNamesTheKey) {
  std::string key = blocks_->BlockKey(11, 5 * kBlock, 3);
  rec_->FailPutOf(key);
  Status deferred;
  Status st = blocks_->WriteSlice(11, RandomBytes(rng_, 5 * kBlock), &deferred);
  EXPECT_EQ(st.ok(), GetParam() == Mode::kDisk) << st.ToString();
  const Status& failure = st.ok() ? deferred : st;
  EXPECT_EQ(failure.code(), Code::kIo);
  EXPECT_NE(failure.message().find(key), std::string::npos) << failure.message();
  EXPECT_NE(failure.message().find("on purpose"), std::string::npos) << failure.message();
}

TEST_P(BlockStoreTest, WriteRejectsBadSlices) {
  EXPECT_EQ(blocks_->WriteSlice(0, "abc").code(), Code::kInvalid);
  std::string too_big(kChunkSize + 1, 'x');
  EXPECT_EQ(blocks_->WriteSlice(1, too_big).code(), Code::kInvalid);
  EXPECT_TRUE(Objects().empty());
}

TEST_P(BlockStoreTest, WritesBlocksInParallel) {
  rec_->SetPutDelay(std::chrono::milliseconds(2));
  std::string data = RandomBytes(rng_, 16 * kBlock);
  ASSERT_TRUE(blocks_->WriteSlice(12, data).ok());
  EXPECT_GT(rec_->max_puts_in_flight(), 1);
  EXPECT_LE(rec_->max_puts_in_flight(), BlockStoreOptions().upload_concurrency);
  EXPECT_EQ(Objects().size(), 16u);
  std::string out;
  ASSERT_TRUE(blocks_->ReadChunk({Whole(12, 16 * kBlock, 0)}, 0, 16 * kBlock, &out).ok());
  EXPECT_EQ(out, data);
}

TEST_P(BlockStoreTest, DeleteSliceRemovesEveryObject) {
  ASSERT_TRUE(blocks_->WriteSlice(20, RandomBytes(rng_, 3 * kBlock + 1)).ok());
  ASSERT_TRUE(blocks_->WriteSlice(21, RandomBytes(rng_, 10)).ok());
  ASSERT_EQ(Objects().size(), 5u);
  ASSERT_TRUE(blocks_->DeleteSlice(20, 3 * kBlock + 1).ok());
  std::map<std::string, uint64_t> left = Objects();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_TRUE(left.contains(blocks_->BlockKey(21, 10, 0)));
  EXPECT_TRUE(blocks_->DeleteSlice(20, 3 * kBlock + 1).ok()) << "deleting again is fine";
  EXPECT_TRUE(blocks_->DeleteSlice(0, 0).ok()) << "a hole has nothing to delete";
}

// With a store that fails at random, every call either succeeds with the
// right bytes or reports the store's failure; never wrong data.
TEST_P(BlockStoreTest, FailingStoreNeverGivesWrongData) {
  auto faulty = std::make_shared<object::FaultStore>(mem_, 99);
  std::unique_ptr<BlockStore> blocks = Make(faulty);
  std::string data = RandomBytes(rng_, 6 * kBlock + 3);
  const auto size = static_cast<uint32_t>(data.size());
  // Several slices, so that a cache (which keeps a block once fetched) still
  // sees failing first fetches.
  for (uint64_t id = 30; id < 40; ++id) ASSERT_TRUE(blocks->WriteSlice(id, data).ok());
  faulty->SetFailureRate(object::FaultStore::Op::kGet, 0.2);
  faulty->SetFailureRate(object::FaultStore::Op::kPut, 0.2);
  int read_failures = 0;
  for (int i = 0; i < 50; ++i) {
    std::string out;
    Status st = blocks->ReadChunk({Whole(30 + i % 10, size, 0)}, 0, size, &out);
    if (st.ok()) {
      ASSERT_EQ(out, data);
    } else {
      ++read_failures;
      EXPECT_EQ(st.code(), Code::kUnavailable) << st.ToString();
      EXPECT_NE(st.message().find("vol/chunks/"), std::string::npos) << st.message();
    }
  }
  EXPECT_GT(read_failures, 0);
  // Failed writes: reported by WriteSlice, or with a disk cache, which keeps
  // the blocks, as `deferred`.
  int write_failures = 0;
  for (uint64_t id = 41; id < 51; ++id) {
    Status deferred;
    Status st = blocks->WriteSlice(id, data, &deferred);
    EXPECT_TRUE(deferred.ok() || GetParam() == Mode::kDisk) << deferred.ToString();
    const Status& failure = st.ok() ? deferred : st;
    if (!failure.ok()) {
      ++write_failures;
      EXPECT_EQ(failure.code(), Code::kUnavailable) << failure.ToString();
      EXPECT_NE(failure.message().find("slice " + std::to_string(id)), std::string::npos)
          << failure.message();
    }
    if (st.ok()) {  // whatever was kept reads back right
      std::string out;
      Status read = blocks->ReadChunk({Whole(id, size, 0)}, 0, size, &out);
      if (read.ok()) {
        EXPECT_EQ(out, data);
      }
    }
  }
  EXPECT_GT(write_failures, 0);
}

TEST_P(BlockStoreTest, CorruptedShortReadIsIoError) {
  auto faulty = std::make_shared<object::FaultStore>(mem_);
  std::unique_ptr<BlockStore> blocks = Make(faulty);
  ASSERT_TRUE(blocks->WriteSlice(40, RandomBytes(rng_, 2 * kBlock)).ok());
  faulty->SetGetHook(object::FaultStore::Truncate(10));
  std::string out;
  Status st = blocks->ReadChunk({Whole(40, 2 * kBlock, 0)}, 0, 2 * kBlock, &out);
  EXPECT_EQ(st.code(), Code::kIo);
  EXPECT_NE(st.message().find(blocks->BlockKey(40, 2 * kBlock, 0)), std::string::npos)
      << st.message();
  // Nothing damaged was cached: once the store behaves, the bytes are right.
  faulty->SetGetHook(nullptr);
  EXPECT_TRUE(blocks->ReadChunk({Whole(40, 2 * kBlock, 0)}, 0, 2 * kBlock, &out).ok());
}

TEST(BlockStoreBadSize, ZeroBlockSizeFailsInsteadOfCrashing) {
  BlockStore blocks(std::make_shared<object::MemStore>(), "vol", 0);
  std::string out;
  EXPECT_EQ(blocks.WriteSlice(1, "abc").code(), Code::kInternal);
  EXPECT_EQ(blocks.ReadChunk({Whole(1, 3, 0)}, 0, 3, &out).code(), Code::kInternal);
  EXPECT_EQ(blocks.DeleteSlice(1, 3).code(), Code::kInternal);
}

}  // namespace
}  // namespace shoal::chunk
