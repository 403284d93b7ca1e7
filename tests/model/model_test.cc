// Reference-model test: shoal's Vfs against the local file system (see
// model_harness.h). Built twice: as model_test (label `model`: several seeds,
// thousands of operations each) and, with SHOAL_MODEL_SHORT, as
// model_unit_test (label `unit`: one short run per backend).
//
// Reproduce a failure with the seed and op count it prints:
//   SHOAL_MODEL_SEED=7 SHOAL_MODEL_OPS=1234 SHOAL_MODEL_TRACE=1 model_test
// SHOAL_MODEL_CHECK_EVERY=1 compares the trees after every op (to find the
// first op after which they differ); SHOAL_MODEL_STATS=1 prints how each
// operation ended; SHOAL_MODEL_MAX_SIZE raises the file size limit (past
// 67108864 to cross a chunk boundary).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <iostream>
#include <vector>

#include "model_harness.h"

#ifdef SHOAL_MODEL_SHORT
#define MODEL_SUITE ModelShortTest
#else
#define MODEL_SUITE ModelTest
#endif

namespace shoal::model {
namespace {

#ifdef SHOAL_MODEL_SHORT
constexpr int kMemOps = 400;
constexpr int kRocksdbOps = 200;
const std::vector<uint64_t> kMemSeeds = {1};
const std::vector<uint64_t> kRocksdbSeeds = {2};
constexpr int kCheckEvery = 25;
#else
constexpr int kMemOps = 3000;
constexpr int kRocksdbOps = 1500;
const std::vector<uint64_t> kMemSeeds = {11, 12, 13, 14, 15, 16};
const std::vector<uint64_t> kRocksdbSeeds = {21, 22, 23};
constexpr int kCheckEvery = 50;
#endif

void RunSeeds(Backend backend, const std::vector<uint64_t>& seeds, int ops) {
  if (geteuid() != 0) GTEST_SKIP() << "the model test needs root (it chowns files)";
  for (uint64_t seed : SeedsFromEnv(seeds)) {
    RunOptions options;
    options.seed = seed;
    options.ops = OpsFromEnv(ops);
    options.backend = backend;
    options.max_file_size = MaxSizeFromEnv(options.max_file_size);
    options.check_every = CheckEveryFromEnv(kCheckEvery);
    options.trace = TraceFromEnv();
    RunReport report = RunModel(options);
    if (!report.notes.empty())
      std::cout << "seed " << seed
                << ": differences the kernel hides under FUSE:" << FormatCounts(report.notes)
                << "\n";
    if (StatsFromEnv())
      std::cout << "seed " << seed << ": outcomes (real side):" << FormatCounts(report.outcomes)
                << "\n";
    ASSERT_TRUE(report.ok) << report.failure;
    EXPECT_EQ(report.ops_done, options.ops);
  }
}

TEST(MODEL_SUITE, MemBackend) { RunSeeds(Backend::kMem, kMemSeeds, kMemOps); }

TEST(MODEL_SUITE, RocksdbFileBackend) {
  RunSeeds(Backend::kRocksdbFile, kRocksdbSeeds, kRocksdbOps);
}

// The checker itself: a file that appears on the real side only must be
// reported by the next tree comparison.
TEST(MODEL_SUITE, ReportsAPlantedDifference) {
  if (geteuid() != 0) GTEST_SKIP() << "the model test needs root (it chowns files)";
  RunOptions options;
  options.seed = 5;
  options.ops = 60;
  options.check_every = 1;
  options.remounts = false;
  options.plant_difference_at = 30;
  options.keep_scratch_on_failure = false;
  RunReport report = RunModel(options);
  ASSERT_FALSE(report.ok);
  EXPECT_NE(report.failure.find("\"planted\" is missing from shoal"), std::string::npos)
      << report.failure;
}

}  // namespace
}  // namespace shoal::model
