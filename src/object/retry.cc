#include "object/retry.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace shoal::object {
namespace {

// A patient request may be silent this long before it answers.
constexpr std::chrono::milliseconds kPatientStall{60'000};

double Seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

Status IoPolicy::Validate() const {
  if (max_attempts < 1 || max_attempts > 1000) {
    return Invalid(
        fmt::format("--io-retries {} is out of range: give 1 (no retries) to 1000", max_attempts));
  }
  if (max_time.count() < 0) {
    return Invalid(
        "--io-max-time cannot be negative: give the seconds a request may keep retrying");
  }
  if (stall_timeout < std::chrono::seconds(1) || stall_timeout > std::chrono::hours(1)) {
    return Invalid(
        fmt::format("--io-timeout {} s is out of range: give 1 to 3600 seconds without progress",
                    Seconds(stall_timeout)));
  }
  if (base_delay.count() < 0 || max_delay < base_delay) {
    return Invalid("the retry delays are inconsistent: the first must be at most the largest");
  }
  if (min_throughput == 0) return Invalid("the minimum throughput of a transfer cannot be 0");
  return OkStatus();
}

std::string IoPolicy::Describe() const {
  return fmt::format("{} attempt{} within {:g} s, a stall after {:g} s", max_attempts,
                     max_attempts == 1 ? "" : "s", Seconds(max_time), Seconds(stall_timeout));
}

bool IsRetryableHttpStatus(long status) {  // NOLINT(google-runtime-int)
  if (status == 408 || status == 429) return true;
  return status >= 500 && status != 501 && status != 505;
}

AttemptLimits LimitsFor(const IoPolicy& policy, uint64_t bytes, bool patient) {
  AttemptLimits limits;
  limits.stall = patient ? std::max(policy.stall_timeout, kPatientStall) : policy.stall_timeout;
  if (bytes > 0) {
    const uint64_t floor = std::max<uint64_t>(policy.min_throughput, 1);
    auto transfer = std::chrono::milliseconds(bytes * 1000 / floor);
    limits.total = limits.stall + transfer;
  }
  return limits;
}

RetryBudget::RetryBudget(const IoPolicy& policy, Clock::time_point start)
    : policy_(policy), start_(start) {}

std::optional<std::chrono::milliseconds> RetryBudget::Next(Clock::time_point now,
                                                           std::mt19937_64& random) {
  if (attempts_ >= policy_.max_attempts) return std::nullopt;
  std::chrono::milliseconds delay = FullJitterBackoff(policy_, attempts_, random);
  if (now - start_ + delay > policy_.max_time) return std::nullopt;
  ++attempts_;
  return delay;
}

std::string RetryBudget::Describe(Clock::time_point now) const {
  return fmt::format("{} attempt{} in {:.1f} s", attempts_, attempts_ == 1 ? "" : "s",
                     Seconds(now - start_));
}

void LatencyWindow::Add(std::chrono::microseconds latency) {
  std::lock_guard lock(mu_);
  if (samples_.size() < kSamples) {
    samples_.push_back(latency.count());
  } else {
    samples_[next_] = latency.count();
  }
  next_ = (next_ + 1) % kSamples;
}

std::optional<std::chrono::microseconds> LatencyWindow::Quantile(double p) const {
  std::vector<int64_t> sorted;
  {
    std::lock_guard lock(mu_);
    if (samples_.size() < kMinSamples) return std::nullopt;
    sorted = samples_;
  }
  // Nearest rank: the smallest sample with at least p of the window at or below it.
  auto rank = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<ptrdiff_t>(rank - 1), sorted.end());
  return std::chrono::microseconds(sorted[rank - 1]);
}

std::chrono::milliseconds FullJitterBackoff(const IoPolicy& policy, int retry,
                                            std::mt19937_64& random) {
  const int64_t base = std::max<int64_t>(policy.base_delay.count(), 0);
  const int64_t max = std::max<int64_t>(policy.max_delay.count(), 0);
  // base * 2^retry, without overflowing: past max it no longer matters.
  int64_t cap = base;
  for (int i = 0; i < retry && cap < max; ++i) cap *= 2;
  cap = std::min(cap, max);
  return std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(0, cap)(random));
}

}  // namespace shoal::object
