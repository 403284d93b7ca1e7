// The retry policy alone: what is retried, the backoff's bounds, the budget
// of attempts and of time, and the time limits of one attempt.
#include "object/retry.h"

#include <gtest/gtest.h>

#include <random>

namespace shoal::object {
namespace {

using std::chrono::milliseconds;
using Clock = RetryBudget::Clock;

TEST(IoPolicyTest, RetryableStatuses) {
  for (long s : {408, 429, 500, 502, 503, 504, 599}) EXPECT_TRUE(IsRetryableHttpStatus(s)) << s;
  for (long s : {200, 204, 206, 301, 400, 403, 404, 409, 412, 416, 501, 505}) {
    EXPECT_FALSE(IsRetryableHttpStatus(s)) << s;
  }
}

TEST(IoPolicyTest, FullJitterStaysUnderTheCapAndSpreadsOverIt) {
  IoPolicy p;
  p.base_delay = milliseconds(100);
  p.max_delay = milliseconds(5000);
  std::mt19937_64 random(1);
  for (int retry = 1; retry <= 12; ++retry) {
    const int64_t cap = std::min<int64_t>(100LL << retry, 5000);
    int64_t lo = cap, hi = 0;
    for (int i = 0; i < 2000; ++i) {
      int64_t d = FullJitterBackoff(p, retry, random).count();
      ASSERT_GE(d, 0);
      ASSERT_LE(d, cap) << "retry " << retry;
      lo = std::min(lo, d);
      hi = std::max(hi, d);
    }
    // Full jitter: the draws cover [0, cap], not a band near the cap.
    EXPECT_LT(lo, cap / 10) << "retry " << retry;
    EXPECT_GT(hi, cap * 9 / 10) << "retry " << retry;
  }
  // A large retry number neither overflows nor passes the largest delay.
  EXPECT_LE(FullJitterBackoff(p, 1000, random), p.max_delay);
}

TEST(IoPolicyTest, BudgetEndsAfterMaxAttempts) {
  IoPolicy p;
  p.max_attempts = 3;
  p.max_time = milliseconds(1'000'000);
  std::mt19937_64 random(2);
  const Clock::time_point start = Clock::now();
  RetryBudget budget(p, start);
  EXPECT_EQ(budget.attempts(), 1);
  EXPECT_TRUE(budget.Next(start, random).has_value());
  EXPECT_TRUE(budget.Next(start, random).has_value());
  EXPECT_EQ(budget.attempts(), 3);
  EXPECT_FALSE(budget.Next(start, random).has_value());
  EXPECT_EQ(budget.attempts(), 3);
  EXPECT_EQ(budget.Describe(start + milliseconds(4200)), "3 attempts in 4.2 s");

  p.max_attempts = 1;  // no retries at all
  RetryBudget once(p, start);
  EXPECT_FALSE(once.Next(start, random).has_value());
  EXPECT_EQ(once.Describe(start), "1 attempt in 0.0 s");
}

TEST(IoPolicyTest, BudgetEndsWhenTheNextAttemptWouldStartTooLate) {
  IoPolicy p;
  p.max_attempts = 1000;
  p.max_time = milliseconds(10'000);
  p.base_delay = milliseconds(1000);
  p.max_delay = milliseconds(1000);
  std::mt19937_64 random(3);
  const Clock::time_point start = Clock::now();
  RetryBudget budget(p, start);
  // Early on there is time for a retry.
  std::optional<milliseconds> d = budget.Next(start + milliseconds(1000), random);
  ASSERT_TRUE(d.has_value());
  EXPECT_LE(*d, milliseconds(1000));
  // Past the budget there is none, whatever the jitter draws.
  EXPECT_FALSE(budget.Next(start + milliseconds(10'001), random).has_value());
  // Near its end, only a delay that still fits is given.
  for (int i = 0; i < 200; ++i) {
    RetryBudget near_end(p, start);
    std::optional<milliseconds> delay = near_end.Next(start + milliseconds(9'500), random);
    if (delay.has_value()) {
      EXPECT_LE(*delay, milliseconds(500));
    }
  }
}

TEST(IoPolicyTest, AttemptLimitsGrowWithTheTransfer) {
  IoPolicy p;
  p.stall_timeout = milliseconds(5000);
  p.min_throughput = 1 << 20;
  AttemptLimits small = LimitsFor(p, 4096);
  EXPECT_EQ(small.stall, milliseconds(5000));
  EXPECT_EQ(small.total, milliseconds(5000 + 3));  // 4 KiB at 1 MiB/s
  AttemptLimits big = LimitsFor(p, 64 << 20);
  EXPECT_EQ(big.stall, milliseconds(5000));
  EXPECT_EQ(big.total, milliseconds(5000 + 64'000));
  // Unknown size: only the stall check.
  EXPECT_EQ(LimitsFor(p, 0).total, milliseconds(0));
  // A request the server may think about long before answering.
  EXPECT_EQ(LimitsFor(p, 100, /*patient=*/true).stall, milliseconds(60'000));
}

TEST(IoPolicyTest, ValidateNamesTheFlag) {
  IoPolicy p;
  EXPECT_TRUE(p.Validate().ok());
  EXPECT_EQ(p.Describe(), "10 attempts within 120 s, a stall after 5 s");
  p.max_attempts = 0;
  Status st = p.Validate();
  EXPECT_EQ(st.code(), Code::kInvalid);
  EXPECT_NE(st.message().find("--io-retries"), std::string::npos) << st.message();
  p = IoPolicy{};
  p.stall_timeout = milliseconds(200);
  st = p.Validate();
  EXPECT_EQ(st.code(), Code::kInvalid);
  EXPECT_NE(st.message().find("--io-timeout"), std::string::npos) << st.message();
  p = IoPolicy{};
  p.max_time = milliseconds(-1);
  EXPECT_NE(p.Validate().message().find("--io-max-time"), std::string::npos);
}

TEST(LatencyWindowTest, QuantilesOfTheLastSamples) {
  using std::chrono::microseconds;
  LatencyWindow w;
  for (int i = 1; i < static_cast<int>(LatencyWindow::kMinSamples); ++i) w.Add(microseconds(i));
  EXPECT_FALSE(w.Quantile(0.99).has_value()) << "too few samples to tell";
  LatencyWindow hundred;
  for (int i = 100; i >= 1; --i) hundred.Add(microseconds(i));
  EXPECT_EQ(hundred.Quantile(0.99), microseconds(99));
  EXPECT_EQ(hundred.Quantile(0.5), microseconds(50));
  EXPECT_EQ(hundred.Quantile(1.0), microseconds(100));
  // Old samples leave the window: after kSamples fast ones, p99 is fast.
  for (size_t i = 0; i < LatencyWindow::kSamples; ++i) hundred.Add(microseconds(7));
  EXPECT_EQ(hundred.Quantile(0.99), microseconds(7));
}

}  // namespace
}  // namespace shoal::object
