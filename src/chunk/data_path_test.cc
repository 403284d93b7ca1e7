// Tests of the block store's data path: caching, single flight, readahead,
// parallel and bounded uploads, write-back.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cache/disk_cache.h"
#include "cache/mem_cache.h"
#include "chunk/chunk.h"
#include "chunk/task_pool.h"
#include "chunk/test_util.h"
#include "object/mem_store.h"

namespace shoal::chunk {
namespace {

using testing::AllObjects;
using testing::RandomBytes;
using testing::RecordingStore;
using testing::WaitUntil;
using namespace std::chrono_literals;

constexpr uint32_t kBlock = 64 << 10;

Slice Whole(uint64_t id, uint32_t size, uint32_t pos) { return Slice{id, size, 0, size, pos}; }

class DataPathTest : public ::testing::Test {
 protected:
  std::shared_ptr<cache::DiskCache> OpenDisk(uint64_t limit = 256 << 20) {
    cache::DiskCacheOptions o;
    o.dirs = {dir_.path()};
    o.name = "dp";
    o.limit_bytes = limit;
    o.min_free_ratio = 0;
    Result<std::unique_ptr<cache::DiskCache>> opened = cache::DiskCache::Open(o);
    EXPECT_TRUE(opened.has_value()) << opened.error().ToString();
    if (!opened.has_value()) return nullptr;
    return std::shared_ptr<cache::DiskCache>(std::move(*opened));
  }

  std::unique_ptr<BlockStore> Make(BlockStoreOptions options) {
    return std::make_unique<BlockStore>(rec_, "vol", kBlock, std::move(options));
  }

  // Writes slice `id` of `blocks` blocks straight into the store (not
  // through a cache) and returns its bytes.
  std::string Seed(uint64_t id, uint32_t blocks) {
    std::string data = RandomBytes(rng_, uint64_t{blocks} * kBlock);
    BlockStore plain(mem_, "vol", kBlock, NoCache());
    EXPECT_TRUE(plain.WriteSlice(id, data).ok());
    return data;
  }

  static BlockStoreOptions NoCache() {
    BlockStoreOptions o;
    o.memory_cache_bytes = 0;
    return o;
  }

  testing::TempDir dir_;
  std::shared_ptr<object::MemStore> mem_ = std::make_shared<object::MemStore>("data path test");
  std::shared_ptr<RecordingStore> rec_ = std::make_shared<RecordingStore>(mem_);
  std::mt19937_64 rng_{7};
};

// ---------------------------------------------------------------------------
// Reads

TEST_F(DataPathTest, ConcurrentReadersOfABlockCauseOneGet) {
  for (bool disk : {false, true}) {
    SCOPED_TRACE(disk ? "disk cache" : "memory cache");
    BlockStoreOptions o;
    if (disk) o.cache = OpenDisk();
    const uint64_t id = disk ? 2 : 1;
    std::string data = Seed(id, 1);
    std::unique_ptr<BlockStore> blocks = Make(o);
    const std::string key = blocks->BlockKey(id, kBlock, 0);
    rec_->HoldGets(true);
    const int gets_before = rec_->gets();
    constexpr int kReaders = 8;
    std::vector<std::thread> readers;
    std::atomic<int> right{0};
    for (int i = 0; i < kReaders; ++i) {
      readers.emplace_back([&, i] {
        const uint32_t pos = i * 1000;
        std::string out;
        Status st = blocks->ReadChunk({Whole(id, kBlock, 0)}, pos, 5000, &out);
        if (st.ok() && out == data.substr(pos, 5000)) ++right;
      });
    }
    EXPECT_TRUE(rec_->WaitForGets(gets_before + 1));
    std::this_thread::sleep_for(20ms);  // let the others arrive and join
    rec_->HoldGets(false);
    for (std::thread& t : readers) t.join();
    EXPECT_EQ(right, kReaders);
    EXPECT_EQ(rec_->gets_of(key), 1);
    BlockStoreStats s = blocks->Stats();
    EXPECT_EQ(s.fetches, 1u);
    EXPECT_EQ(s.read_hits + s.joined, uint64_t{kReaders - 1});
  }
}

TEST_F(DataPathTest, PartialReadFetchesTheWholeBlockOnce) {
  for (bool disk : {false, true}) {
    SCOPED_TRACE(disk ? "disk cache" : "memory cache");
    BlockStoreOptions o;
    if (disk) o.cache = OpenDisk();
    const uint64_t id = disk ? 11 : 10;
    std::string data = Seed(id, 3);
    std::unique_ptr<BlockStore> blocks = Make(o);
    const std::vector<Slice> slices = {Whole(id, 3 * kBlock, 0)};
    const std::string key = blocks->BlockKey(id, 3 * kBlock, 1);
    std::string out;
    ASSERT_TRUE(blocks->ReadChunk(slices, kBlock + 100, 10, &out).ok());
    EXPECT_EQ(out, data.substr(kBlock + 100, 10));
    EXPECT_EQ(rec_->gets_of(key), 1);
    const int gets = rec_->gets();
    // The rest of the block, in small reads as the kernel makes them.
    for (uint32_t pos = kBlock; pos < 2 * kBlock; pos += 4096) {
      ASSERT_TRUE(blocks->ReadChunk(slices, pos, 4096, &out).ok());
      ASSERT_EQ(out, data.substr(pos, 4096));
    }
    EXPECT_EQ(rec_->gets(), gets) << "every later read of the block comes from the cache";
  }
}

TEST_F(DataPathTest, BlocksOfOneReadAreFetchedInParallel) {
  std::string data = Seed(20, 16);
  BlockStoreOptions o;
  o.download_concurrency = 4;
  std::unique_ptr<BlockStore> blocks = Make(o);
  rec_->SetGetDelay(20ms);
  std::string out;
  ASSERT_TRUE(blocks->ReadChunk({Whole(20, 16 * kBlock, 0)}, 0, 16 * kBlock, &out).ok());
  EXPECT_EQ(out, data);
  EXPECT_GT(rec_->max_gets_in_flight(), 1);
  // The pool's workers plus the reader itself.
  EXPECT_LE(rec_->max_gets_in_flight(), 4 + 1);
}

// Random slice lists over two chunks, read through streams and plainly, in
// random and sequential ranges, against a byte model; with and without a cache.
TEST_F(DataPathTest, ReadsMatchAByteModelAcrossBlocksSlicesAndChunks) {
  constexpr uint64_t kSpan = 6 * kBlock;  // around the boundary of chunks 0 and 1
  constexpr uint64_t kBase = kChunkSize - kSpan / 2;
  std::string model(kSpan, '\0');
  std::vector<Slice> lists[2];
  BlockStore writer(mem_, "vol", kBlock, NoCache());
  for (uint64_t id = 100; id < 130; ++id) {
    const uint64_t len = 1 + rng_() % (2 * kBlock);
    const uint64_t at = rng_() % (kSpan - len + 1);
    if (rng_() % 6 == 0) {
      // A hole, cut at the chunk boundary like every slice.
      for (uint64_t p = at; p < at + len;) {
        const uint64_t file = kBase + p;
        const uint64_t chunk = file / kChunkSize;
        const uint64_t n = std::min(at + len - p, (chunk + 1) * kChunkSize - file);
        lists[chunk].push_back(
            Slice{0, 0, 0, static_cast<uint32_t>(n), static_cast<uint32_t>(file % kChunkSize)});
        model.replace(p, n, std::string(n, '\0'));
        p += n;
      }
      continue;
    }
    std::string data = RandomBytes(rng_, len);
    for (uint64_t p = at, sub = 0; p < at + len; ++sub) {
      const uint64_t file = kBase + p;
      const uint64_t chunk = file / kChunkSize;
      const uint64_t n = std::min(at + len - p, (chunk + 1) * kChunkSize - file);
      const uint64_t sid = id * 10 + sub;
      std::string part = data.substr(p - at, n);
      ASSERT_TRUE(writer.WriteSlice(sid, part).ok());
      lists[chunk].push_back(
          Whole(sid, static_cast<uint32_t>(n), static_cast<uint32_t>(file % kChunkSize)));
      model.replace(p, n, part);
      p += n;
    }
  }
  // A file read of [off, off+len) relative to kBase, cut at chunk boundaries.
  auto read = [&](BlockStore& blocks, ReadStream* stream, uint64_t off, uint64_t len) {
    std::string got;
    for (uint64_t p = off; p < off + len;) {
      const uint64_t file = kBase + p;
      const auto chunk = static_cast<uint32_t>(file / kChunkSize);
      const auto pos = static_cast<uint32_t>(file % kChunkSize);
      const auto n = static_cast<uint32_t>(std::min(off + len - p, kChunkSize - pos));
      std::string part;
      Status st = stream ? stream->Read(chunk, lists[chunk], pos, n, &part)
                         : blocks.ReadChunk(lists[chunk], pos, n, &part);
      EXPECT_TRUE(st.ok()) << st.ToString();
      got += part;
      p += n;
    }
    return got;
  };
  for (int mode = 0; mode < 3; ++mode) {
    SCOPED_TRACE(mode == 0 ? "no cache" : mode == 1 ? "memory cache" : "disk cache");
    BlockStoreOptions o = mode == 0 ? NoCache() : BlockStoreOptions{};
    if (mode == 2) o.cache = OpenDisk();
    o.readahead_max_window = 4 * kBlock;
    std::unique_ptr<BlockStore> blocks = Make(o);
    std::unique_ptr<ReadStream> stream =
        blocks->OpenStream([&](uint32_t index) -> Result<std::vector<Slice>> {
          if (index > 1) return std::vector<Slice>{};
          return lists[index];
        });
    for (int q = 0; q < 60; ++q) {
      const uint64_t len = rng_() % (3 * kBlock);
      const uint64_t off = rng_() % (kSpan - len + 1);
      ASSERT_EQ(read(*blocks, nullptr, off, len), model.substr(off, len)) << off << "+" << len;
      ASSERT_EQ(read(*blocks, stream.get(), off, len), model.substr(off, len)) << off << "+" << len;
    }
    // Sequentially, through the stream, in kernel-sized reads.
    std::string whole;
    for (uint64_t off = 0; off < kSpan; off += 16 << 10) {
      whole += read(*blocks, stream.get(), off, std::min<uint64_t>(16 << 10, kSpan - off));
    }
    EXPECT_EQ(whole, model);
  }
}

TEST_F(DataPathTest, CorruptCachedBlockIsFetchedAgain) {
  std::shared_ptr<cache::DiskCache> disk = OpenDisk();
  BlockStoreOptions o;
  o.cache = disk;
  std::string data = Seed(30, 2);
  std::unique_ptr<BlockStore> blocks = Make(o);
  const std::vector<Slice> slices = {Whole(30, 2 * kBlock, 0)};
  std::string out;
  ASSERT_TRUE(blocks->ReadChunk(slices, 0, 2 * kBlock, &out).ok());
  const std::string key = blocks->BlockKey(30, 2 * kBlock, 1);
  ASSERT_EQ(rec_->gets_of(key), 1);
  // Flip a byte of the data at the end of the cached file.
  // The fetcher caches a block after handing it to its readers.
  const std::string path = disk->CachedPath(key);
  ASSERT_TRUE(WaitUntil([&] { return disk->Stats().blocks == 2; }));
  ASSERT_TRUE(std::filesystem::exists(path)) << path;
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(-10, std::ios::end);
    char c;
    f.read(&c, 1);
    c = static_cast<char>(~c);
    f.seekp(-10, std::ios::end);
    f.write(&c, 1);
  }
  ASSERT_TRUE(blocks->ReadChunk(slices, kBlock, kBlock, &out).ok());
  EXPECT_EQ(out, data.substr(kBlock));
  EXPECT_EQ(rec_->gets_of(key), 2);
  EXPECT_GE(disk->Stats().corrupt, 1u);
  // And the copy fetched again is good.
  ASSERT_TRUE(blocks->ReadChunk(slices, kBlock, kBlock, &out).ok());
  EXPECT_EQ(out, data.substr(kBlock));
  EXPECT_EQ(rec_->gets_of(key), 2);
}

// A memory cache whose Put waits until the test opens the gate.
class GatedCache : public cache::MemCache {
 public:
  GatedCache() : cache::MemCache(64 << 20) {}
  void Put(std::string_view key, std::string_view data) override {
    ++puts_started;
    opened.wait();
    cache::MemCache::Put(key, data);
  }
  std::atomic<int> puts_started{0};
  std::promise<void> gate;
  std::shared_future<void> opened = gate.get_future().share();
};

TEST_F(DataPathTest, ReadsDoNotWaitForTheCacheFill) {
  auto cache = std::make_shared<GatedCache>();
  BlockStoreOptions o;
  o.cache = cache;
  std::string data = Seed(35, 1);
  std::unique_ptr<BlockStore> blocks = Make(o);
  const std::vector<Slice> slices = {Whole(35, kBlock, 0)};
  std::string out;
  // The fill is stuck behind the gate, yet the read returns.
  auto first =
      std::async(std::launch::async, [&] { return blocks->ReadChunk(slices, 0, kBlock, &out); });
  if (first.wait_for(10s) != std::future_status::ready) {
    cache->gate.set_value();
    FAIL() << "the read waited for the cache fill";
  }
  ASSERT_TRUE(first.get().ok());
  EXPECT_EQ(out, data);
  ASSERT_TRUE(WaitUntil([&] { return cache->puts_started.load() == 1; }));
  // Meanwhile a second read joins the landed flight: no second GET.
  ASSERT_TRUE(blocks->ReadChunk(slices, 100, 1000, &out).ok());
  EXPECT_EQ(out, data.substr(100, 1000));
  EXPECT_EQ(rec_->gets(), 1);
  cache->gate.set_value();
  ASSERT_TRUE(WaitUntil([&] { return cache->Get(blocks->BlockKey(35, kBlock, 0)).has_value(); }));
  ASSERT_TRUE(blocks->ReadChunk(slices, 0, kBlock, &out).ok());
  EXPECT_EQ(out, data);
  EXPECT_EQ(rec_->gets(), 1);
}

// ---------------------------------------------------------------------------
// Readahead

TEST_F(DataPathTest, SequentialStreamFetchesAheadAndGrowsItsWindow) {
  constexpr uint32_t kBlocks = 32;
  std::string data = Seed(40, kBlocks);
  BlockStoreOptions o;
  o.readahead_max_window = 8 * kBlock;
  std::unique_ptr<BlockStore> blocks = Make(o);
  const std::vector<Slice> slices = {Whole(40, kBlocks * kBlock, 0)};
  std::unique_ptr<ReadStream> stream = blocks->OpenStream();
  uint64_t last_window = 0;
  bool grew = false;
  constexpr uint32_t kRead = 16 << 10;
  for (uint32_t pos = 0; pos < kBlocks * kBlock; pos += kRead) {
    std::string out;
    ASSERT_TRUE(stream->Read(0, slices, pos, kRead, &out).ok());
    ASSERT_EQ(out, data.substr(pos, kRead));
    grew = grew || stream->window() > last_window;
    last_window = stream->window();
    // Once readahead has landed, the next block is there before it is read.
    ASSERT_TRUE(WaitUntil([&] { return blocks->Stats().readahead_bytes_in_flight == 0; }));
    const uint32_t next = pos / kBlock + 1;
    if (next < kBlocks) {
      EXPECT_EQ(rec_->gets_of(blocks->BlockKey(40, kBlocks * kBlock, next)), 1)
          << "block " << next << " not prefetched while reading at " << pos;
    }
  }
  EXPECT_TRUE(grew);
  EXPECT_EQ(stream->window(), 8u * kBlock) << "the window grows to its maximum";
  EXPECT_EQ(rec_->gets(), static_cast<int>(kBlocks)) << "each block fetched exactly once";
  BlockStoreStats s = blocks->Stats();
  EXPECT_EQ(s.readahead_issued, kBlocks - 1u);
  EXPECT_EQ(s.readahead_used, kBlocks - 1u);
  EXPECT_EQ(s.readahead_wasted, 0u);
  // Every read after the first block's was a cache hit.
  EXPECT_EQ(s.read_misses, 1u + s.joined);
}

// The kernel sends a sequential reader's requests in parallel, and they
// arrive out of order: that is still one sequential stream.
TEST_F(DataPathTest, ReadsArrivingSlightlyOutOfOrderStillCountAsSequential) {
  constexpr uint32_t kBlocks = 32;
  std::string data = Seed(45, kBlocks);
  BlockStoreOptions o;
  o.readahead_max_window = 8 * kBlock;
  std::unique_ptr<BlockStore> blocks = Make(o);
  const std::vector<Slice> slices = {Whole(45, kBlocks * kBlock, 0)};
  std::unique_ptr<ReadStream> stream = blocks->OpenStream();
  constexpr uint32_t kRead = 16 << 10;
  constexpr uint32_t kGroup = 6;  // reads in flight at once, served last first
  for (uint32_t group = 0; group < kBlocks * kBlock; group += kGroup * kRead) {
    for (uint32_t i = kGroup; i-- > 0;) {
      const uint32_t pos = group + i * kRead;
      if (pos >= kBlocks * kBlock) continue;
      std::string out;
      ASSERT_TRUE(stream->Read(0, slices, pos, kRead, &out).ok());
      ASSERT_EQ(out, data.substr(pos, kRead));
    }
  }
  EXPECT_EQ(stream->window(), 8u * kBlock) << "the window grows to its maximum";
  ASSERT_TRUE(WaitUntil([&] { return blocks->Stats().readahead_bytes_in_flight == 0; }));
  EXPECT_EQ(rec_->gets(), static_cast<int>(kBlocks)) << "each block fetched exactly once";
  EXPECT_EQ(blocks->Stats().readahead_wasted, 0u);
}

// Without a disk cache the read-ahead blocks wait in the memory cache; sized
// by MemoryCacheForReadahead, none is evicted before it is read.
TEST_F(DataPathTest, ReadaheadIntoTheMemoryCacheFetchesEachBlockOnce) {
  constexpr uint32_t kBlocks = 64;
  std::string data = Seed(47, kBlocks);
  BlockStoreOptions o;
  o.readahead_max_window = 8 * kBlock;
  o.readahead_bytes = 8 * kBlock;
  o.memory_cache_bytes = MemoryCacheForReadahead(o.readahead_bytes, kBlock);
  std::unique_ptr<BlockStore> blocks = Make(o);
  const std::vector<Slice> slices = {Whole(47, kBlocks * kBlock, 0)};
  std::unique_ptr<ReadStream> stream = blocks->OpenStream();
  constexpr uint32_t kRead = kBlock / 4;  // the kernel's requests are smaller than a block
  for (uint32_t pos = 0; pos < kBlocks * kBlock; pos += kRead) {
    std::string out;
    ASSERT_TRUE(stream->Read(0, slices, pos, kRead, &out).ok());
    ASSERT_EQ(out, data.substr(pos, kRead));
    // A reader slower than the store: the window lands before it moves on.
    ASSERT_TRUE(WaitUntil([&] { return blocks->Stats().readahead_bytes_in_flight == 0; }));
  }
  EXPECT_EQ(rec_->gets(), static_cast<int>(kBlocks)) << "a block was fetched twice";
}

TEST_F(DataPathTest, RandomReadsDoNotOverFetchAndShrinkTheWindow) {
  constexpr uint32_t kBlocks = 256;
  Seed(50, kBlocks);
  BlockStoreOptions o;
  o.readahead_max_window = 8 * kBlock;
  o.memory_cache_bytes = 2ull * kBlocks * kBlock;  // no evictions: a block is fetched once
  std::unique_ptr<BlockStore> blocks = Make(o);
  const std::vector<Slice> slices = {Whole(50, kBlocks * kBlock, 0)};
  std::unique_ptr<ReadStream> stream = blocks->OpenStream();
  std::string out;
  // A sequential start grows the window...
  for (uint32_t pos = 0; pos < 4 * kBlock; pos += 16 << 10) {
    ASSERT_TRUE(stream->Read(0, slices, pos, 16 << 10, &out).ok());
  }
  uint64_t window = stream->window();
  ASSERT_GT(window, uint64_t{kBlock});
  ASSERT_TRUE(WaitUntil([&] { return blocks->Stats().readahead_bytes_in_flight == 0; }));
  const uint64_t issued = blocks->Stats().readahead_issued;
  const int gets = rec_->gets();
  // ...and random reads shrink it and fetch no more than they touch.
  std::set<uint32_t> touched;
  for (int i = 0; i < 300; ++i) {
    const uint32_t pos = static_cast<uint32_t>(rng_() % (kBlocks * kBlock - 4096));
    ASSERT_TRUE(stream->Read(0, slices, pos, 4096, &out).ok());
    touched.insert(pos / kBlock);
    touched.insert((pos + 4095) / kBlock);
    EXPECT_LE(stream->window(), window);
    window = stream->window();
  }
  EXPECT_EQ(stream->window(), 0u);
  ASSERT_TRUE(WaitUntil([&] { return blocks->Stats().readahead_bytes_in_flight == 0; }));
  EXPECT_LE(blocks->Stats().readahead_issued - issued, 2u);
  EXPECT_LE(rec_->gets() - gets, static_cast<int>(touched.size()) + 2);
}

TEST_F(DataPathTest, ReadaheadStaysWithinItsBudgetAndNeverBlocksTheReader) {
  constexpr uint32_t kBlocks = 32;
  std::string data = Seed(60, kBlocks);
  BlockStoreOptions o;
  o.readahead_max_window = 16 * kBlock;
  o.readahead_bytes = 2 * kBlock;
  std::unique_ptr<BlockStore> blocks = Make(o);
  const std::vector<Slice> slices = {Whole(60, kBlocks * kBlock, 0)};
  std::string out;
  // Blocks 0-7 cached, so that the reader below never waits for the store.
  ASSERT_TRUE(blocks->ReadChunk(slices, 0, 8 * kBlock, &out).ok());
  rec_->HoldGets(true);
  std::unique_ptr<ReadStream> stream = blocks->OpenStream();
  for (uint32_t pos = 0; pos < 8 * kBlock; pos += 16 << 10) {
    ASSERT_TRUE(stream->Read(0, slices, pos, 16 << 10, &out).ok());
    ASSERT_EQ(out, data.substr(pos, 16 << 10));
    EXPECT_LE(blocks->Stats().readahead_bytes_in_flight, 2u * kBlock);
  }
  BlockStoreStats s = blocks->Stats();
  EXPECT_EQ(s.readahead_issued, 2u);
  EXPECT_GT(s.readahead_skipped, 0u);
  rec_->HoldGets(false);
  // Once the budget frees up, readahead goes on from where it stopped.
  ASSERT_TRUE(WaitUntil([&] { return blocks->Stats().readahead_bytes_in_flight == 0; }));
  ASSERT_TRUE(stream->Read(0, slices, 8 * kBlock, 16 << 10, &out).ok());
  EXPECT_GT(blocks->Stats().readahead_issued, 2u);
}

TEST_F(DataPathTest, ReadaheadRunsIntoTheNextChunk) {
  // One block at the end of chunk 0, three at the start of chunk 1.
  std::string a = Seed(70, 1);
  std::string b = Seed(71, 3);
  const std::vector<Slice> chunk0 = {Whole(70, kBlock, kChunkSize - kBlock)};
  const std::vector<Slice> chunk1 = {Whole(71, 3 * kBlock, 0)};
  BlockStoreOptions o;
  o.readahead_max_window = 4 * kBlock;
  std::unique_ptr<BlockStore> blocks = Make(o);
  int listed = 0;
  std::unique_ptr<ReadStream> stream =
      blocks->OpenStream([&](uint32_t index) -> Result<std::vector<Slice>> {
        ++listed;
        EXPECT_EQ(index, 1u);
        return chunk1;
      });
  std::string out;
  // A sequential run up to the end of chunk 0.
  for (uint32_t pos = kChunkSize - 4 * kBlock; pos < kChunkSize; pos += kBlock) {
    ASSERT_TRUE(stream->Read(0, chunk0, pos, kBlock, &out).ok());
  }
  EXPECT_EQ(out, a);
  ASSERT_TRUE(WaitUntil([&] { return blocks->Stats().readahead_bytes_in_flight == 0; }));
  EXPECT_EQ(rec_->gets_of(blocks->BlockKey(71, 3 * kBlock, 0)), 1);
  EXPECT_EQ(listed, 1) << "the next chunk's slices are asked for once";
  const int gets = rec_->gets();
  ASSERT_TRUE(stream->Read(1, chunk1, 0, kBlock, &out).ok());
  EXPECT_EQ(out, b.substr(0, kBlock));
  EXPECT_EQ(rec_->gets(), gets) << "the first block of chunk 1 was prefetched";
}

// ---------------------------------------------------------------------------
// Writes

TEST_F(DataPathTest, UploadsRunInParallelUpToTheConfiguredConcurrency) {
  for (int concurrency : {8, 2}) {
    SCOPED_TRACE(concurrency);
    auto rec = std::make_shared<RecordingStore>(mem_);
    rec->SetPutDelay(50ms);
    BlockStoreOptions o = NoCache();
    o.upload_concurrency = concurrency;
    BlockStore blocks(rec, "vol", kBlock, o);
    ASSERT_TRUE(blocks.WriteSlice(80 + concurrency, RandomBytes(rng_, 8 * kBlock)).ok());
    EXPECT_LE(rec->max_puts_in_flight(), concurrency);
    EXPECT_GE(rec->max_puts_in_flight(), concurrency == 8 ? 4 : 2);
  }
}

TEST_F(DataPathTest, UploadBytesInFlightStayWithinTheBudget) {
  BlockStoreOptions o = NoCache();
  o.upload_concurrency = 8;
  o.upload_buffer_bytes = 3 * kBlock;
  std::unique_ptr<BlockStore> blocks = Make(o);
  rec_->SetPutDelay(5ms);
  std::atomic<uint64_t> max_seen{0};
  std::atomic<bool> writing{true};
  std::thread watcher([&] {
    while (writing) {
      uint64_t now = blocks->Stats().upload_bytes_in_flight;
      uint64_t prev = max_seen.load();
      while (now > prev && !max_seen.compare_exchange_weak(prev, now)) {
      }
      std::this_thread::sleep_for(1ms);
    }
  });
  std::vector<std::thread> writers;
  std::atomic<int> ok{0};
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      std::mt19937_64 rng(w);
      if (blocks->WriteSlice(90 + w, RandomBytes(rng, 8 * kBlock)).ok()) ++ok;
    });
  }
  for (std::thread& t : writers) t.join();
  writing = false;
  watcher.join();
  EXPECT_EQ(ok, 4);
  EXPECT_EQ(AllObjects(*mem_).size(), 32u);
  EXPECT_LE(rec_->max_put_bytes_in_flight(), 3u * kBlock);
  EXPECT_LE(rec_->max_puts_in_flight(), 3) << "the budget, not the pool, is the limit here";
  EXPECT_GE(rec_->max_puts_in_flight(), 2);
  EXPECT_LE(max_seen.load(), 3u * kBlock);
}

TEST_F(DataPathTest, WrittenBlocksAreCachedAndDeleteForgetsThem) {
  for (bool disk : {false, true}) {
    SCOPED_TRACE(disk ? "disk cache" : "memory cache");
    BlockStoreOptions o;
    if (disk) o.cache = OpenDisk();
    std::unique_ptr<BlockStore> blocks = Make(o);
    const uint64_t id = disk ? 101 : 100;
    std::string data = RandomBytes(rng_, 3 * kBlock + 5);
    const auto size = static_cast<uint32_t>(data.size());
    ASSERT_TRUE(blocks->WriteSlice(id, data).ok());
    const int gets = rec_->gets();
    std::string out;
    ASSERT_TRUE(blocks->ReadChunk({Whole(id, size, 0)}, 0, size, &out).ok());
    EXPECT_EQ(out, data);
    EXPECT_EQ(rec_->gets(), gets) << "write-through: read from the cache";
    ASSERT_TRUE(blocks->DeleteSlice(id, size).ok());
    for (const std::string& key : blocks->SliceKeys(id, size)) {
      EXPECT_FALSE(blocks->cache()->Get(key).has_value()) << key;
      EXPECT_FALSE(mem_->Head(key).has_value()) << key;
    }
  }
}

// ---------------------------------------------------------------------------
// Write-back

TEST_F(DataPathTest, WriteBackReturnsBeforeUploadAndFlushWaits) {
  BlockStoreOptions o;
  o.cache = OpenDisk();
  o.writeback = true;
  std::unique_ptr<BlockStore> blocks = Make(o);
  rec_->HoldPuts(true);
  std::string data = RandomBytes(rng_, 4 * kBlock);
  ASSERT_TRUE(blocks->WriteSlice(200, data).ok());
  EXPECT_TRUE(AllObjects(*mem_).empty()) << "nothing is in the store yet";
  EXPECT_EQ(blocks->Stats().staged, 4u);
  // Reads come from the staged copies.
  std::string out;
  ASSERT_TRUE(blocks->ReadChunk({Whole(200, 4 * kBlock, 0)}, 0, 4 * kBlock, &out).ok());
  EXPECT_EQ(out, data);
  EXPECT_EQ(rec_->gets(), 0);
  std::future<Status> flushed = std::async(std::launch::async, [&] { return blocks->Flush(); });
  EXPECT_EQ(flushed.wait_for(100ms), std::future_status::timeout) << "Flush waits for uploads";
  rec_->HoldPuts(false);
  ASSERT_TRUE(flushed.get().ok());
  EXPECT_EQ(AllObjects(*mem_).size(), 4u);
  BlockStoreStats s = blocks->Stats();
  EXPECT_EQ(s.staged_pending, 0u);
  EXPECT_EQ(s.cache.staged_blocks, 0u);
  EXPECT_EQ(s.uploads, 4u);
  for (const std::string& key : blocks->SliceKeys(200, 4 * kBlock)) {
    Result<std::string> stored = mem_->Get(key);
    ASSERT_TRUE(stored.has_value()) << key;
  }
  ASSERT_TRUE(blocks->ReadChunk({Whole(200, 4 * kBlock, 0)}, 0, 4 * kBlock, &out).ok());
  EXPECT_EQ(out, data);
}

TEST_F(DataPathTest, StagedBlocksSurviveACrashAndAreUploadedOnRecovery) {
  std::string data = RandomBytes(rng_, 5 * kBlock + 7);
  const auto size = static_cast<uint32_t>(data.size());
  std::vector<std::string> keys;
  {
    BlockStoreOptions o;
    o.cache = OpenDisk();
    o.writeback = true;
    o.upload_retry_initial = 5ms;
    std::unique_ptr<BlockStore> blocks = Make(o);
    rec_->FailAllPuts(true);  // the store is down: uploads keep failing
    ASSERT_TRUE(blocks->WriteSlice(300, data).ok());
    keys = blocks->SliceKeys(300, size);
    ASSERT_TRUE(WaitUntil([&] { return rec_->failed_puts() >= 6; }));
    // "Crash": gone without Flush.
  }
  EXPECT_TRUE(AllObjects(*mem_).empty());
  rec_->FailAllPuts(false);
  BlockStoreOptions o;
  o.cache = OpenDisk();
  ASSERT_NE(o.cache, nullptr);
  EXPECT_EQ(o.cache->ListStaged().size(), keys.size());
  std::unique_ptr<BlockStore> blocks = Make(o);  // write-back off: recovery works anyway
  // Readable from the staged copies before the upload.
  rec_->HoldPuts(true);
  EXPECT_EQ(blocks->RecoverStaged(), keys.size());
  std::string out;
  ASSERT_TRUE(blocks->ReadChunk({Whole(300, size, 0)}, 0, size, &out).ok());
  EXPECT_EQ(out, data);
  EXPECT_EQ(rec_->gets(), 0);
  rec_->HoldPuts(false);
  ASSERT_TRUE(blocks->Flush().ok());
  EXPECT_TRUE(o.cache->ListStaged().empty());
  std::map<std::string, uint64_t> stored = AllObjects(*mem_);
  ASSERT_EQ(stored.size(), keys.size());
  BlockStore fresh(mem_, "vol", kBlock, NoCache());
  ASSERT_TRUE(fresh.ReadChunk({Whole(300, size, 0)}, 0, size, &out).ok());
  EXPECT_EQ(out, data);
}

TEST_F(DataPathTest, FailedStagedUploadIsRetriedAndFlushReportsAnOutage) {
  BlockStoreOptions o;
  o.cache = OpenDisk();
  o.writeback = true;
  o.upload_retry_initial = 2ms;
  o.upload_retry_max = 10ms;
  std::unique_ptr<BlockStore> blocks = Make(o);
  std::string data = RandomBytes(rng_, 2 * kBlock);
  const std::string key = blocks->BlockKey(400, 2 * kBlock, 1);
  rec_->FailPutOf(key, 2);
  ASSERT_TRUE(blocks->WriteSlice(400, data).ok());
  ASSERT_TRUE(blocks->Flush().ok());
  EXPECT_TRUE(mem_->Head(key).has_value());
  EXPECT_GE(blocks->Stats().upload_errors, 2u);

  // A store that stays down: Flush gives up, the block stays staged.
  rec_->FailAllPuts(true);
  ASSERT_TRUE(blocks->WriteSlice(401, data).ok());
  Status st = blocks->Flush();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("vol/chunks/"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("stay staged"), std::string::npos) << st.message();
  EXPECT_EQ(o.cache->ListStaged().size(), 2u);
  EXPECT_EQ(blocks->Stats().staged_pending, 2u);
  rec_->FailAllPuts(false);
  ASSERT_TRUE(blocks->Flush().ok());
  EXPECT_TRUE(o.cache->ListStaged().empty());
  EXPECT_TRUE(mem_->Head(blocks->BlockKey(401, 2 * kBlock, 0)).has_value());
}

// Write-through: a block the store fails for its whole budget is kept in a
// disk cache and uploaded when the store is back; the writer is told. A
// memory cache, which a crash would empty, does not keep it: the write fails.
TEST_F(DataPathTest, BlocksTheStoreFailsAreKeptOnDiskAndUploadedLater) {
  BlockStoreOptions o;
  o.cache = OpenDisk();
  o.upload_retry_initial = 2ms;
  o.upload_retry_max = 10ms;
  std::unique_ptr<BlockStore> blocks = Make(o);
  const std::string data = RandomBytes(rng_, 2 * kBlock);
  rec_->FailAllPuts(true);
  Status deferred;
  ASSERT_TRUE(blocks->WriteSlice(600, data, &deferred).ok());
  EXPECT_EQ(deferred.code(), Code::kUnavailable) << deferred.ToString();
  EXPECT_NE(deferred.message().find("down on purpose"), std::string::npos) << deferred.message();
  EXPECT_EQ(blocks->Stats().upload_deferrals, 2u);
  EXPECT_EQ(blocks->Stats().staged_pending, 2u);
  std::string out;  // read back from the staged copies
  ASSERT_TRUE(blocks->ReadChunk({Whole(600, 2 * kBlock, 0)}, 0, 2 * kBlock, &out).ok());
  EXPECT_TRUE(out == data);
  rec_->FailAllPuts(false);
  ASSERT_TRUE(blocks->Flush().ok());
  EXPECT_TRUE(o.cache->ListStaged().empty());
  EXPECT_TRUE(mem_->Get(blocks->BlockKey(600, 2 * kBlock, 1)).value_or("") == data.substr(kBlock));

  BlockStoreOptions in_memory;
  in_memory.cache = std::make_shared<cache::MemCache>(64 << 20);
  std::unique_ptr<BlockStore> volatile_blocks = Make(in_memory);
  rec_->FailAllPuts(true);
  deferred = OkStatus();
  EXPECT_EQ(volatile_blocks->WriteSlice(601, data, &deferred).code(), Code::kUnavailable);
  EXPECT_TRUE(deferred.ok());
  EXPECT_EQ(volatile_blocks->Stats().upload_deferrals, 0u);
  rec_->FailAllPuts(false);
}

TEST_F(DataPathTest, DeletingAStagedSliceCancelsItsUpload) {
  BlockStoreOptions o;
  o.cache = OpenDisk();
  o.writeback = true;
  o.upload_retry_initial = 2ms;
  std::unique_ptr<BlockStore> blocks = Make(o);
  rec_->FailAllPuts(true);
  ASSERT_TRUE(blocks->WriteSlice(500, RandomBytes(rng_, 3 * kBlock)).ok());
  ASSERT_TRUE(blocks->DeleteSlice(500, 3 * kBlock).ok());
  rec_->FailAllPuts(false);
  EXPECT_TRUE(blocks->Flush().ok());
  EXPECT_TRUE(o.cache->ListStaged().empty());
  EXPECT_TRUE(AllObjects(*mem_).empty()) << "no upload after the delete";
}

TEST_F(DataPathTest, BlocksThatCannotBeStagedAreUploadedDirectly) {
  BlockStoreOptions o;
  // Room for about two staged blocks only.
  o.cache = OpenDisk(cache::DiskCache::Charge(60, kBlock) * 2 + 100);
  o.writeback = true;
  std::unique_ptr<BlockStore> blocks = Make(o);
  rec_->HoldPuts(true);
  std::string data = RandomBytes(rng_, 6 * kBlock);
  std::future<Status> wrote =
      std::async(std::launch::async, [&] { return blocks->WriteSlice(600, data); });
  // The blocks that did not fit are uploaded by the writer, who waits for them.
  EXPECT_EQ(wrote.wait_for(100ms), std::future_status::timeout);
  rec_->HoldPuts(false);
  ASSERT_TRUE(wrote.get().ok());
  ASSERT_TRUE(blocks->Flush().ok());
  BlockStoreStats s = blocks->Stats();
  EXPECT_GE(s.stage_fallbacks, 4u);
  EXPECT_EQ(s.staged + s.stage_fallbacks, 6u);
  EXPECT_EQ(AllObjects(*mem_).size(), 6u);
  std::string out;
  ASSERT_TRUE(blocks->ReadChunk({Whole(600, 6 * kBlock, 0)}, 0, 6 * kBlock, &out).ok());
  EXPECT_EQ(out, data);
}

// ---------------------------------------------------------------------------
// The pool

TEST(TaskPoolTest, HighPriorityTasksGoFirst) {
  TaskPool pool("test", 1);
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  std::mutex mu;
  std::vector<std::string> order;
  ASSERT_TRUE(pool.Submit([gate] { gate.wait(); }, TaskPool::Priority::kHigh));
  for (std::string name : {"low1", "low2"}) {
    ASSERT_TRUE(pool.Submit(
        [&, name] {
          std::lock_guard lock(mu);
          order.push_back(name);
        },
        TaskPool::Priority::kLow));
  }
  ASSERT_TRUE(pool.Submit(
      [&] {
        std::lock_guard lock(mu);
        order.push_back("high");
      },
      TaskPool::Priority::kHigh));
  release.set_value();
  ASSERT_TRUE(WaitUntil([&] {
    std::lock_guard lock(mu);
    return order.size() == 3;
  }));
  EXPECT_EQ(order, (std::vector<std::string>{"high", "low1", "low2"}));
}

TEST(TaskPoolTest, RunsUpToItsLimitAtOnceAndDrainsOnDestruction) {
  std::atomic<int> running{0}, most{0}, done{0};
  {
    TaskPool pool("test", 3);
    for (int i = 0; i < 12; ++i) {
      ASSERT_TRUE(pool.Submit(
          [&] {
            int now = ++running;
            int prev = most.load();
            while (now > prev && !most.compare_exchange_weak(prev, now)) {
            }
            std::this_thread::sleep_for(5ms);
            --running;
            ++done;
          },
          TaskPool::Priority::kHigh));
    }
  }
  EXPECT_EQ(done, 12);
  EXPECT_LE(most, 3);
  EXPECT_GE(most, 2);
}

}  // namespace
}  // namespace shoal::chunk
