// S3Store against a real server (SHOAL_TEST_S3_ENDPOINT, e.g. s3rver): what
// the conformance suite does not cover. Skips when no server is configured.
#include "object/s3/s3_store.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "object/s3/s3_test_env.h"

namespace shoal::object::s3 {
namespace {

using testing::OpenTestStore;
using testing::TestOptions;

std::string RandomBytes(size_t n, uint32_t seed) {
  std::string data(n, '\0');
  std::mt19937 random(seed);
  for (char& c : data) c = static_cast<char>(random());
  return data;
}

// A port on 127.0.0.1 that nothing listens on.
int ClosedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

class S3StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::optional<S3Options> options = TestOptions();
    if (!options.has_value()) GTEST_SKIP() << testing::kSkipMessage;
    options_ = *options;
    store_ = OpenTestStore(options_);
    ASSERT_NE(store_, nullptr);
  }
  void TearDown() override {
    if (store_ != nullptr) testing::Clear(*store_);
  }

  S3Options options_;
  std::shared_ptr<S3Store> store_;
};

TEST_F(S3StoreTest, MultipartRoundTrip) {
  S3Options o = options_;
  o.multipart_threshold = 6 << 20;
  o.part_size = 5 << 20;
  std::shared_ptr<S3Store> store = OpenTestStore(o);
  ASSERT_NE(store, nullptr);
  // Three whole parts and a short last one.
  std::string data = RandomBytes((15 << 20) + 12345, 1);
  ASSERT_TRUE(store->Put("big/object", data).ok());
  Result<ObjectInfo> info = store->Head("big/object");
  ASSERT_TRUE(info.has_value()) << info.error().ToString();
  EXPECT_EQ(info->size, data.size());
  Result<std::string> back = store->Get("big/object");
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_TRUE(*back == data);
  // A range across the boundary of parts 1 and 2.
  uint64_t boundary = 5 << 20;
  EXPECT_TRUE(store->Get("big/object", boundary - 10, 20).value_or("") ==
              data.substr(boundary - 10, 20));
  // At the threshold exactly: a single PutObject.
  std::string small = RandomBytes(6 << 20, 2);
  ASSERT_TRUE(store->Put("big/small", small).ok());
  EXPECT_EQ(store->Head("big/small").value_or(ObjectInfo{}).etag.find('-'), std::string::npos);
  EXPECT_TRUE(store->Get("big/small").value_or("") == small);
  testing::Clear(*store);
}

TEST_F(S3StoreTest, RangeReads) {
  std::string data = RandomBytes(100'000, 3);
  ASSERT_TRUE(store_->Put("r", data).ok());
  struct Case {
    uint64_t offset, length;
  } cases[] = {{0, 1},      {1, 1},       {0, 100'000}, {99'999, 1}, {99'999, 10},
               {50'000, 0}, {12'345, 67}, {0, 99'999},  {1, 0}};
  for (const Case& c : cases) {
    Result<std::string> got = store_->Get("r", c.offset, c.length);
    ASSERT_TRUE(got.has_value()) << got.error().ToString();
    std::string want = data.substr(c.offset, c.length == 0 ? std::string::npos : c.length);
    EXPECT_TRUE(*got == want) << c.offset << "+" << c.length << ": got " << got->size() << " bytes";
  }
  // Starting at or past the end: empty, not an error (S3 answers 416).
  for (uint64_t offset : {100'000ull, 100'001ull, 1ull << 50}) {
    Result<std::string> got = store_->Get("r", offset, 10);
    ASSERT_TRUE(got.has_value()) << got.error().ToString();
    EXPECT_EQ(*got, "");
  }
  EXPECT_EQ(store_->Get("r", UINT64_MAX - 5, UINT64_MAX).value_or("x"), "");
}

TEST_F(S3StoreTest, PaginationOverManyKeys) {
  constexpr int kKeys = 1100;
  std::vector<std::string> keys;
  for (int i = 0; i < kKeys; ++i) {
    char name[32];
    snprintf(name, sizeof(name), "k/%05d", i);
    keys.push_back(name);
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kKeys; i += 8) {
        if (!store_->Put(keys[i], std::to_string(i)).ok()) ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_EQ(failures.load(), 0);

  // One List call larger than a page gathers several pages.
  ListOptions all;
  all.limit = 5000;
  Result<ListResult> r = store_->List(all);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  ASSERT_EQ(r->objects.size(), keys.size());
  for (int i = 0; i < kKeys; ++i) ASSERT_EQ(r->objects[i].key, keys[i]);
  EXPECT_FALSE(r->truncated);

  // Pages of 1000, continued with start_after.
  ListOptions page;
  r = store_->List(page);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->objects.size(), 1000u);
  EXPECT_TRUE(r->truncated);
  EXPECT_EQ(r->next_start_after, keys[999]);
  page.start_after = r->next_start_after;
  r = store_->List(page);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->objects.size(), 100u);
  EXPECT_FALSE(r->truncated);
  EXPECT_EQ(r->objects.front().key, keys[1000]);

  // DeleteMany in batches of 1000, missing keys included.
  keys.push_back("k/never-existed");
  Status st = store_->DeleteMany(keys);
  ASSERT_TRUE(st.ok()) << st.ToString();
  r = store_->List(all);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->objects.empty());
}

TEST_F(S3StoreTest, BucketCreation) {
  std::string bucket = testing::TestBucket() + "-new";
  std::optional<S3Options> o = TestOptions(bucket);
  ASSERT_TRUE(o.has_value());
  Result<std::unique_ptr<S3Store>> store = S3Store::Open(*o);
  ASSERT_TRUE(store.has_value());
  // A missing bucket: CheckBucket and object operations say so.
  Status missing = (*store)->CheckBucket();
  if (missing.ok()) {
    GTEST_SKIP() << "bucket " << bucket << " exists already (left by an earlier run?)";
  }
  EXPECT_EQ(missing.code(), Code::kNotFound) << missing.ToString();
  EXPECT_NE(missing.message().find("does not exist"), std::string::npos) << missing.message();
  Status put = (*store)->Put("k", "v");
  EXPECT_EQ(put.code(), Code::kNotFound) << put.ToString();
  EXPECT_NE(put.message().find("NoSuchBucket"), std::string::npos) << put.message();
  EXPECT_NE(put.message().find("bucket '" + bucket + "' does not exist"), std::string::npos)
      << put.message();

  Status created = (*store)->EnsureBucket();
  ASSERT_TRUE(created.ok()) << created.ToString();
  EXPECT_TRUE((*store)->CheckBucket().ok());
  EXPECT_TRUE((*store)->EnsureBucket().ok());  // idempotent
  ASSERT_TRUE((*store)->Put("k", "v").ok());
  EXPECT_EQ((*store)->Get("k").value_or(""), "v");
  EXPECT_TRUE((*store)->Delete("k").ok());
}

TEST_F(S3StoreTest, BadCredentialsAreAccessErrors) {
  S3Options o = options_;
  o.credentials.access_key = "NOT-A-KEY";
  o.credentials.secret_key = "wrong-secret-0123456789";
  o.prefix = testing::UniquePrefix();
  Result<std::unique_ptr<S3Store>> store = S3Store::Open(o);
  ASSERT_TRUE(store.has_value());
  Status put = (*store)->Put("k", "v");
  ASSERT_EQ(put.code(), Code::kAccess) << put.ToString();
  EXPECT_NE(put.message().find("HTTP 403"), std::string::npos) << put.message();
  EXPECT_NE(put.message().find("check the access key and secret"), std::string::npos)
      << put.message();
  EXPECT_NE(put.message().find("'k'"), std::string::npos) << put.message();
  EXPECT_NE(put.message().find("s3 put"), std::string::npos) << put.message();
  EXPECT_EQ(put.message().find(o.credentials.secret_key), std::string::npos) << put.message();

  Result<std::string> get = (*store)->Get("k");
  ASSERT_FALSE(get.has_value());
  EXPECT_EQ(get.error().code(), Code::kAccess);
  EXPECT_EQ((*store)->CheckBucket().code(), Code::kAccess);
  EXPECT_EQ((*store)->List({}).error().code(), Code::kAccess);
}

TEST_F(S3StoreTest, UnreachableEndpointIsUnavailable) {
  S3Options o = options_;
  int port = ClosedPort();
  o.endpoint = "127.0.0.1:" + std::to_string(port);
  o.use_tls = false;
  o.retry.max_attempts = 3;
  Result<std::unique_ptr<S3Store>> store = S3Store::Open(o);
  ASSERT_TRUE(store.has_value());
  auto started = std::chrono::steady_clock::now();
  Result<std::string> get = (*store)->Get("some/key");
  ASSERT_FALSE(get.has_value());
  EXPECT_EQ(get.error().code(), Code::kUnavailable) << get.error().ToString();
  const std::string& m = get.error().message();
  EXPECT_NE(m.find("http://127.0.0.1:" + std::to_string(port)), std::string::npos) << m;
  EXPECT_NE(m.find("cannot connect"), std::string::npos) << m;
  EXPECT_NE(m.find("3 attempts"), std::string::npos) << m;
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  EXPECT_EQ((*store)->EnsureBucket().code(), Code::kUnavailable);
}

TEST_F(S3StoreTest, SecretNeverInMessagesOrDescribe) {
  const std::string secret = "SECRET-zq9x-" + std::to_string(getpid());
  std::vector<std::string> texts;
  auto collect = [&](S3Options o) {
    o.credentials.secret_key = secret;
    o.retry.max_attempts = 1;
    Result<std::unique_ptr<S3Store>> store = S3Store::Open(o);
    ASSERT_TRUE(store.has_value());
    texts.push_back((*store)->Describe());
    texts.push_back((*store)->Put("k", "v").message());
    texts.push_back((*store)->Get("missing").error().message());
    texts.push_back((*store)->Head("missing").error().message());
    texts.push_back((*store)->CheckBucket().message());
    Result<ListResult> list = (*store)->List({});
    if (!list.has_value()) texts.push_back(list.error().message());
  };
  S3Options wrong_key = options_;
  wrong_key.credentials.access_key = "NOT-A-KEY";
  collect(wrong_key);
  S3Options unreachable = options_;
  unreachable.endpoint = "127.0.0.1:" + std::to_string(ClosedPort());
  unreachable.use_tls = false;
  collect(unreachable);
  // The same secret through the URL form.
  Result<S3Options> from_url = ParseS3Url("s3://AK:" + secret + "@127.0.0.1:1/b?tls=false");
  ASSERT_TRUE(from_url.has_value());
  texts.push_back(from_url->Describe());
  ASSERT_GE(texts.size(), 10u);
  for (const std::string& text : texts) {
    EXPECT_FALSE(text.empty());
    EXPECT_EQ(text.find(secret), std::string::npos) << text;
  }
}

TEST_F(S3StoreTest, MissingKeysAndBuckets) {
  Result<std::string> get = store_->Get("nope");
  ASSERT_FALSE(get.has_value());
  EXPECT_EQ(get.error().code(), Code::kNotFound);
  EXPECT_NE(get.error().message().find("HTTP 404 NoSuchKey"), std::string::npos)
      << get.error().message();
  EXPECT_EQ(store_->Head("nope").error().code(), Code::kNotFound);
  EXPECT_TRUE(store_->Delete("nope").ok());
  EXPECT_TRUE(store_->DeleteMany(std::vector<std::string>{"nope", "nope2"}).ok());
  EXPECT_EQ(store_->Put(std::string("\xff\xfe", 2), "x").code(), Code::kInvalid);
  EXPECT_EQ(store_->Put(std::string(1100, 'k'), "x").code(), Code::kInvalid);
  EXPECT_EQ(store_->Put("x/../y", "x").code(), Code::kInvalid);
  EXPECT_EQ(store_->Put("./y", "x").code(), Code::kInvalid);
  EXPECT_EQ(store_->Get("a/.").error().code(), Code::kInvalid);
}

TEST_F(S3StoreTest, PrefixesKeepStoresApart) {
  std::shared_ptr<S3Store> other = OpenTestStore(options_);
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(store_->Put("same", "mine").ok());
  ASSERT_TRUE(other->Put("same", "theirs").ok());
  EXPECT_EQ(store_->Get("same").value_or(""), "mine");
  EXPECT_EQ(other->Get("same").value_or(""), "theirs");
  Result<ListResult> r = store_->List({});
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->objects.size(), 1u);
  EXPECT_EQ(r->objects[0].key, "same");
  testing::Clear(*other);
}

TEST_F(S3StoreTest, KeysThatNeedEncoding) {
  const std::vector<std::string> keys = {"a b",    "a+b",        "a%20b",
                                         "x/..y",  "q?r=1&s",    "\xc3\xa9t\xc3\xa9",
                                         "~tilde", "semi;colon", "star*"};
  for (const std::string& key : keys) {
    Status st = store_->Put(key, "v:" + key);
    ASSERT_TRUE(st.ok()) << key << ": " << st.ToString();
  }
  for (const std::string& key : keys) {
    EXPECT_EQ(store_->Get(key).value_or("<error>"), "v:" + key) << key;
  }
  Result<ListResult> r = store_->List({});
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  std::vector<std::string> listed;
  for (const ObjectInfo& info : r->objects) listed.push_back(info.key);
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(listed, sorted);
}

}  // namespace
}  // namespace shoal::object::s3
