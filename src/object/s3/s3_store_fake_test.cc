// S3Store over FakeS3 (no server): multipart uploads, paging, batch deletes,
// errors, and the retry policy driven by a client that fails on command.
#include <curl/curl.h>
#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "object/s3/fake_s3.h"
#include "object/s3/s3_store.h"

namespace shoal::object::s3 {
namespace {

using testing::FakeS3;

// Answers from a script first, then passes requests on.
class ScriptedHttp : public HttpClient {
 public:
  explicit ScriptedHttp(std::shared_ptr<HttpClient> next) : next_(std::move(next)) {}

  // The next request whose method is `method` gets `answer` instead of
  // reaching the server (or, with `after`, reaches it and is then changed).
  void Push(std::string method, std::function<void(HttpResponse*)> change, bool after = false) {
    std::lock_guard lock(mu_);
    script_.push_back({std::move(method), std::move(change), after});
  }

  HttpResponse Send(const HttpRequest& request) override {
    std::function<void(HttpResponse*)> change;
    bool after = false;
    {
      std::lock_guard lock(mu_);
      ++sent_;
      limits_.push_back(request.limits);
      for (auto it = script_.begin(); it != script_.end(); ++it) {
        if (it->method == request.method) {
          change = it->change;
          after = it->after;
          script_.erase(it);
          break;
        }
      }
    }
    if (!change) return next_->Send(request);
    HttpResponse r;
    if (after) r = next_->Send(request);
    change(&r);
    return r;
  }

  int sent() {
    std::lock_guard lock(mu_);
    return sent_;
  }
  size_t left() {
    std::lock_guard lock(mu_);
    return script_.size();
  }
  // The time limits of every request sent so far.
  std::vector<AttemptLimits> limits() {
    std::lock_guard lock(mu_);
    return limits_;
  }

 private:
  struct Step {
    std::string method;
    std::function<void(HttpResponse*)> change;
    bool after;
  };
  std::shared_ptr<HttpClient> next_;
  std::mutex mu_;
  std::deque<Step> script_;
  int sent_ = 0;
  std::vector<AttemptLimits> limits_;
};

void Status503(HttpResponse* r) {
  r->status = 503;
  r->headers = {{"x-amz-request-id", "REQ503"}};
  r->body =
      "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
}
void Reset(HttpResponse* r) {
  r->error = TransportError::kReset;
  r->error_message = "Connection reset by peer";
}
// What the client reports for a request that stalled past its limit.
void Stall(HttpResponse* r) {
  *r = HttpResponse{};
  r->error = TransportError::kTimeout;
  r->error_message = "Operation too slow";
}

std::string RandomBytes(size_t n, uint32_t seed) {
  std::string data(n, '\0');
  std::mt19937 random(seed);
  for (char& c : data) c = static_cast<char>(random());
  return data;
}

class S3StoreFakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_ = std::make_shared<FakeS3>("AKFAKE");
    http_ = std::make_shared<ScriptedHttp>(fake_);
    options_.endpoint = "fake.invalid:9000";
    options_.use_tls = false;
    options_.bucket = "b";
    options_.credentials = {"AKFAKE", "fake-secret-key", ""};
    options_.retry.base_delay = std::chrono::milliseconds(1);
    options_.retry.max_delay = std::chrono::milliseconds(5);
    store_ = Open(options_);
    ASSERT_NE(store_, nullptr);
    Status st = store_->EnsureBucket();
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  // The fixture's options with multipart uploads from 6 MiB, in 5 MiB parts.
  S3Options MultipartOptions() const {
    S3Options o = options_;
    o.multipart_threshold = 6 << 20;
    o.part_size = 5 << 20;
    return o;
  }
  std::unique_ptr<S3Store> Open(const S3Options& o) {
    Result<std::unique_ptr<S3Store>> store = S3Store::Open(o, http_);
    EXPECT_TRUE(store.has_value()) << store.error().ToString();
    return store.has_value() ? std::move(*store) : nullptr;
  }

  std::shared_ptr<FakeS3> fake_;
  std::shared_ptr<ScriptedHttp> http_;
  S3Options options_;
  std::unique_ptr<S3Store> store_;
};

TEST_F(S3StoreFakeTest, MultipartUpload) {
  S3Options o = MultipartOptions();
  std::unique_ptr<S3Store> store = Open(o);
  std::string data = RandomBytes((10 << 20) + 1, 5);
  int before = fake_->requests();
  ASSERT_TRUE(store->Put("m", data).ok());
  EXPECT_EQ(fake_->requests() - before, 1 + 3 + 1);  // create, 3 parts, complete
  EXPECT_TRUE(store->Get("m").value_or("") == data);
  Result<ObjectInfo> info = store->Head("m");
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->size, data.size());
  EXPECT_TRUE(info->etag.ends_with("-3\"")) << info->etag;
}

TEST_F(S3StoreFakeTest, MultipartRetriesPartsAndCompletion) {
  S3Options o = MultipartOptions();
  std::unique_ptr<S3Store> store = Open(o);
  std::string data = RandomBytes(12 << 20, 6);
  http_->Push("POST", Status503);  // create, first try
  http_->Push("POST", nullptr);    // create, second try: through
  http_->Push("PUT", Reset);       // part 1
  http_->Push("PUT", nullptr);     // part 1 again
  http_->Push("PUT", Status503);   // part 2
  // Complete may answer 200 with an error inside: retried, as S3 asks.
  http_->Push("POST", [](HttpResponse* r) {
    r->status = 200;
    r->body = "<Error><Code>InternalError</Code><Message>try again</Message></Error>";
  });
  int before = http_->sent();
  Status st = store->Put("m", data);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(http_->left(), 0u);
  EXPECT_EQ(http_->sent() - before, 2 + 3 + 2 + 2);  // create, 3 parts, complete, with retries
  EXPECT_TRUE(store->Get("m").value_or("") == data);
}

TEST_F(S3StoreFakeTest, FailedMultipartIsAborted) {
  S3Options o = MultipartOptions();
  o.retry.max_attempts = 2;
  std::unique_ptr<S3Store> store = Open(o);
  http_->Push("PUT", nullptr);
  http_->Push("PUT", [](HttpResponse* r) {
    r->status = 403;
    r->body = "<Error><Code>AccessDenied</Code></Error>";
  });
  bool aborted = false;
  http_->Push(
      "DELETE",
      [&](HttpResponse* r) {
        aborted = true;
        r->status = 204;
      },
      true);
  Status st = store->Put("m", RandomBytes(12 << 20, 7));
  EXPECT_EQ(st.code(), Code::kAccess) << st.ToString();
  EXPECT_NE(st.message().find("part 2"), std::string::npos) << st.message();
  EXPECT_TRUE(aborted);
  EXPECT_EQ(store->Head("m").error().code(), Code::kNotFound);
}

TEST_F(S3StoreFakeTest, ListPagesAndDeleteManyBatches) {
  std::vector<std::string> keys;
  for (int i = 0; i < 2500; ++i) {
    char name[32];
    snprintf(name, sizeof(name), "d%d/k%05d", i % 3, i);
    keys.push_back(name);
    ASSERT_TRUE(store_->Put(name, "x").ok());
  }
  std::sort(keys.begin(), keys.end());
  ListOptions all;
  all.limit = 10'000;
  int before = fake_->requests();
  Result<ListResult> r = store_->List(all);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(fake_->requests() - before, 3);  // pages of 1000
  ASSERT_EQ(r->objects.size(), keys.size());
  for (size_t i = 0; i < keys.size(); ++i) ASSERT_EQ(r->objects[i].key, keys[i]);

  ListOptions rolled;
  rolled.delimiter = "/";
  rolled.limit = 2;
  r = store_->List(rolled);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->common_prefixes, (std::vector<std::string>{"d0/", "d1/"}));
  EXPECT_TRUE(r->truncated);
  rolled.start_after = r->next_start_after;
  r = store_->List(rolled);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->common_prefixes, std::vector<std::string>{"d2/"});
  EXPECT_FALSE(r->truncated);

  before = fake_->requests();
  ASSERT_TRUE(store_->DeleteMany(keys).ok());
  EXPECT_EQ(fake_->requests() - before, 3);  // batches of 1000
  r = store_->List(all);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->objects.empty());
}

TEST_F(S3StoreFakeTest, RetriesThenSucceeds) {
  ASSERT_TRUE(store_->Put("k", "value").ok());
  http_->Push("GET", Status503);
  http_->Push("GET", Reset);
  http_->Push("GET", [](HttpResponse* r) {
    r->status = 500;
    r->body = "<Error><Code>InternalError</Code></Error>";
  });
  // A body cut short without the transport noticing.
  http_->Push(
      "GET", [](HttpResponse* r) { r->body.pop_back(); }, true);
  int before = http_->sent();
  EXPECT_EQ(store_->Get("k").value_or(""), "value");
  EXPECT_EQ(http_->sent() - before, 5);
}

TEST_F(S3StoreFakeTest, GivesUpAfterMaxAttempts) {
  S3Options o = options_;
  o.retry.max_attempts = 3;
  std::unique_ptr<S3Store> store = Open(o);
  for (int i = 0; i < 5; ++i) http_->Push("PUT", Status503);
  int before = http_->sent();
  Status st = store->Put("k", "v");
  EXPECT_EQ(http_->sent() - before, 3);
  EXPECT_EQ(st.code(), Code::kUnavailable);
  EXPECT_NE(st.message().find("s3 put 'k' in bucket 'b' at http://fake.invalid:9000: HTTP 503 "
                              "SlowDown (request id REQ503)"),
            std::string::npos)
      << st.message();
  EXPECT_NE(st.message().find("3 attempts"), std::string::npos) << st.message();
}

TEST_F(S3StoreFakeTest, GivesUpAfterMaxTime) {
  S3Options o = options_;
  o.retry.max_attempts = 100;
  o.retry.base_delay = std::chrono::milliseconds(50);
  o.retry.max_delay = std::chrono::milliseconds(50);
  o.retry.max_time = std::chrono::milliseconds(300);
  std::unique_ptr<S3Store> store = Open(o);
  for (int i = 0; i < 100; ++i) http_->Push("HEAD", Reset);
  auto start = std::chrono::steady_clock::now();
  Result<ObjectInfo> info = store->Head("k");
  EXPECT_EQ(info.error().code(), Code::kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_GT(100 - static_cast<int>(http_->left()), 2);
  EXPECT_LT(100 - static_cast<int>(http_->left()), 100);
}

TEST_F(S3StoreFakeTest, ClientErrorsAreNotRetried) {
  S3Options o = options_;
  o.credentials.access_key = "WRONG";
  std::unique_ptr<S3Store> store = Open(o);
  int before = http_->sent();
  Status st = store->Put("k", "v");
  EXPECT_EQ(http_->sent() - before, 1);
  EXPECT_EQ(st.code(), Code::kAccess);
  EXPECT_NE(st.message().find("HTTP 403 InvalidAccessKeyId"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("check the access key and secret"), std::string::npos);
  EXPECT_EQ(st.message().find("fake-secret-key"), std::string::npos);

  before = http_->sent();
  EXPECT_EQ(store_->Get("missing").error().code(), Code::kNotFound);
  EXPECT_EQ(http_->sent() - before, 1);
}

TEST_F(S3StoreFakeTest, MissingBucket) {
  S3Options o = options_;
  o.bucket = "nobucket";
  std::unique_ptr<S3Store> store = Open(o);
  Status check = store->CheckBucket();
  EXPECT_EQ(check.code(), Code::kNotFound);
  EXPECT_NE(check.message().find("bucket 'nobucket' does not exist"), std::string::npos)
      << check.message();
  Status del = store->Delete("k");  // not idempotent success: the bucket is missing
  EXPECT_EQ(del.code(), Code::kNotFound) << del.ToString();
  ASSERT_TRUE(store->EnsureBucket().ok());
  EXPECT_TRUE(store->CheckBucket().ok());
  EXPECT_TRUE(store->Delete("k").ok());
}

TEST_F(S3StoreFakeTest, SessionTokenIsSent) {
  S3Options o = options_;
  o.credentials.session_token = "TOKEN123";
  std::unique_ptr<S3Store> store = Open(o);
  std::string seen;
  class Spy : public HttpClient {
   public:
    Spy(std::shared_ptr<HttpClient> next, std::string* seen) : next_(next), seen_(seen) {}
    HttpResponse Send(const HttpRequest& r) override {
      for (const auto& [n, v] : r.headers) {
        if (n == "x-amz-security-token") *seen_ = v;
        if (n == "Authorization" && v.find("x-amz-security-token") == std::string::npos) {
          *seen_ = "unsigned";
        }
      }
      return next_->Send(r);
    }
    std::shared_ptr<HttpClient> next_;
    std::string* seen_;
  };
  Result<std::unique_ptr<S3Store>> spied = S3Store::Open(o, std::make_shared<Spy>(fake_, &seen));
  ASSERT_TRUE(spied.has_value());
  EXPECT_TRUE((*spied)->Put("k", "v").ok());
  EXPECT_EQ(seen, "TOKEN123");
}

TEST_F(S3StoreFakeTest, AttemptsCarryTimeLimitsSizedToTheRequest) {
  S3Options o = options_;
  o.retry.stall_timeout = std::chrono::seconds(5);
  o.retry.min_throughput = 1 << 20;
  o.multipart_threshold = 6 << 20;
  o.part_size = 5 << 20;
  std::unique_ptr<S3Store> store = Open(o);
  using std::chrono::milliseconds;
  ASSERT_TRUE(store->Put("small", std::string(4096, 'x')).ok());
  AttemptLimits put = http_->limits().back();
  EXPECT_EQ(put.stall, milliseconds(5000));
  EXPECT_EQ(put.total, milliseconds(5000 + 3));
  ASSERT_TRUE(store->Get("small", 0, 1 << 20).has_value());
  EXPECT_EQ(http_->limits().back().total, milliseconds(5000 + 1000));
  ASSERT_TRUE(store->Get("small").has_value());
  EXPECT_EQ(http_->limits().back().total, milliseconds(0));  // size unknown: stall check only
  ASSERT_TRUE(store->Put("big", RandomBytes(12 << 20, 9)).ok());
  // The completion may take long before its answer; a part is held to its size.
  std::vector<AttemptLimits> all = http_->limits();
  EXPECT_EQ(all.back().stall, milliseconds(60'000));
  EXPECT_EQ(all[all.size() - 2].total, milliseconds(5000 + 2000));  // the 2 MiB last part
}

TEST_F(S3StoreFakeTest, StalledRequestsAreRetried) {
  http_->Push("PUT", Stall);
  http_->Push("PUT", Stall);
  int before = http_->sent();
  Status st = store_->Put("k", "value");
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(http_->sent() - before, 3);
  EXPECT_EQ(store_->Get("k").value_or(""), "value");
}

TEST_F(S3StoreFakeTest, NotImplementedIsNotRetried) {
  http_->Push("GET", [](HttpResponse* r) {
    r->status = 501;
    r->body = "<Error><Code>NotImplemented</Code></Error>";
  });
  int before = http_->sent();
  EXPECT_FALSE(store_->Get("k").has_value());
  EXPECT_EQ(http_->sent() - before, 1);
}

TEST_F(S3StoreFakeTest, GivingUpSaysHowLongAndWhichFlags) {
  S3Options o = options_;
  o.retry.max_attempts = 2;
  std::unique_ptr<S3Store> store = Open(o);
  http_->Push("PUT", Stall);
  http_->Push("PUT", Stall);
  Status st = store->Put("k", "v");
  EXPECT_EQ(st.code(), Code::kUnavailable);
  EXPECT_NE(st.message().find("did not answer in time"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("gave up after 2 attempts in "), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("--io-retries"), std::string::npos) << st.message();
}

TEST_F(S3StoreFakeTest, DeleteAnsweredNotFoundAfterARetryIsDone) {
  ASSERT_TRUE(store_->Put("k", "value").ok());
  // The first DELETE removes the object but its answer is lost; the retry
  // finds nothing to delete.
  http_->Push("DELETE", Reset, /*after=*/true);
  int before = http_->sent();
  Status st = store_->Delete("k");
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(http_->sent() - before, 2);
  EXPECT_EQ(store_->Head("k").error().code(), Code::kNotFound);
}

TEST_F(S3StoreFakeTest, LostCompletionAnswerIsConfirmedByHead) {
  S3Options o = MultipartOptions();
  std::unique_ptr<S3Store> store = Open(o);
  std::string data = RandomBytes(12 << 20, 10);
  http_->Push("POST", nullptr);                // create: through
  http_->Push("POST", Reset, /*after=*/true);  // complete: done, answer lost
  Status st = store->Put("m", data);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(http_->left(), 0u);
  EXPECT_TRUE(store->Get("m").value_or("") == data);

  // An upload that vanished without completing is an error, not a success.
  http_->Push("POST", nullptr);
  http_->Push("POST", [](HttpResponse* r) {
    r->status = 404;
    r->body = "<Error><Code>NoSuchUpload</Code></Error>";
  });
  st = store->Put("n", data);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("NoSuchUpload"), std::string::npos) << st.message();
  EXPECT_EQ(store->Head("n").error().code(), Code::kNotFound);
}

// Once the window knows the p99 of small ranged GETs, a GET that gets no
// answer (the first copy sleeps 3 s) is sent again, and the second copy's
// answer returns while the first still hangs. Without hedging the caller
// waits. Writes are never hedged.
TEST_F(S3StoreFakeTest, ASlowSmallRequestIsHedged) {
  for (bool hedge : {true, false}) {
    SCOPED_TRACE(hedge ? "hedged" : "not hedged");
    S3Options o = options_;
    o.retry.hedge = hedge;
    o.retry.hedge_floor = std::chrono::milliseconds(1);
    std::unique_ptr<S3Store> store = Open(o);
    ASSERT_TRUE(store->Put("k", "value").ok());
    for (int i = 0; i < 30; ++i) ASSERT_EQ(store->Get("k", 0, 5).value_or(""), "value");
    for (int i = 0; i < 30; ++i) ASSERT_TRUE(store->Put("w" + std::to_string(i), "x").ok());
    EXPECT_EQ(store->hedges(), 0u) << "writes are not hedged";
    auto slow_done = std::make_shared<std::atomic<bool>>(false);
    http_->Push("GET", [slow_done](HttpResponse* r) {
      std::this_thread::sleep_for(std::chrono::seconds(3));
      Stall(r);
      slow_done->store(true);
    });
    int before = http_->sent();
    Result<std::string> got = store->Get("k", 0, 5);
    ASSERT_TRUE(got.has_value()) << got.error().ToString();
    EXPECT_EQ(*got, "value");
    EXPECT_EQ(http_->sent() - before, 2);
    EXPECT_EQ(slow_done->load(), !hedge) << "the caller waited for the slow copy";
    EXPECT_EQ(store->hedges(), hedge ? 1u : 0u);
    // The slow copy ends before the next round uses the script.
    while (!slow_done->load()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

TEST(HttpClassifyTest, GarbledAnswersAreRetryableResets) {
  EXPECT_EQ(ClassifyCurlError(CURLE_UNSUPPORTED_PROTOCOL), TransportError::kReset);  // "HTTP/0.9"
  EXPECT_EQ(ClassifyCurlError(CURLE_WEIRD_SERVER_REPLY), TransportError::kReset);
  EXPECT_EQ(ClassifyCurlError(CURLE_OPERATION_TIMEDOUT), TransportError::kTimeout);
  EXPECT_EQ(ClassifyCurlError(CURLE_PARTIAL_FILE), TransportError::kTruncated);
  EXPECT_EQ(ClassifyCurlError(CURLE_COULDNT_RESOLVE_HOST), TransportError::kResolve);
  EXPECT_EQ(ClassifyCurlError(CURLE_PEER_FAILED_VERIFICATION), TransportError::kTls);
}

}  // namespace
}  // namespace shoal::object::s3
