// The retry loop shared by every engine's Engine::Txn: run an attempt, and
// while it fails with kConflict, wait a randomized, growing delay and run it
// again, up to a bound.
#pragma once

#include <chrono>
#include <functional>
#include <string_view>

#include "common/status.h"

namespace shoal::kv {

struct RetryPolicy {
  // Attempts in all, the first included. Enough for heavy contention on a few
  // keys (dozens of writers on one counter) without hiding a livelock.
  int max_attempts = 50;
  // The delay before attempt n (n >= 1) is drawn uniformly from
  // [0, min(max_backoff, first_backoff * 2^(n-1))] ("full jitter"), so that
  // writers that collided once do not collide again in lockstep.
  std::chrono::microseconds first_backoff{50};
  std::chrono::microseconds max_backoff{20'000};
};

// Runs attempt() until it returns anything other than kConflict, and returns
// that. After policy.max_attempts conflicts returns kConflict with a message
// naming `what` (e.g. the engine's Describe()) and the last conflict.
// Thread-safe; keeps no state between calls.
Status RetryOnConflict(const RetryPolicy& policy, std::string_view what,
                       const std::function<Status()>& attempt);

}  // namespace shoal::kv
