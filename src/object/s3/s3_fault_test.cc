// S3Store through a FaultProxy in front of the test server: requests that
// meet 500s, 503 SlowDown, stalls, resets and bodies cut short succeed after
// retries, or fail with a clear error once retries run out; data read back is
// never wrong.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <random>
#include <string>

#include "object/s3/fault_proxy.h"
#include "object/s3/s3_store.h"
#include "object/s3/s3_test_env.h"

namespace shoal::object::s3 {
namespace {

using testing::Fault;
using testing::FaultProxy;

std::string RandomBytes(size_t n, uint32_t seed) {
  std::string data(n, '\0');
  std::mt19937 random(seed);
  for (char& c : data) c = static_cast<char>(random());
  return data;
}

class S3FaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::optional<S3Options> options = testing::TestOptions();
    if (!options.has_value()) GTEST_SKIP() << testing::kSkipMessage;
    const std::string& endpoint = options->endpoint;
    if (!endpoint.starts_with("127.0.0.1:") && !endpoint.starts_with("localhost:")) {
      GTEST_SKIP() << "the fault proxy forwards to 127.0.0.1 only, not " << endpoint;
    }
    int upstream = std::stoi(endpoint.substr(endpoint.find(':') + 1));
    proxy_ = std::make_unique<FaultProxy>(upstream);
    ASSERT_NE(proxy_->port(), 0);
    proxy_->set_stall_time(std::chrono::milliseconds(4000));

    options->endpoint = "127.0.0.1:" + std::to_string(proxy_->port());
    options->use_tls = false;
    // Stalls are noticed after 1 s without progress.
    options->retry.stall_timeout = std::chrono::seconds(1);
    options->retry.max_attempts = 4;
    options_ = *options;
    store_ = testing::OpenTestStore(options_);
    ASSERT_NE(store_, nullptr);
  }
  // The fixture's options with multipart uploads from 6 MiB, in 5 MiB parts.
  S3Options MultipartOptions() const {
    S3Options o = options_;
    o.multipart_threshold = 6 << 20;
    o.part_size = 5 << 20;
    return o;
  }
  void TearDown() override {
    if (proxy_ != nullptr) proxy_->Clear();
    if (store_ != nullptr) testing::Clear(*store_);
    store_.reset();
    proxy_.reset();
  }

  std::unique_ptr<FaultProxy> proxy_;
  S3Options options_;
  std::shared_ptr<S3Store> store_;
};

// Each fault, two or three times in a row, on every kind of request: a later
// attempt gets through, and what is read back is what was written.
TEST_F(S3FaultTest, TransientFaultsAreRetried) {
  const Fault faults[] = {Fault::kInternalError, Fault::kSlowDown, Fault::kReset, Fault::kTruncate,
                          Fault::kStall};
  uint32_t seed = 10;
  for (Fault fault : faults) {
    SCOPED_TRACE("fault " + std::to_string(static_cast<int>(fault)));
    // A cut body shows only in answers that have one: GETs.
    const bool bodiless_ok = fault != Fault::kTruncate;
    // Each stall costs a second or two before it is noticed: fewer of them.
    const int n3 = fault == Fault::kStall ? 1 : 3;
    const int n2 = fault == Fault::kStall ? 1 : 2;
    std::string key = "f/" + std::to_string(static_cast<int>(fault));
    std::string data = RandomBytes(300'000, seed++);
    if (bodiless_ok) proxy_->FailNext(fault, n3, "PUT");
    Status put = store_->Put(key, data);
    ASSERT_TRUE(put.ok()) << put.ToString();
    EXPECT_EQ(proxy_->pending(), 0);

    proxy_->FailNext(fault, n3, "GET");
    Result<std::string> got = store_->Get(key);
    ASSERT_TRUE(got.has_value()) << got.error().ToString();
    EXPECT_TRUE(*got == data);
    EXPECT_EQ(proxy_->pending(), 0);

    proxy_->FailNext(fault, n2, "GET");
    got = store_->Get(key, 1000, 5000);
    ASSERT_TRUE(got.has_value()) << got.error().ToString();
    EXPECT_TRUE(*got == data.substr(1000, 5000));
    EXPECT_EQ(proxy_->pending(), 0);

    proxy_->FailNext(fault, n2, "GET");  // a listing is a GET too
    Result<ListResult> listed = store_->List({});
    ASSERT_TRUE(listed.has_value()) << listed.error().ToString();
    ASSERT_EQ(listed->objects.size(), 1u);
    EXPECT_EQ(listed->objects[0].key, key);
    EXPECT_EQ(proxy_->pending(), 0);

    if (bodiless_ok) {
      proxy_->FailNext(fault, n2, "HEAD");
      EXPECT_EQ(store_->Head(key).value_or(ObjectInfo{}).size, data.size());
      EXPECT_EQ(proxy_->pending(), 0);
      proxy_->FailNext(fault, n2, "DELETE");
    }
    EXPECT_TRUE(store_->Delete(key).ok());
    EXPECT_EQ(proxy_->pending(), 0);
    EXPECT_EQ(store_->Head(key).error().code(), Code::kNotFound);
  }
}

// When faults outlast the retries, the error is clean and says what happened.
TEST_F(S3FaultTest, PersistentFaultsFailCleanly) {
  ASSERT_TRUE(store_->Put("p", "payload").ok());

  proxy_->FailNext(Fault::kSlowDown, 10);
  Result<std::string> got = store_->Get("p");
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code(), Code::kUnavailable);
  const std::string& m = got.error().message();
  EXPECT_NE(m.find("s3 get 'p'"), std::string::npos) << m;
  EXPECT_NE(m.find("HTTP 503 SlowDown"), std::string::npos) << m;
  EXPECT_NE(m.find("request id FAULTPROXY"), std::string::npos) << m;
  EXPECT_NE(m.find("4 attempts"), std::string::npos) << m;
  proxy_->Clear();

  proxy_->FailNext(Fault::kReset, 10);
  Status put = store_->Put("p", "other");
  EXPECT_EQ(put.code(), Code::kUnavailable) << put.ToString();
  EXPECT_NE(put.message().find("connection"), std::string::npos) << put.message();
  proxy_->Clear();

  proxy_->FailNext(Fault::kTruncate, 10, "GET");
  got = store_->Get("p");
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code(), Code::kIo) << got.error().ToString();
  EXPECT_NE(got.error().message().find("cut short"), std::string::npos) << got.error().message();
  proxy_->Clear();

  // The failed Put left the old object whole.
  EXPECT_EQ(store_->Get("p").value_or(""), "payload");
}

// A client error is not retried.
TEST_F(S3FaultTest, NotFoundIsNotRetried) {
  int before = proxy_->requests();
  EXPECT_EQ(store_->Get("missing").error().code(), Code::kNotFound);
  EXPECT_EQ(proxy_->requests() - before, 1);
}

// Multipart uploads survive faults on their parts and on completion.
TEST_F(S3FaultTest, MultipartWithFaults) {
  S3Options o = MultipartOptions();
  std::shared_ptr<S3Store> store = testing::OpenTestStore(o);
  ASSERT_NE(store, nullptr);
  std::string data = RandomBytes(11 << 20, 99);
  proxy_->FailNext(Fault::kNone, 2, "PUT");  // let the first part through
  proxy_->FailNext(Fault::kReset, 1, "PUT");
  proxy_->FailNext(Fault::kInternalError, 2, "POST");  // create, then complete
  Status st = store->Put("mp", data);
  ASSERT_TRUE(st.ok()) << st.ToString();
  proxy_->FailNext(Fault::kTruncate, 2, "GET");
  Result<std::string> got = store->Get("mp");
  ASSERT_TRUE(got.has_value()) << got.error().ToString();
  EXPECT_TRUE(*got == data);
  testing::Clear(*store);
}

// A request the server accepts and never answers is abandoned once it has
// moved nothing for the stall timeout (1 s here), and sent again on a new
// connection: it does not wait for the server to give up.
TEST_F(S3FaultTest, StalledRequestIsAbandonedAndSentAgain) {
  proxy_->set_stall_time(std::chrono::milliseconds(60'000));
  std::string data = RandomBytes(4096, 7);
  for (const char* method : {"PUT", "GET"}) {
    SCOPED_TRACE(method);
    proxy_->FailNext(Fault::kStall, 1, method);
    auto start = std::chrono::steady_clock::now();
    if (std::string(method) == "PUT") {
      Status st = store_->Put("stalled", data);
      ASSERT_TRUE(st.ok()) << st.ToString();
    } else {
      Result<std::string> got = store_->Get("stalled");
      ASSERT_TRUE(got.has_value()) << got.error().ToString();
      EXPECT_TRUE(*got == data);
    }
    // Far less than the 60 s the proxy would hold the request.
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
    EXPECT_EQ(proxy_->pending(), 0);
  }
}

// The answer to CompleteMultipartUpload is cut: the upload is done, and the
// retry finds no upload. The HEAD that follows sees the object this upload
// made (S3's multipart ETag), so the Put succeeds.
TEST_F(S3FaultTest, LostCompletionAnswerIsConfirmed) {
  S3Options o = MultipartOptions();
  std::shared_ptr<S3Store> store = testing::OpenTestStore(o);
  ASSERT_NE(store, nullptr);
  std::string data = RandomBytes(11 << 20, 98);
  proxy_->FailNext(Fault::kNone, 1, "POST");      // create
  proxy_->FailNext(Fault::kTruncate, 1, "POST");  // complete: done, its answer cut
  Status st = store->Put("lost", data);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(proxy_->pending(), 0);
  Result<std::string> got = store->Get("lost");
  ASSERT_TRUE(got.has_value()) << got.error().ToString();
  EXPECT_TRUE(*got == data);
  testing::Clear(*store);
}

}  // namespace
}  // namespace shoal::object::s3
