// IoPolicy: how every object-store request of every command rides through a
// store that throttles, resets connections, cuts bodies short or accepts a
// request and never answers it. One policy, chosen once per process by the
// --io-* flags (cli/storage.h), used by every request of the S3 client.
//
// The moving parts:
//   - What is retried (IsRetryableHttpStatus here; transport failures are
//     classified by the HTTP client): 5xx but 501/505, 408, 429, SlowDown,
//     refused and reset connections, short bodies, and every timeout. Other
//     4xx are answers, not failures: retrying cannot change them.
//   - How long one attempt may take (AttemptLimits): a request that moves no
//     byte for `stall_timeout` is abandoned, whatever its size, so a stalled
//     small PUT costs seconds, not the 30 s of a throughput check; a large
//     transfer is also held to a floor of `min_throughput`, so one that
//     trickles is abandoned too, and its deadline grows with its size.
//   - When to stop (RetryBudget): after `max_attempts` attempts, or when the
//     next attempt would start more than `max_time` after the first began.
//     Between attempts: full-jitter exponential backoff, uniform in
//     [0, min(max_delay, base_delay * 2^retry)], so that clients throttled
//     together do not come back together.
//
// Idempotency is decided by the callers, once each (s3_store.cc): block PUTs
// write immutable keys, a DELETE answered 404 after a retry is a success, a
// multipart part is retried alone, and a CompleteMultipartUpload whose answer
// was lost is checked with a HEAD.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/status.h"

namespace shoal::object {

struct IoPolicy {
  // Attempts per request, the first included; 1 disables retries. With the
  // delays below, 10 attempts span about 30 s of backoff: longer than the
  // throttling bursts of S3 (SlowDown) and the restarts of MinIO or s3rver.
  int max_attempts = 10;
  // No retry starts later than this after the first attempt began. Long
  // enough to ride out a store restart; short enough that a command against a
  // store that is really gone fails within two minutes.
  std::chrono::milliseconds max_time{120'000};
  // Backoff before retry n (n >= 1): uniform in [0, min(max_delay, base_delay * 2^n)].
  std::chrono::milliseconds base_delay{100};
  std::chrono::milliseconds max_delay{5'000};
  // An attempt that moves no byte (sent or received) for this long is
  // abandoned. S3's time to first byte is tens of milliseconds, and seconds at
  // its worst; a request silent for longer is far more likely stalled than slow.
  std::chrono::milliseconds stall_timeout{5'000};
  // A transfer is also given stall_timeout + size / min_throughput in all. 1 MiB/s
  // is a floor no working link falls under, yet catches a connection that trickles.
  uint64_t min_throughput = 1 << 20;
  // Hedging: a small read (a GET of at most kHedgeMaxBytes, a HEAD) still
  // unanswered after the recent p99 of such requests
  // (but at least hedge_floor) is sent a second time, and the first answer
  // wins. A stall then costs about the p99 instead of stall_timeout.
  bool hedge = true;
  std::chrono::milliseconds hedge_floor{20};

  // kInvalid naming the field and its range when a value is out of bounds.
  Status Validate() const;
  // "10 attempts within 120 s, a stall after 5 s": for logs and messages.
  std::string Describe() const;
};

// Whether an HTTP status asks for the same request again: 408, 429 and 5xx
// other than 501 (not implemented) and 505 (HTTP version).
bool IsRetryableHttpStatus(long status);  // NOLINT(google-runtime-int): libcurl's type

// What one attempt may take.
struct AttemptLimits {
  // No byte moved for this long: abandon the attempt.
  std::chrono::milliseconds stall{0};
  // The whole attempt; zero when the size is not known in advance (a GET of a
  // whole object), where only the stall check applies.
  std::chrono::milliseconds total{0};
};

// The limits of an attempt that moves `bytes` bytes (the body sent or the range
// asked for; 0 when unknown). `patient` requests may be silent longer before
// answering (CompleteMultipartUpload assembles the object first): at least 60 s.
AttemptLimits LimitsFor(const IoPolicy& policy, uint64_t bytes, bool patient = false);

// The attempts of one request. Not thread-safe: one per request.
class RetryBudget {
 public:
  using Clock = std::chrono::steady_clock;

  // The first attempt starts at `start`.
  RetryBudget(const IoPolicy& policy, Clock::time_point start);

  // Called after attempt number attempts() failed in a way worth retrying.
  // Returns the delay to wait before the next attempt, or nullopt when the
  // budget is spent (attempts, or time: the next attempt would start past
  // max_time). `random` draws the jitter. On a delay, attempts() grows by one.
  std::optional<std::chrono::milliseconds> Next(Clock::time_point now, std::mt19937_64& random);

  int attempts() const { return attempts_; }
  // "3 attempts in 4.2 s" (from start to `now`).
  std::string Describe(Clock::time_point now) const;

 private:
  const IoPolicy& policy_;
  const Clock::time_point start_;
  int attempts_ = 1;
};

// Requests moving more than this are not hedged: a second copy of a large
// transfer costs bandwidth, and its stalls are caught by the throughput floor.
inline constexpr uint64_t kHedgeMaxBytes = 1 << 20;

// The latencies of the last kSamples requests of one kind, for the hedging
// delay. Thread-safe.
class LatencyWindow {
 public:
  static constexpr size_t kSamples = 256;
  // Fewer samples than this tell nothing yet: no hedging until then.
  static constexpr size_t kMinSamples = 20;

  void Add(std::chrono::microseconds latency);
  // The p-th quantile (0 < p <= 1) of the window; nullopt under kMinSamples.
  std::optional<std::chrono::microseconds> Quantile(double p) const;

 private:
  mutable std::mutex mu_;
  std::vector<int64_t> samples_;  // a ring of kSamples
  size_t next_ = 0;
};

// The backoff before retry n (n >= 1), drawn from [0, min(max_delay, base_delay * 2^n)].
std::chrono::milliseconds FullJitterBackoff(const IoPolicy& policy, int retry,
                                            std::mt19937_64& random);

}  // namespace shoal::object
