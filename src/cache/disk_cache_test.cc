// DiskCache beyond the common contract (block_cache_test.cc): its files,
// corruption, restart, staging on disk, directories, free space, open errors.
#include "cache/disk_cache.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>

#include "cache/block_file.h"
#include "cache/test_util.h"

namespace shoal::cache {
namespace {

namespace fs = std::filesystem;
using testing::BlockData;
using testing::CountFiles;
using testing::TestKey;

constexpr size_t kSize = 1000;

// Holds the restart scan back until Release() (or destruction: declare a
// Gate after the cache it gates, so that it opens before the cache joins).
class Gate {
 public:
  std::function<void()> Hook() {
    return [future = future_] { future.wait(); };
  }
  void Release() {
    if (!released_) promise_.set_value();
    released_ = true;
  }
  ~Gate() { Release(); }

 private:
  std::promise<void> promise_;
  std::shared_future<void> future_ = promise_.get_future().share();
  bool released_ = false;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

void FlipByte(const std::string& path, size_t offset) {
  std::string bytes = ReadAll(path);
  ASSERT_LT(offset, bytes.size());
  bytes[offset] ^= 0x01;
  WriteAll(path, bytes);
}

class DiskCacheTest : public ::testing::Test {
 protected:
  DiskCacheOptions Options(int blocks) const {
    DiskCacheOptions options;
    options.dirs = {dir_.path()};
    options.name = "vol";
    options.limit_bytes = blocks * DiskCache::Charge(TestKey(0).size(), kSize);
    options.min_free_ratio = 0;
    return options;
  }
  std::unique_ptr<DiskCache> Open(DiskCacheOptions options, bool wait = true) {
    Result<std::unique_ptr<DiskCache>> cache = DiskCache::Open(std::move(options));
    EXPECT_TRUE(cache.has_value()) << cache.error().ToString();
    if (!cache.has_value()) return nullptr;
    if (wait) (*cache)->WaitForScan();
    return std::move(*cache);
  }
  static void PutBlock(DiskCache& cache, int n) {
    cache.Put(TestKey(n), BlockData(TestKey(n), kSize));
  }
  static bool Has(DiskCache& cache, int n) {
    std::optional<std::string> got = cache.Get(TestKey(n));
    if (got.has_value()) {
      EXPECT_EQ(*got, BlockData(TestKey(n), kSize)) << "block " << n;
    }
    return got.has_value();
  }
  std::string Root() const { return dir_.path() + "/shoal-cache/vol"; }

  testing::TempDir dir_;
};

TEST_F(DiskCacheTest, KeepsOneCompleteFilePerBlockUnderItsHash) {
  auto cache = Open(Options(10));
  ASSERT_NE(cache, nullptr);
  PutBlock(*cache, 1);
  const std::string path = cache->CachedPath(TestKey(1));
  EXPECT_EQ(path.rfind(Root() + "/blocks/", 0), 0u) << path;
  EXPECT_EQ(fs::path(path).filename().string().size(), 32u);
  EXPECT_EQ(fs::file_size(path), BlockMetaSize(TestKey(1).size(), kSize) + kSize);
  EXPECT_EQ(CountFiles(Root() + "/tmp"), 0u);
  EXPECT_EQ(CountFiles(Root() + "/blocks"), 1u);
  cache->Remove(TestKey(1));
  EXPECT_FALSE(fs::exists(path));
}

TEST_F(DiskCacheTest, FlippedDataByteIsAMissCountedAndDropped) {
  auto cache = Open(Options(10));
  ASSERT_NE(cache, nullptr);
  PutBlock(*cache, 1);
  const std::string path = cache->CachedPath(TestKey(1));
  FlipByte(path, fs::file_size(path) - 1);
  EXPECT_EQ(cache->Get(TestKey(1)), std::nullopt);
  CacheStats s = cache->Stats();
  EXPECT_EQ(s.corrupt, 1u);
  EXPECT_EQ(s.blocks, 0u);
  EXPECT_EQ(s.bytes, 0u);
  EXPECT_FALSE(fs::exists(path));
  EXPECT_EQ(cache->Get(TestKey(1)), std::nullopt);
  EXPECT_EQ(cache->Stats().corrupt, 1u) << "the second miss is a plain one";
  PutBlock(*cache, 1);
  EXPECT_TRUE(Has(*cache, 1)) << "a dropped block can be cached again";
}

TEST_F(DiskCacheTest, DamagedHeadersAndTruncatedFilesAreMisses) {
  auto cache = Open(Options(10));
  ASSERT_NE(cache, nullptr);
  struct Damage {
    const char* what;
    std::function<void(const std::string&)> apply;
  };
  const std::vector<Damage> damages = {
      {"flipped key byte", [](const std::string& p) { FlipByte(p, kFixedHeaderSize + 3); }},
      {"flipped length byte", [](const std::string& p) { FlipByte(p, 16); }},
      {"flipped checksum byte", [](const std::string& p) { FlipByte(p, 50 + TestKey(0).size()); }},
      {"cut short", [](const std::string& p) { fs::resize_file(p, fs::file_size(p) - 100); }},
      {"cut to 10 bytes", [](const std::string& p) { fs::resize_file(p, 10); }},
      {"grown", [](const std::string& p) { fs::resize_file(p, fs::file_size(p) + 1); }},
      // What a crash can leave of a file written without fsync.
      {"zeroed", [](const std::string& p) { WriteAll(p, std::string(fs::file_size(p), '\0')); }},
      {"empty", [](const std::string& p) { fs::resize_file(p, 0); }},
  };
  uint64_t corrupt = 0;
  for (size_t i = 0; i < damages.size(); ++i) {
    const int n = static_cast<int>(i) + 1;
    PutBlock(*cache, n);
    damages[i].apply(cache->CachedPath(TestKey(n)));
    EXPECT_EQ(cache->Get(TestKey(n)), std::nullopt) << damages[i].what;
    EXPECT_EQ(cache->Stats().corrupt, ++corrupt) << damages[i].what;
    EXPECT_FALSE(fs::exists(cache->CachedPath(TestKey(n)))) << damages[i].what;
  }
  EXPECT_EQ(cache->Stats().blocks, 0u);
}

TEST_F(DiskCacheTest, FileOfAnotherBlockIsNotReturned) {
  auto cache = Open(Options(10));
  ASSERT_NE(cache, nullptr);
  PutBlock(*cache, 1);
  PutBlock(*cache, 2);
  fs::copy_file(cache->CachedPath(TestKey(1)), cache->CachedPath(TestKey(2)),
                fs::copy_options::overwrite_existing);
  EXPECT_EQ(cache->Get(TestKey(2)), std::nullopt);
  EXPECT_EQ(cache->Stats().corrupt, 1u);
  EXPECT_TRUE(Has(*cache, 1));
}

TEST_F(DiskCacheTest, RangedGetReadsAndVerifiesOnlyItsSegments) {
  auto cache = Open(Options(100));
  ASSERT_NE(cache, nullptr);
  const std::string key = TestKey(7, 3 * kSegmentSize + 100);
  const std::string data = BlockData(key, 3 * kSegmentSize + 100);
  cache->Put(key, data);
  EXPECT_EQ(cache->Get(key, kSegmentSize - 10, 20), data.substr(kSegmentSize - 10, 20));
  EXPECT_EQ(cache->Get(key, 3 * kSegmentSize + 50, 1000), data.substr(3 * kSegmentSize + 50));
  const std::string path = cache->CachedPath(key);
  FlipByte(path, BlockMetaSize(key.size(), data.size()) + 2 * kSegmentSize + 7);
  // Segments 0 and 1 are intact and verified on their own.
  EXPECT_EQ(cache->Get(key, 0, 2 * kSegmentSize), data.substr(0, 2 * kSegmentSize));
  EXPECT_EQ(cache->Stats().corrupt, 0u);
  EXPECT_EQ(cache->Get(key, 2 * kSegmentSize + 1, 3), std::nullopt);
  EXPECT_EQ(cache->Stats().corrupt, 1u);
  EXPECT_EQ(cache->Get(key, 0, 10), std::nullopt) << "the damaged block was dropped";
}

TEST_F(DiskCacheTest, RestartKeepsBlocksAndCountsThemOnceScanned) {
  {
    auto cache = Open(Options(10));
    ASSERT_NE(cache, nullptr);
    for (int n = 1; n <= 5; ++n) PutBlock(*cache, n);
  }
  auto cache = Open(Options(10));
  ASSERT_NE(cache, nullptr);
  CacheStats s = cache->Stats();
  EXPECT_FALSE(s.scanning);
  EXPECT_EQ(s.blocks, 5u);
  EXPECT_EQ(s.bytes, 5 * DiskCache::Charge(TestKey(1).size(), kSize));
  for (int n = 1; n <= 5; ++n) EXPECT_TRUE(Has(*cache, n)) << n;
  EXPECT_EQ(cache->Stats().blocks, 5u);
}

TEST_F(DiskCacheTest, AfterRestartTheOldestFilesAreEvictedFirst) {
  {
    auto cache = Open(Options(4));
    ASSERT_NE(cache, nullptr);
    for (int n = 1; n <= 4; ++n) PutBlock(*cache, n);
    // When each block was cached, in seconds ago: 3 is the oldest, then 1.
    const int ages[] = {0, 300, 100, 400, 200};
    for (int n = 1; n <= 4; ++n) {
      struct timespec times[2];
      times[0].tv_sec = times[1].tv_sec = ::time(nullptr) - ages[n];
      times[0].tv_nsec = times[1].tv_nsec = 0;
      ASSERT_EQ(::utimensat(AT_FDCWD, cache->CachedPath(TestKey(n)).c_str(), times, 0), 0);
    }
  }
  auto cache = Open(Options(4));
  ASSERT_NE(cache, nullptr);
  PutBlock(*cache, 5);
  PutBlock(*cache, 6);
  EXPECT_FALSE(Has(*cache, 3));
  EXPECT_FALSE(Has(*cache, 1));
  EXPECT_TRUE(Has(*cache, 2));
  EXPECT_TRUE(Has(*cache, 4));
  EXPECT_TRUE(Has(*cache, 5));
  EXPECT_TRUE(Has(*cache, 6));
}

TEST_F(DiskCacheTest, ReadsHitBeforeTheBackgroundScanIsDone) {
  {
    auto cache = Open(Options(10));
    ASSERT_NE(cache, nullptr);
    for (int n = 1; n <= 6; ++n) PutBlock(*cache, n);
  }
  DiskCacheOptions options = Options(10);
  std::unique_ptr<DiskCache> cache;
  Gate gate;
  options.before_scan = gate.Hook();
  cache = Open(options, /*wait=*/false);
  ASSERT_NE(cache, nullptr);
  CacheStats s = cache->Stats();
  EXPECT_TRUE(s.scanning);
  EXPECT_EQ(s.blocks, 0u);
  EXPECT_TRUE(Has(*cache, 1)) << "read from its file before the scan indexed it";
  EXPECT_EQ(cache->Stats().blocks, 1u);
  cache->Remove(TestKey(2));
  EXPECT_FALSE(fs::exists(cache->CachedPath(TestKey(2))));
  EXPECT_EQ(cache->Get("vol/never-cached"), std::nullopt);
  gate.Release();
  cache->WaitForScan();
  s = cache->Stats();
  EXPECT_FALSE(s.scanning);
  EXPECT_EQ(s.blocks, 5u) << "block 1 counted once, block 2 removed";
  EXPECT_EQ(s.bytes, 5 * DiskCache::Charge(TestKey(1).size(), kSize));
  EXPECT_FALSE(Has(*cache, 2));
  for (int n : {1, 3, 4, 5, 6}) EXPECT_TRUE(Has(*cache, n)) << n;
}

TEST_F(DiskCacheTest, ScanEvictsDownToASmallerLimit) {
  {
    auto cache = Open(Options(10));
    ASSERT_NE(cache, nullptr);
    for (int n = 1; n <= 6; ++n) PutBlock(*cache, n);
  }
  auto cache = Open(Options(4));
  ASSERT_NE(cache, nullptr);
  CacheStats s = cache->Stats();
  EXPECT_EQ(s.blocks, 4u);
  EXPECT_EQ(s.evictions, 2u);
  EXPECT_EQ(CountFiles(Root() + "/blocks"), 4u);
}

TEST_F(DiskCacheTest, StagedBlocksSurviveRestartUntilUploaded) {
  const std::string a = BlockData(TestKey(1), kSize);
  const std::string b = BlockData(TestKey(2), kSize);
  {
    auto cache = Open(Options(10));
    ASSERT_NE(cache, nullptr);
    ASSERT_TRUE(cache->Stage(TestKey(1), a).ok());
    ASSERT_TRUE(cache->Stage(TestKey(2), b).ok());
    PutBlock(*cache, 3);
    EXPECT_TRUE(fs::exists(cache->StagedPath(TestKey(1))));
    EXPECT_FALSE(fs::exists(cache->CachedPath(TestKey(1))));
  }
  {
    // Listed at once, before the scan of cached blocks has even started.
    DiskCacheOptions options = Options(10);
    std::unique_ptr<DiskCache> cache;
    Gate gate;
    options.before_scan = gate.Hook();
    cache = Open(options, /*wait=*/false);
    ASSERT_NE(cache, nullptr);
    EXPECT_EQ(cache->ListStaged(), (std::vector<std::string>{TestKey(1), TestKey(2)}));
    EXPECT_EQ(cache->Get(TestKey(1)), a);
    EXPECT_EQ(cache->Stats().staged_blocks, 2u);
    cache->Uploaded(TestKey(1));
    EXPECT_FALSE(fs::exists(cache->StagedPath(TestKey(1))));
    EXPECT_TRUE(fs::exists(cache->CachedPath(TestKey(1))));
    EXPECT_EQ(cache->ListStaged(), std::vector<std::string>{TestKey(2)});
  }
  auto cache = Open(Options(10));
  ASSERT_NE(cache, nullptr);
  EXPECT_EQ(cache->ListStaged(), std::vector<std::string>{TestKey(2)});
  CacheStats s = cache->Stats();
  EXPECT_EQ(s.blocks, 3u);
  EXPECT_EQ(s.staged_blocks, 1u);
  EXPECT_EQ(cache->Get(TestKey(1)), a);
  EXPECT_EQ(cache->Get(TestKey(2)), b);
  EXPECT_TRUE(Has(*cache, 3));
}

TEST_F(DiskCacheTest, StagedBlocksFoundAtRestartAreNotEvicted) {
  {
    auto cache = Open(Options(3));
    ASSERT_NE(cache, nullptr);
    ASSERT_TRUE(cache->Stage(TestKey(1), BlockData(TestKey(1), kSize)).ok());
    ASSERT_TRUE(cache->Stage(TestKey(2), BlockData(TestKey(2), kSize)).ok());
  }
  auto cache = Open(Options(3));
  ASSERT_NE(cache, nullptr);
  for (int n = 3; n <= 8; ++n) PutBlock(*cache, n);
  EXPECT_TRUE(Has(*cache, 1));
  EXPECT_TRUE(Has(*cache, 2));
  EXPECT_TRUE(Has(*cache, 8));
  EXPECT_EQ(cache->Stats().evictions, 5u);
  EXPECT_EQ(cache->ListStaged().size(), 2u);
}

TEST_F(DiskCacheTest, CorruptStagedBlockIsReportedButKept) {
  {
    auto cache = Open(Options(10));
    ASSERT_NE(cache, nullptr);
    ASSERT_TRUE(cache->Stage(TestKey(1), BlockData(TestKey(1), kSize)).ok());
    ASSERT_TRUE(cache->Stage(TestKey(2), BlockData(TestKey(2), kSize)).ok());
    const std::string path = cache->StagedPath(TestKey(1));
    FlipByte(path, fs::file_size(path) - 1);  // data: seen when read
    EXPECT_EQ(cache->Get(TestKey(1)), std::nullopt);
    EXPECT_EQ(cache->Stats().corrupt, 1u);
    EXPECT_TRUE(fs::exists(path)) << "the only copy is kept for the uploader to report";
    EXPECT_EQ(cache->ListStaged().size(), 2u);
    FlipByte(cache->StagedPath(TestKey(2)), 5);  // header: seen at restart
  }
  auto cache = Open(Options(10));
  ASSERT_NE(cache, nullptr);
  EXPECT_EQ(cache->ListStaged(), std::vector<std::string>{TestKey(1)});
  EXPECT_EQ(cache->Stats().corrupt, 1u);
  EXPECT_TRUE(fs::exists(cache->StagedPath(TestKey(2))));
}

TEST_F(DiskCacheTest, SpreadsBlocksOverTwoDirectories) {
  testing::TempDir second;
  DiskCacheOptions options = Options(100);
  options.dirs.push_back(second.path() + "/");  // a trailing slash is fine
  {
    auto cache = Open(options);
    ASSERT_NE(cache, nullptr);
    for (int n = 0; n < 32; ++n) PutBlock(*cache, n);
    ASSERT_TRUE(cache->Stage(TestKey(100), BlockData(TestKey(100), kSize)).ok());
    const size_t first_count = CountFiles(Root() + "/blocks");
    const size_t second_count = CountFiles(second.path() + "/shoal-cache/vol/blocks");
    EXPECT_GT(first_count, 0u);
    EXPECT_GT(second_count, 0u);
    EXPECT_EQ(first_count + second_count, 32u);
    for (int n = 0; n < 32; ++n) EXPECT_TRUE(Has(*cache, n)) << n;
  }
  auto cache = Open(options);
  ASSERT_NE(cache, nullptr);
  EXPECT_EQ(cache->Stats().blocks, 33u);
  EXPECT_EQ(cache->ListStaged(), std::vector<std::string>{TestKey(100)});
  for (int n = 0; n < 32; ++n) EXPECT_TRUE(Has(*cache, n)) << n;
}

TEST_F(DiskCacheTest, SizeZeroDisablesAndCreatesNothing) {
  DiskCacheOptions options = Options(0);
  options.dirs = {dir_.path() + "/not-yet"};
  auto cache = Open(options);
  ASSERT_NE(cache, nullptr);
  cache->Put(TestKey(1), "data");
  EXPECT_EQ(cache->Get(TestKey(1)), std::nullopt);
  EXPECT_EQ(cache->Stage(TestKey(1), "data").code(), Code::kUnsupported);
  EXPECT_FALSE(fs::exists(dir_.path() + "/not-yet"));
  EXPECT_EQ(cache->Stats().misses, 1u);
  EXPECT_NE(cache->Describe().find("disabled"), std::string::npos);
}

TEST_F(DiskCacheTest, OpenCreatesMissingDirectories) {
  DiskCacheOptions options = Options(10);
  options.dirs = {dir_.path() + "/a/b/c"};
  auto cache = Open(options);
  ASSERT_NE(cache, nullptr);
  EXPECT_TRUE(fs::is_directory(dir_.path() + "/a/b/c/shoal-cache/vol/blocks"));
  EXPECT_TRUE(fs::is_directory(dir_.path() + "/a/b/c/shoal-cache/vol/staging"));
}

TEST_F(DiskCacheTest, OpenErrorsNameTheProblem) {
  auto open_error = [](DiskCacheOptions options) {
    Result<std::unique_ptr<DiskCache>> cache = DiskCache::Open(std::move(options));
    return cache.has_value() ? Status() : cache.error();
  };
  DiskCacheOptions options = Options(10);
  options.dirs = {"relative/dir"};
  Status st = open_error(options);
  EXPECT_EQ(st.code(), Code::kInvalid);
  EXPECT_NE(st.message().find("relative/dir"), std::string::npos) << st.message();

  WriteAll(dir_.path() + "/file", "x");
  options.dirs = {dir_.path() + "/file/sub"};
  st = open_error(options);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find(dir_.path() + "/file/sub"), std::string::npos) << st.message();

  options = Options(10);
  options.name = "a/b";
  EXPECT_EQ(open_error(options).code(), Code::kInvalid);
  options = Options(10);
  options.min_free_ratio = 1.0;
  EXPECT_EQ(open_error(options).code(), Code::kInvalid);
  options = Options(10);
  options.dirs.clear();
  EXPECT_EQ(open_error(options).code(), Code::kInvalid);
  options = Options(10);
  options.dirs.push_back(dir_.path() + "/");
  st = open_error(options);
  EXPECT_EQ(st.code(), Code::kInvalid);
  EXPECT_NE(st.message().find("twice"), std::string::npos) << st.message();
}

TEST_F(DiskCacheTest, OneOpenCachePerDirectoryAndName) {
  auto cache = Open(Options(10));
  ASSERT_NE(cache, nullptr);
  Result<std::unique_ptr<DiskCache>> second = DiskCache::Open(Options(10));
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code(), Code::kBusy);
  EXPECT_NE(second.error().message().find(dir_.path()), std::string::npos)
      << second.error().message();
  DiskCacheOptions other = Options(10);
  other.name = "other-volume";
  EXPECT_NE(Open(other), nullptr) << "another name in the same directory is fine";
  cache.reset();
  EXPECT_NE(Open(Options(10)), nullptr) << "free again once closed";
}

TEST_F(DiskCacheTest, BelowTheFreeSpaceFloorEvictsAndRefuses) {
  auto available = std::make_shared<std::atomic<uint64_t>>(500'000);
  DiskCacheOptions options = Options(10);
  options.min_free_ratio = 0.1;  // floor: 100,000 of 1,000,000 bytes
  options.disk_space = [available](const std::string&) -> Result<DiskSpace> {
    return DiskSpace{1'000'000, available->load()};
  };
  auto cache = Open(options);
  ASSERT_NE(cache, nullptr);
  for (int n = 1; n <= 3; ++n) PutBlock(*cache, n);
  EXPECT_EQ(cache->Stats().blocks, 3u);

  *available = 50'000;
  PutBlock(*cache, 4);
  EXPECT_FALSE(Has(*cache, 4));
  CacheStats s = cache->Stats();
  EXPECT_EQ(s.rejected, 1u);
  EXPECT_EQ(s.evictions, 3u) << "the deficit is larger than all three blocks";
  EXPECT_EQ(s.blocks, 0u);
  Status st = cache->Stage(TestKey(5), BlockData(TestKey(5), kSize));
  EXPECT_EQ(st.code(), Code::kNoSpace);
  EXPECT_NE(st.message().find(dir_.path()), std::string::npos) << st.message();

  *available = 500'000;
  PutBlock(*cache, 4);
  EXPECT_TRUE(Has(*cache, 4));
}

TEST_F(DiskCacheTest, OpenClearsLeftoversAndIgnoresStrangers) {
  {
    auto cache = Open(Options(10));
    ASSERT_NE(cache, nullptr);
    PutBlock(*cache, 1);
  }
  WriteAll(Root() + "/tmp/half-written", "partial");
  fs::create_directories(Root() + "/blocks/00");
  WriteAll(Root() + "/blocks/00/not-a-block", "hello");
  auto cache = Open(Options(10));
  ASSERT_NE(cache, nullptr);
  EXPECT_FALSE(fs::exists(Root() + "/tmp/half-written"));
  EXPECT_TRUE(fs::exists(Root() + "/blocks/00/not-a-block"));
  EXPECT_EQ(cache->Stats().blocks, 1u);
  EXPECT_TRUE(Has(*cache, 1));
}

// Evicts a file from the page cache, so that the next read comes from disk.
void DropFromPageCache(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

// Not a timed test: run by hand (--gtest_also_run_disabled_tests) to see how
// fast 4 MiB blocks go in and out of a cache in the test temp directory
// (TEST_TMPDIR). Prints blocks per second.
TEST_F(DiskCacheTest, DISABLED_Throughput) {
  constexpr int kBlocks = 64;
  constexpr size_t kBlockSize = 4 << 20;
  DiskCacheOptions options = Options(0);
  options.limit_bytes = 3ull * kBlocks * kBlockSize;
  auto cache = Open(options);
  ASSERT_NE(cache, nullptr);
  const std::string data = BlockData("throughput", kBlockSize);
  auto key = [](int n) { return "vol/chunks/00/0/" + std::to_string(n) + "_0_4194304"; };
  auto rate = [](auto start) {
    return kBlocks /
           std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  auto start = std::chrono::steady_clock::now();
  for (int n = 0; n < kBlocks; ++n) cache->Put(key(n), data);
  const double put = rate(start);
  start = std::chrono::steady_clock::now();
  for (int n = 0; n < kBlocks; ++n) ASSERT_EQ(cache->Get(key(n)), data);
  const double get_hot = rate(start);
  start = std::chrono::steady_clock::now();
  for (int n = 0; n < kBlocks; ++n) {
    ASSERT_EQ(cache->Get(key(n), 1 << 20, 128 << 10).value_or("").size(), 128u << 10);
  }
  const double range_hot = rate(start);
  for (int n = 0; n < kBlocks; ++n) DropFromPageCache(cache->CachedPath(key(n)));
  start = std::chrono::steady_clock::now();
  for (int n = 0; n < kBlocks; ++n) ASSERT_EQ(cache->Get(key(n)), data);
  const double get_cold = rate(start);
  start = std::chrono::steady_clock::now();
  for (int n = 0; n < kBlocks; ++n) ASSERT_TRUE(cache->Stage(key(kBlocks + n), data).ok());
  const double stage = rate(start);
  std::printf(
      "in %s, 4 MiB blocks/s: Put %.0f, Get (page cache) %.0f, Get (disk) %.0f, "
      "Stage (fsync) %.0f; 128 KiB ranged Get (page cache) %.0f/s\n",
      dir_.path().c_str(), put, get_hot, get_cold, stage, range_hot);
  EXPECT_EQ(cache->Stats().errors, 0u);
}

}  // namespace
}  // namespace shoal::cache
