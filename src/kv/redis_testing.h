// Test support for the redis engine (tests only): opens engines on the server
// that SHOAL_TEST_REDIS_URL names (scripts/test.sh starts one), each under a
// fresh random prefix whose keys are deleted when the engine is destroyed, so
// that tests neither see each other nor leave anything behind, and may run in
// parallel on one server.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>

#include "common/url.h"
#include "kv/redis_kv.h"

namespace shoal::kv::testing {

inline constexpr char kRedisSkipReason[] =
    "SHOAL_TEST_REDIS_URL is not set: start a redis-server on a loopback port and set it to "
    "redis://127.0.0.1:PORT to run the redis tests (scripts/test.sh does both)";

// The server's URL, or "" when the tests should skip.
inline std::string TestRedisUrl() {
  const char* url = std::getenv("SHOAL_TEST_REDIS_URL");
  return url != nullptr ? url : "";
}

// "" when a redis server is configured, else why the redis tests skip.
inline std::string RedisSkipReason() { return TestRedisUrl().empty() ? kRedisSkipReason : ""; }

// A prefix no other test uses: "t-<pid>-<random hex>".
inline std::string FreshRedisPrefix() {
  std::random_device random;
  char buf[64];
  snprintf(buf, sizeof(buf), "t-%d-%08x%08x", static_cast<int>(getpid()), random(), random());
  return buf;
}

// The options of SHOAL_TEST_REDIS_URL with `prefix`, deleting its keys when
// the engine is destroyed.
inline Result<RedisOptions> TestRedisOptions(const std::string& prefix = FreshRedisPrefix()) {
  ASSIGN_OR_RETURN(Url url, ParseUrl(TestRedisUrl()));
  ASSIGN_OR_RETURN(RedisOptions options, RedisOptionsFromUrl(url));
  options.prefix = prefix;
  options.delete_everything_on_close = true;
  return options;
}

inline Result<std::shared_ptr<RedisEngine>> OpenTestRedis(RetryPolicy retry = {}) {
  ASSIGN_OR_RETURN(RedisOptions options, TestRedisOptions());
  options.retry = retry;
  return OpenRedis(options);
}

}  // namespace shoal::kv::testing
