#include "kv/retry.h"

#include <algorithm>
#include <optional>
#include <random>
#include <string>
#include <thread>

namespace shoal::kv {

Status RetryOnConflict(const RetryPolicy& policy, std::string_view what,
                       const std::function<Status()>& attempt) {
  const int max_attempts = std::max(1, policy.max_attempts);
  // Seeded on the first conflict only: most transactions never need it.
  std::optional<std::minstd_rand> rng;
  Status last;
  for (int n = 0; n < max_attempts; ++n) {
    if (n > 0) {
      if (!rng) rng.emplace(std::random_device{}());
      const int shift = std::min(n - 1, 30);
      const auto ceiling = std::min<int64_t>(policy.max_backoff.count(),
                                             policy.first_backoff.count() * (int64_t{1} << shift));
      std::uniform_int_distribution<int64_t> pick(0, std::max<int64_t>(0, ceiling));
      std::this_thread::sleep_for(std::chrono::microseconds(pick(*rng)));
    }
    last = attempt();
    if (last.code() != Code::kConflict) return last;
  }
  return Conflict("transaction on " + std::string(what) + " still conflicted after " +
                  std::to_string(max_attempts) +
                  " attempts: too many concurrent writers to the same keys; retry later (last: " +
                  last.message() + ")");
}

}  // namespace shoal::kv
