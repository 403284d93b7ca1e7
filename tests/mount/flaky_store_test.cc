// Every command rides through a flaky S3 store: format, fsck and objbench run
// through a fault proxy in front of the test server that fails a fifth of all
// requests (500, 503 SlowDown, reset, body cut short, stalled), and succeed;
// when every request fails they give up within their --io-* budget with one
// line that names what failed and how often it was tried.
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "mount_fixture.h"
#include "nlohmann/json.hpp"
#include "object/s3/fault_proxy.h"

namespace shoal::testing {
namespace {

using object::s3::testing::Fault;
using object::s3::testing::FaultProxy;

class FlakyStoreTest : public ScratchTest {
 protected:
  void SetUp() override {
    ScratchTest::SetUp();
    if (skipped() || IsSkipped()) return;
    if (std::string reason = S3SkipReason(); !reason.empty()) GTEST_SKIP() << reason;
    s3_ = S3FromEnv();
    const std::string host = "http://127.0.0.1:";
    if (!s3_.endpoint.starts_with(host)) {
      GTEST_SKIP() << "the fault proxy forwards to 127.0.0.1 only, not " << s3_.endpoint;
    }
    proxy_ = std::make_unique<FaultProxy>(std::stoi(s3_.endpoint.substr(host.size())));
    ASSERT_NE(proxy_->port(), 0);
    // A stalled request is held far longer than the commands wait for one.
    proxy_->set_stall_time(std::chrono::milliseconds(60'000));
    bucket_name_ = UniqueBucketName();
    bucket_ = host + std::to_string(proxy_->port()) + "/" + bucket_name_;
    meta_ = "rocksdb://" + tmp() + "/meta";
  }
  void TearDown() override {
    proxy_.reset();
    ScratchTest::TearDown();
  }

  CommandResult Shoal(std::vector<std::string> args) {
    args.insert(args.begin(), ShoalBinary());
    return RunCommand(args, std::chrono::seconds(240));
  }
  std::vector<std::string> Keys() const {
    return {"--access-key", s3_.access_key, "--secret-key", s3_.secret_key};
  }
  std::vector<std::string> With(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  }

  S3Server s3_;
  std::unique_ptr<FaultProxy> proxy_;
  std::string bucket_name_;
  std::string bucket_;  // the bucket's URL, through the proxy
  std::string meta_;
};

TEST_F(FlakyStoreTest, CommandsRideThroughAFifthOfRequestsFailing) {
  proxy_->FailRandomly(
      0.2,
      {Fault::kInternalError, Fault::kSlowDown, Fault::kReset, Fault::kTruncate, Fault::kStall},
      42);
  // Stalls are noticed after 1 s without progress.
  const std::vector<std::string> io = {"--io-timeout", "1"};

  CommandResult r = Shoal(
      With(With({"format", meta_, "vol", "--storage", "s3", "--bucket", bucket_}, Keys()), io));
  ASSERT_TRUE(r.ok()) << r.Describe({"format"});
  r = Shoal(With(With({"fsck", meta_}, Keys()), io));
  EXPECT_TRUE(r.ok()) << r.Describe({"fsck"});
  // objbench reads back and checks every byte it wrote.
  r = Shoal(
      With(With({"objbench", "--storage", "s3", "--bucket", bucket_ + "-bench", "--small-count",
                 "60", "--large-count", "4", "--large-size", "1M", "--threads", "4"},
                Keys()),
           io));
  EXPECT_TRUE(r.ok()) << r.Describe({"objbench"});
  EXPECT_GT(proxy_->faults_injected(), 10) << "of " << proxy_->requests() << " requests";
}

TEST_F(FlakyStoreTest, CommandsGiveUpWithinTheirBudgetWithOneLine) {
  CommandResult r =
      Shoal(With({"format", meta_, "vol", "--storage", "s3", "--bucket", bucket_}, Keys()));
  ASSERT_TRUE(r.ok()) << r.Describe({"format"});

  proxy_->FailRandomly(1.0, {Fault::kSlowDown, Fault::kReset});
  const auto start = std::chrono::steady_clock::now();
  r = Shoal(With(With({"fsck", meta_}, Keys()), {"--io-retries", "3", "--io-max-time", "10"}));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(60));
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(r.timed_out);
  std::string err = r.err;
  while (!err.empty() && err.back() == '\n') err.pop_back();
  EXPECT_EQ(err.find('\n'), std::string::npos) << "more than one line: " << r.err;
  EXPECT_NE(err.find("gave up after 3 attempts"), std::string::npos) << r.err;
  EXPECT_NE(err.find(bucket_name_), std::string::npos) << r.err;

  // Flags out of range change nothing and say which flag.
  r = Shoal(With(With({"fsck", meta_}, Keys()), {"--io-retries", "0"}));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--io-retries"), std::string::npos) << r.err;
}

// A mount through 3% stalled requests and 20% other faults (500, 503,
// reset, cut body): a 100 MB file and 300 small files are written with no
// error at write, fsync or close, and read back whole after a remount
// without a cache (through the same faults); fsck finds nothing wrong.
TEST_F(FlakyStoreTest, MountHidesStallsAndMixedFaults) {
  Volume vol(tmp(), "vol", TestStorage::kS3);
  vol.set_bucket(bucket_);
  ASSERT_TRUE(vol.Format());
  // Each kind below is 1% of requests.
  std::vector<Fault> kinds(3, Fault::kStall);
  for (Fault f : {Fault::kInternalError, Fault::kSlowDown, Fault::kReset, Fault::kTruncate}) {
    kinds.insert(kinds.end(), 5, f);
  }
  proxy_->FailRandomly(0.01 * static_cast<double>(kinds.size()), kinds, 7);
  const std::vector<std::string> io = {"--io-timeout", "1"};
  ASSERT_TRUE(vol.Mount(io));

  const std::string big = Pattern(100 << 20, 1);
  EXPECT_TRUE(WriteFile(vol.mountpoint() + "/big", big, /*fsync_it=*/true));
  std::vector<std::string> small;
  ASSERT_EQ(::mkdir((vol.mountpoint() + "/small").c_str(), 0755), 0) << strerror(errno);
  for (int i = 0; i < 300; ++i) {
    small.push_back(Pattern(4096 + 97 * i, 100 + i));
    ASSERT_TRUE(WriteFile(vol.mountpoint() + "/small/" + std::to_string(i), small.back(),
                          /*fsync_it=*/true));
  }
  ASSERT_TRUE(vol.Unmount()) << vol.LogTail();

  ASSERT_TRUE(vol.Mount({"--io-timeout", "1", "--cache-size", "0"}));
  EXPECT_TRUE(ReadFile(vol.mountpoint() + "/big") == big) << "big differs";
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(ReadFile(vol.mountpoint() + "/small/" + std::to_string(i)) == small[i])
        << "small file " << i << " differs";
  }
  ASSERT_TRUE(vol.Unmount()) << vol.LogTail();
  CommandResult r = vol.Shoal(With(With({"fsck", vol.meta_url()}, Keys()), io));
  EXPECT_TRUE(r.ok()) << r.Describe({"fsck"}) << r.out;
  EXPECT_GT(proxy_->faults_injected(), 20) << "of " << proxy_->requests() << " requests";
}

// A store down for longer than the retry budget loses nothing: fsync fails
// (the application learns of the outage), but the data is recorded and kept
// in the disk cache, `shoal status` shows the blocks waiting; they survive a
// kill -9 of the mount, and once the store is back the next mount uploads
// them. A mount without a cache then reads every byte from the store.
TEST_F(FlakyStoreTest, AnOutageLongerThanTheBudgetLosesNothing) {
  Volume vol(tmp(), "vol", TestStorage::kS3);
  vol.set_bucket(bucket_);
  ASSERT_TRUE(vol.Format());
  ASSERT_TRUE(vol.Mount({"--io-retries", "2", "--io-max-time", "1"}));
  proxy_->FailRandomly(1.0, {Fault::kSlowDown, Fault::kReset});

  const std::string data = Pattern(3 << 20, 5);
  const std::string path = vol.mountpoint() + "/during-outage";
  ::testing::AssertionResult written = WriteFile(path, data, /*fsync_it=*/true);
  const std::string error = written.message();
  EXPECT_FALSE(written);
  EXPECT_NE(error.find("fsync"), std::string::npos) << "'" << error << "'";
  EXPECT_NE(error.find(strerror(EIO)), std::string::npos) << error;
  EXPECT_TRUE(ReadFile(path) == data) << "not readable during the outage";

  CommandResult r = vol.Shoal({"status", vol.mountpoint(), "--json"});
  ASSERT_TRUE(r.ok()) << r.err;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.contains("data_path")) << r.out;
  const auto& uploads = j["data_path"]["uploads"];
  EXPECT_GE(uploads.value("deferred", uint64_t{0}), 1u) << r.out;
  EXPECT_GE(uploads.value("staged_pending", uint64_t{0}), 1u) << r.out;
  r = vol.Shoal({"status", vol.mountpoint()});
  EXPECT_NE(r.out.find("kept after the store failed them"), std::string::npos) << r.out;

  ASSERT_TRUE(vol.KillDaemon());
  proxy_->Clear();                              // the store is back
  ASSERT_TRUE(vol.Mount()) << vol.LogTail();    // the same cache: finds the staged blocks
  ASSERT_TRUE(vol.Unmount()) << vol.LogTail();  // and uploads them before it ends
  ASSERT_TRUE(vol.Mount({"--cache-size", "0", "--cache-dir", tmp() + "/no-cache"}));
  EXPECT_TRUE(ReadFile(path) == data) << "differs when read from the store";
  ASSERT_TRUE(vol.Unmount()) << vol.LogTail();
  r = vol.Shoal(With({"fsck", vol.meta_url()}, Keys()));
  EXPECT_TRUE(r.ok()) << r.Describe({"fsck"}) << r.out;
}

}  // namespace
}  // namespace shoal::testing
