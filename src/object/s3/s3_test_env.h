// Helpers for tests that need a real S3 server: the one named by
// SHOAL_TEST_S3_ENDPOINT ("http://127.0.0.1:PORT"), with the credentials in
// SHOAL_TEST_S3_ACCESS_KEY / SHOAL_TEST_S3_SECRET_KEY (default S3RVER /
// S3RVER, s3rver's). Without the endpoint, tests skip and say how to run them.
//
// Every process uses its own bucket, and every store its own key prefix in
// it, so tests do not see each other's objects.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "object/s3/s3_options.h"
#include "object/s3/s3_store.h"

namespace shoal::object::s3::testing {

inline constexpr const char* kSkipMessage =
    "SHOAL_TEST_S3_ENDPOINT is not set: start an S3 server (e.g. s3rver -d DIR -a 127.0.0.1 -p "
    "PORT) and set SHOAL_TEST_S3_ENDPOINT=http://127.0.0.1:PORT to run this test";

inline std::string Env(const char* name, const char* fallback) {
  const char* v = getenv(name);
  return v != nullptr && v[0] != '\0' ? v : fallback;
}

// The endpoint URL, or "" when none is configured.
inline std::string TestEndpoint() { return Env("SHOAL_TEST_S3_ENDPOINT", ""); }

inline std::string TestBucket() { return "shoal-test-" + std::to_string(getpid()); }

// A prefix no other store of this process uses.
inline std::string UniquePrefix() {
  static std::atomic<int> next{0};
  return "t" + std::to_string(next.fetch_add(1)) + "/";
}

// Options for the test server and `bucket`, with fast retries so that fault
// tests stay short. nullopt without an endpoint.
inline std::optional<S3Options> TestOptions(const std::string& bucket = TestBucket()) {
  std::string endpoint = TestEndpoint();
  if (endpoint.empty()) return std::nullopt;
  Result<S3Options> o = ParseS3Url(endpoint + "/" + bucket);
  EXPECT_TRUE(o.has_value()) << o.error().ToString();
  if (!o.has_value()) return std::nullopt;
  o->credentials.access_key = Env("SHOAL_TEST_S3_ACCESS_KEY", "S3RVER");
  o->credentials.secret_key = Env("SHOAL_TEST_S3_SECRET_KEY", "S3RVER");
  o->retry.base_delay = std::chrono::milliseconds(20);
  o->retry.max_delay = std::chrono::milliseconds(200);
  return *o;
}

// Opens a store under a fresh prefix of the test bucket, creating the bucket
// if needed; nullptr (with a test failure) when that does not work.
inline std::shared_ptr<S3Store> OpenTestStore(S3Options options) {
  if (options.prefix.empty()) options.prefix = UniquePrefix();
  Result<std::unique_ptr<S3Store>> store = S3Store::Open(std::move(options));
  EXPECT_TRUE(store.has_value()) << store.error().ToString();
  if (!store.has_value()) return nullptr;
  Status st = (*store)->EnsureBucket();
  EXPECT_TRUE(st.ok()) << st.ToString();
  if (!st.ok()) return nullptr;
  return std::shared_ptr<S3Store>(std::move(*store));
}

// Removes every object under the store's prefix.
inline void Clear(S3Store& store) {
  ListOptions o;
  while (true) {
    Result<ListResult> r = store.List(o);
    if (!r.has_value() || r->objects.empty()) return;
    std::vector<std::string> keys;
    for (const ObjectInfo& info : r->objects) keys.push_back(info.key);
    Status st = store.DeleteMany(keys);
    EXPECT_TRUE(st.ok()) << st.ToString();
    if (!st.ok() || !r->truncated) return;
  }
}

}  // namespace shoal::object::s3::testing
