#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"

namespace shoal::cli {
namespace {

TEST(ParseBenchWorkloads, SelectsTheNamedWorkloads) {
  Result<BenchWorkloads> w = ParseBenchWorkloads("big");
  ASSERT_TRUE(w.has_value());
  EXPECT_TRUE(w->big);
  EXPECT_FALSE(w->small);
  EXPECT_FALSE(w->meta);

  w = ParseBenchWorkloads("meta,small");
  ASSERT_TRUE(w.has_value());
  EXPECT_FALSE(w->big);
  EXPECT_TRUE(w->small);
  EXPECT_TRUE(w->meta);

  for (const char* all : {"all", "big,small,meta", "meta,all", "small,small,big,meta"}) {
    w = ParseBenchWorkloads(all);
    ASSERT_TRUE(w.has_value()) << all;
    EXPECT_TRUE(w->big && w->small && w->meta) << all;
  }
}

TEST(ParseBenchWorkloads, RejectsWithAClearMessage) {
  for (const char* bad : {"", "bigg", "big,", ",meta", "big meta", "BIG", "big,,meta"}) {
    Result<BenchWorkloads> w = ParseBenchWorkloads(bad);
    ASSERT_FALSE(w.has_value()) << bad;
    EXPECT_EQ(w.error().code(), Code::kInvalid);
    EXPECT_NE(w.error().message().find("--only '" + std::string(bad) + "'"), std::string::npos)
        << w.error().message();
    EXPECT_NE(w.error().message().find("big, small and meta"), std::string::npos);
  }
  Result<BenchWorkloads> w = ParseBenchWorkloads("big,mta");
  ASSERT_FALSE(w.has_value());
  EXPECT_NE(w.error().message().find("'mta'"), std::string::npos) << w.error().message();
}

class BenchRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "bench_cmd_test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  BenchArgs SmallArgs() const {
    BenchArgs a;
    a.path = dir_;
    a.big_size = "3M";
    a.small_count = 20;
    a.small_size = "5K";
    a.meta_count = 30;
    a.quiet = true;
    a.json = true;
    return a;
  }

  std::string dir_;
};

TEST_F(BenchRunTest, BadPathOrOptionsExitWith2) {
  BenchArgs a = SmallArgs();
  a.path = dir_ + "/missing";
  EXPECT_EQ(RunBench(a), 2);

  std::string file = dir_ + "/file";
  std::ofstream(file) << "x";
  a.path = file;
  EXPECT_EQ(RunBench(a), 2);

  a = SmallArgs();
  a.threads = 0;
  EXPECT_EQ(RunBench(a), 2);
  a = SmallArgs();
  a.only = "big,fast";
  EXPECT_EQ(RunBench(a), 2);
  a = SmallArgs();
  a.big_size = "1Q";
  EXPECT_EQ(RunBench(a), 2);
  a = SmallArgs();
  a.meta_count = 0;
  EXPECT_EQ(RunBench(a), 2);
  // Out of --only, a bad value does not matter.
  a.only = "small";
  testing::internal::CaptureStdout();
  EXPECT_EQ(RunBench(a), 0);
  testing::internal::GetCapturedStdout();
}

TEST_F(BenchRunTest, MeasuresEveryWorkloadAndRemovesItsDirectory) {
  BenchArgs a = SmallArgs();
  a.threads = 3;
  testing::internal::CaptureStdout();
  int rc = RunBench(a);
  std::string out = testing::internal::GetCapturedStdout();
  ASSERT_EQ(rc, 0) << out;
  nlohmann::json j = nlohmann::json::parse(out);

  EXPECT_EQ(j["path"], dir_);
  EXPECT_EQ(j["threads"], 3);
  ASSERT_EQ(j["big"]["results"].size(), 3u);
  for (const auto& pass : j["big"]["results"]) {
    EXPECT_EQ(pass["bytes"], 3u << 20) << pass;
    EXPECT_GT(pass["mib_per_sec"].get<double>(), 0) << pass;
  }
  EXPECT_EQ(j["big"]["results"][0]["op"], "write");
  EXPECT_EQ(j["big"]["results"][1]["op"], "read_cold");
  EXPECT_EQ(j["big"]["results"][2]["op"], "read_warm");

  ASSERT_EQ(j["small"]["results"].size(), 3u);
  for (const auto& r : j["small"]["results"]) {
    EXPECT_EQ(r["ops"], 20u) << r;
    EXPECT_EQ(r["samples"], 20u) << r;
  }

  std::vector<std::string> ops;
  for (const auto& r : j["meta"]["results"]) {
    ops.push_back(r["op"]);
    double p50 = r["latency_us"]["p50"];
    double p99 = r["latency_us"]["p99"];
    double max = r["latency_us"]["max"];
    EXPECT_GT(p50, 0) << r;
    EXPECT_LE(p50, p99) << r;
    EXPECT_LE(p99, max) << r;
    if (r["op"] == "readdir") {
      EXPECT_EQ(r["unit"], "entries");
      EXPECT_EQ(r["ops"], 5u * 30u) << r;
      EXPECT_EQ(r["samples"], 5u) << r;
    } else {
      EXPECT_EQ(r["ops"], 30u) << r;
      EXPECT_EQ(r["samples"], 30u) << r;
    }
  }
  EXPECT_EQ(ops, (std::vector<std::string>{"create", "getattr", "lookup", "readdir", "rename",
                                           "unlink"}));

  // The work directory is gone: PATH is as empty as before.
  EXPECT_TRUE(std::filesystem::is_empty(dir_));
}

}  // namespace
}  // namespace shoal::cli
