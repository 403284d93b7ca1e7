// Throughput measurements of the data path. Not tests: disabled, run by hand:
//
//   chunk_test --gtest_also_run_disabled_tests --gtest_filter='*Bench*'
//
// SHOAL_BENCH_DIR names where the disk cache goes (default: the test temp
// directory); put it on /dev/shm to measure CPU cost rather than the disk.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cache/disk_cache.h"
#include "chunk/chunk.h"
#include "chunk/test_util.h"
#include "object/mem_store.h"

namespace shoal::chunk {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint32_t kBlock = 4 << 20;
// The file read: 256 MiB, or SHOAL_BENCH_CHUNKS chunks of 64 MiB.
const uint32_t kChunks = [] {
  const char* n = std::getenv("SHOAL_BENCH_CHUNKS");
  return n ? static_cast<uint32_t>(std::max(1, std::atoi(n))) : 4u;
}();

// A store that answers like a remote server of limited speed per
// connection: each GET sleeps for its size at `mib_per_s`.
class PacedStore : public testing::RecordingStore {
 public:
  PacedStore(std::shared_ptr<object::ObjectStore> base, double get_mib_per_s,
             std::chrono::milliseconds put_delay)
      : RecordingStore(std::move(base)), get_mib_per_s_(get_mib_per_s) {
    SetPutDelay(put_delay);
  }
  Result<std::string> Get(std::string_view key, uint64_t offset, uint64_t length) override {
    Result<std::string> got = RecordingStore::Get(key, offset, length);
    if (got.has_value() && get_mib_per_s_ > 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(
          static_cast<int64_t>(got->size() / (get_mib_per_s_ * 1.048576))));
    }
    return got;
  }

 private:
  const double get_mib_per_s_;
};

double MiBps(uint64_t bytes, Clock::duration d) {
  return static_cast<double>(bytes) / (1 << 20) / std::chrono::duration<double>(d).count();
}

// Where the disk cache goes.
std::string BenchDir() {
  const char* dir = std::getenv("SHOAL_BENCH_DIR");
  return dir != nullptr && *dir != '\0' ? dir : ::testing::TempDir();
}

class DataPathBench : public ::testing::Test {
 protected:
  void SetUp() override {
    std::mt19937_64 rng(1);
    std::string data = testing::RandomBytes(rng, kChunkSize);
    BlockStoreOptions plain;
    plain.memory_cache_bytes = 0;
    BlockStore writer(mem_, "vol", kBlock, plain);
    for (uint32_t c = 0; c < kChunks; ++c) {
      data[0] = static_cast<char>(c);  // distinct chunks
      ASSERT_TRUE(writer.WriteSlice(c + 1, data).ok());
    }
  }

  std::shared_ptr<cache::DiskCache> Disk(const std::string& dir) {
    cache::DiskCacheOptions o;
    o.dirs = {dir};
    o.name = "bench";
    o.limit_bytes = 2ull * kChunks * kChunkSize;  // room for the whole file
    o.min_free_ratio = 0;
    auto opened = cache::DiskCache::Open(o);
    EXPECT_TRUE(opened.has_value()) << opened.error().ToString();
    return opened.has_value() ? std::shared_ptr<cache::DiskCache>(std::move(*opened)) : nullptr;
  }

  // Reads the whole file through one stream in `read_size` reads.
  double ReadAll(BlockStore& blocks, uint32_t read_size) {
    std::unique_ptr<ReadStream> stream = blocks.OpenStream([](uint32_t c) {
      std::vector<Slice> slices;
      if (c < kChunks) slices.push_back(Slice{c + 1, kChunkSize, 0, kChunkSize, 0});
      return Result<std::vector<Slice>>(std::move(slices));
    });
    std::string out;
    auto start = Clock::now();
    for (uint32_t c = 0; c < kChunks; ++c) {
      std::vector<Slice> slices = {Slice{c + 1, kChunkSize, 0, kChunkSize, 0}};
      for (uint32_t pos = 0; pos < kChunkSize; pos += read_size) {
        Status st = stream->Read(c, slices, pos, read_size, &out);
        EXPECT_TRUE(st.ok()) << st.ToString();
      }
    }
    return MiBps(uint64_t{kChunks} * kChunkSize, Clock::now() - start);
  }

  void Report(const char* what, double mibps, BlockStore& blocks) {
    BlockStoreStats s = blocks.Stats();
    std::printf("%-58s %8.0f MiB/s  (GETs %llu, readahead issued %llu used %llu wasted %llu)\n",
                what, mibps, static_cast<unsigned long long>(s.fetches),
                static_cast<unsigned long long>(s.readahead_issued),
                static_cast<unsigned long long>(s.readahead_used),
                static_cast<unsigned long long>(s.readahead_wasted));
  }

  std::shared_ptr<object::MemStore> mem_ = std::make_shared<object::MemStore>("bench");
};

TEST_F(DataPathBench, DISABLED_ReadThroughDiskCache) {
  for (auto [server, window] : {std::pair{0.0, 32u}, {70.0, 32u}, {70.0, 64u}}) {
    for (uint32_t read_size : {128u << 10, 1u << 20}) {
      testing::TempDir dir;
      std::string where = BenchDir() == ::testing::TempDir() ? dir.path() : BenchDir();
      auto store = std::make_shared<PacedStore>(mem_, server, std::chrono::milliseconds(0));
      BlockStoreOptions o;
      o.cache = Disk(where);
      o.download_concurrency = 8;
      o.readahead_max_window = uint64_t{window} << 20;
      BlockStore blocks(store, "vol", kBlock, o);
      char what[200];
      std::snprintf(what, sizeof what, "cold, %s, %u KiB reads, window %u MiB",
                    server > 0 ? "store at 70 MiB/s per GET" : "MemStore", read_size >> 10, window);
      Report(what, ReadAll(blocks, read_size), blocks);
      std::snprintf(what, sizeof what, "warm (disk cache), %u KiB reads", read_size >> 10);
      Report(what, ReadAll(blocks, read_size), blocks);
      if (BenchDir() != ::testing::TempDir()) {
        std::error_code ec;
        std::filesystem::remove_all(where + "/shoal-cache/bench", ec);
      }
    }
  }
}

TEST_F(DataPathBench, DISABLED_WholeChunkReads) {
  for (int threads : {1, 8}) {
    auto store = std::make_shared<PacedStore>(mem_, 70.0, std::chrono::milliseconds(0));
    BlockStoreOptions o;
    o.download_concurrency = threads;
    o.memory_cache_bytes = 0;
    BlockStore blocks(store, "vol", kBlock, o);
    std::string out;
    auto start = Clock::now();
    for (uint32_t c = 0; c < kChunks; ++c) {
      ASSERT_TRUE(
          blocks.ReadChunk({Slice{c + 1, kChunkSize, 0, kChunkSize, 0}}, 0, kChunkSize, &out).ok());
    }
    char what[200];
    std::snprintf(what, sizeof what, "64 MiB ReadChunk, store at 70 MiB/s per GET, %d threads",
                  threads);
    Report(what, MiBps(uint64_t{kChunks} * kChunkSize, Clock::now() - start), blocks);
  }
}

TEST_F(DataPathBench, DISABLED_UploadWithSlowPuts) {
  std::mt19937_64 rng(2);
  std::string data = testing::RandomBytes(rng, kChunkSize);
  for (int threads : {1, 4, 8, 16}) {
    auto store = std::make_shared<PacedStore>(std::make_shared<object::MemStore>(), 0,
                                              std::chrono::milliseconds(20));
    BlockStoreOptions o;
    o.upload_concurrency = threads;
    o.memory_cache_bytes = 0;
    BlockStore blocks(store, "vol", kBlock, o);
    auto start = Clock::now();
    for (uint32_t c = 0; c < kChunks; ++c) ASSERT_TRUE(blocks.WriteSlice(c + 1, data).ok());
    std::printf("upload, 20 ms per PUT, %2d threads: %8.0f MiB/s (max PUTs at once %d)\n", threads,
                MiBps(uint64_t{kChunks} * kChunkSize, Clock::now() - start),
                store->max_puts_in_flight());
  }
}

}  // namespace
}  // namespace shoal::chunk
