// The conformance suite: every ObjectStore must pass it.
#include "object/object_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "object/fault_store.h"
#include "object/file_store.h"
#include "object/mem_store.h"
#include "object/test_util.h"

#ifdef SHOAL_OBJECT_CONFORMANCE_S3
#include "object/s3/s3_test_env.h"
#else
#include "object/s3/fake_s3.h"
#include "object/s3/s3_store.h"
#endif

namespace shoal::object {
namespace {

// Each environment owns one store (and whatever the store needs). An
// environment may leave store() null with a skip_reason() (a server that is
// not configured). Traits say where a store legitimately differs:
//   kEtagPerPut      every Put gives a new etag (S3's is the content's MD5)
//   kAnyKeyBytes     keys may be any bytes (S3 keys are UTF-8)
// KnownGap(test) names a limitation of the server behind a store that makes
// `test` fail through no fault of the store; the test is then skipped.
struct EnvTraits {
  static constexpr bool kEtagPerPut = true;
  static constexpr bool kAnyKeyBytes = true;
  std::string skip_reason() const { return ""; }
  std::string KnownGap(std::string_view) const { return ""; }
};

class MemEnv : public EnvTraits {
 public:
  std::shared_ptr<ObjectStore> store() { return store_; }

 private:
  std::shared_ptr<ObjectStore> store_ = std::make_shared<MemStore>("conformance");
};

class FileEnv : public EnvTraits {
 public:
  FileEnv() {
    Result<std::unique_ptr<FileStore>> store = FileStore::Open(dir_.path() + "/store");
    EXPECT_TRUE(store.has_value()) << store.error().ToString();
    if (store.has_value()) store_ = std::move(*store);
  }
  std::shared_ptr<ObjectStore> store() { return store_; }

 private:
  testing::TempDir dir_;
  std::shared_ptr<ObjectStore> store_;
};

// A FaultStore with no fault configured must behave exactly like its base.
class FaultEnv : public EnvTraits {
 public:
  std::shared_ptr<ObjectStore> store() { return store_; }

 private:
  std::shared_ptr<ObjectStore> store_ =
      std::make_shared<FaultStore>(std::make_shared<MemStore>(), /*seed=*/7);
};

#ifndef SHOAL_OBJECT_CONFORMANCE_S3
// An S3Store over an in-process fake of S3 (AWS's semantics, no server):
// checks the store's mapping of this contract onto the S3 API.
class S3FakeEnv : public EnvTraits {
 public:
  static constexpr bool kEtagPerPut = false;
  static constexpr bool kAnyKeyBytes = false;

  S3FakeEnv() {
    s3::S3Options o;
    o.endpoint = "fake.invalid";
    o.bucket = "conformance";
    o.prefix = "some/prefix/";
    o.credentials = {"AKFAKE", "fake-secret", ""};
    Result<std::unique_ptr<s3::S3Store>> store =
        s3::S3Store::Open(o, std::make_shared<s3::testing::FakeS3>("AKFAKE"));
    EXPECT_TRUE(store.has_value()) << store.error().ToString();
    if (!store.has_value()) return;
    Status st = (*store)->EnsureBucket();
    EXPECT_TRUE(st.ok()) << st.ToString();
    store_ = std::move(*store);
  }
  std::shared_ptr<ObjectStore> store() { return store_; }

 private:
  std::shared_ptr<ObjectStore> store_;
};
#endif

#ifdef SHOAL_OBJECT_CONFORMANCE_S3
// An S3Store under a fresh prefix of the test bucket of the server named by
// SHOAL_TEST_S3_ENDPOINT (built into s3_test only).
class S3Env {
 public:
  static constexpr bool kEtagPerPut = false;
  static constexpr bool kAnyKeyBytes = false;

  S3Env() {
    std::optional<s3::S3Options> options = s3::testing::TestOptions();
    if (options.has_value()) store_ = s3::testing::OpenTestStore(*options);
  }
  ~S3Env() {
    if (store_ != nullptr) s3::testing::Clear(*store_);
  }
  std::shared_ptr<ObjectStore> store() { return store_; }
  std::string skip_reason() const {
    return s3::testing::TestEndpoint().empty() ? s3::testing::kSkipMessage : "";
  }
  // The test server is taken to be s3rver unless SHOAL_TEST_S3_STRICT=1
  // says it is a faithful one (AWS, MinIO), which must pass everything.
  std::string KnownGap(std::string_view test) const {
    if (!s3::testing::Env("SHOAL_TEST_S3_STRICT", "").empty()) return "";
    if (test == "ListDelimiterRollsUp") {
      return "s3rver does not look below a common prefix's first level, so it misses a common "
             "prefix whose keys are all deeper (a/f/ of a/f/g/h); set SHOAL_TEST_S3_STRICT=1 "
             "for a server without this gap";
    }
    if (test == "ListMatchesModel") {
      return "s3rver pages through keys in directory-walk order, not key order ('a/b/c' before "
             "'a-c'), so pages of a few keys come out wrong; set SHOAL_TEST_S3_STRICT=1 for a "
             "server without this gap";
    }
    if (test == "ConcurrentPutsAndGets") {
      return "s3rver overwrites an object in place, so a concurrent reader sees part of it; set "
             "SHOAL_TEST_S3_STRICT=1 for a server without this gap";
    }
    return "";
  }

 private:
  std::shared_ptr<s3::S3Store> store_;
};
#endif

template <typename Env>
class ObjectStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!env_.skip_reason().empty()) GTEST_SKIP() << env_.skip_reason();
    store_ = env_.store();
    ASSERT_NE(store_, nullptr);
  }

  ObjectStore& store() { return *store_; }

  void MustPut(std::string_view key, std::string_view data) {
    Status st = store_->Put(key, data);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  std::string MustGet(std::string_view key, uint64_t offset = 0, uint64_t length = 0) {
    Result<std::string> data = store_->Get(key, offset, length);
    EXPECT_TRUE(data.has_value()) << data.error().ToString();
    return data.value_or("<error>");
  }

  ListResult MustList(const ListOptions& options) {
    Result<ListResult> r = store_->List(options);
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r.value_or(ListResult{});
  }

  Env env_;
  std::shared_ptr<ObjectStore> store_;
};

struct EnvNames {
  template <typename T>
  static std::string GetName(int) {
    if (std::is_same_v<T, MemEnv>) return "Mem";
    if (std::is_same_v<T, FileEnv>) return "File";
    if (std::is_same_v<T, FaultEnv>) return "FaultOverMem";
#ifndef SHOAL_OBJECT_CONFORMANCE_S3
    if (std::is_same_v<T, S3FakeEnv>) return "S3OverFake";
#endif
    return "S3";
  }
};

#ifdef SHOAL_OBJECT_CONFORMANCE_S3
using Envs = ::testing::Types<S3Env>;
#else
using Envs = ::testing::Types<MemEnv, FileEnv, FaultEnv, S3FakeEnv>;
#endif
TYPED_TEST_SUITE(ObjectStoreTest, Envs, EnvNames);

std::vector<std::string> KeysOf(const ListResult& r) {
  std::vector<std::string> keys;
  for (const ObjectInfo& o : r.objects) keys.push_back(o.key);
  return keys;
}

// The listing rules written as plainly as possible, over a sorted key set:
// the reference the stores are checked against.
ListResult ModelList(const std::set<std::string>& keys, const ListOptions& o) {
  ListResult r;
  std::vector<std::pair<std::string, bool>> entries;  // name, is a common prefix
  for (const std::string& key : keys) {
    if (!key.starts_with(o.prefix)) continue;
    std::string name = key;
    bool is_prefix = false;
    size_t pos = o.delimiter.empty() ? std::string::npos : key.find(o.delimiter, o.prefix.size());
    if (pos != std::string::npos) {
      name = key.substr(0, pos + o.delimiter.size());
      is_prefix = true;
    }
    if (name <= o.start_after) continue;
    if (!entries.empty() && entries.back().first == name) continue;
    entries.emplace_back(name, is_prefix);
  }
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i == o.limit) {
      r.truncated = true;
      break;
    }
    if (entries[i].second) {
      r.common_prefixes.push_back(entries[i].first);
    } else {
      r.objects.push_back({entries[i].first, 0, 0, ""});
    }
    r.next_start_after = entries[i].first;
  }
  return r;
}

TYPED_TEST(ObjectStoreTest, DescribeIsNotEmpty) { EXPECT_FALSE(this->store().Describe().empty()); }

TYPED_TEST(ObjectStoreTest, PutThenGet) {
  this->MustPut("vol/chunks/00/0/1_0_5", "hello");
  EXPECT_EQ(this->MustGet("vol/chunks/00/0/1_0_5"), "hello");
}

TYPED_TEST(ObjectStoreTest, OverwriteReplacesWholeObject) {
  this->MustPut("k", "a long first version");
  this->MustPut("k", "short");
  EXPECT_EQ(this->MustGet("k"), "short");
  Result<ObjectInfo> info = this->store().Head("k");
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->size, 5u);
}

TYPED_TEST(ObjectStoreTest, GetMissingIsNotFoundNamingTheKey) {
  Result<std::string> data = this->store().Get("no/such/key");
  ASSERT_FALSE(data.has_value());
  EXPECT_EQ(data.error().code(), Code::kNotFound);
  EXPECT_NE(data.error().message().find("'no/such/key'"), std::string::npos)
      << data.error().message();
  EXPECT_NE(data.error().message().find("get"), std::string::npos) << data.error().message();
  // A range get of a missing object is just as missing.
  EXPECT_EQ(this->store().Get("no/such/key", 10, 10).error().code(), Code::kNotFound);
}

TYPED_TEST(ObjectStoreTest, RangeGets) {
  this->MustPut("r", "0123456789");
  EXPECT_EQ(this->MustGet("r", 0, 0), "0123456789");   // whole object
  EXPECT_EQ(this->MustGet("r", 2, 3), "234");          // inside
  EXPECT_EQ(this->MustGet("r", 0, 10), "0123456789");  // exactly all
  EXPECT_EQ(this->MustGet("r", 7, 10), "789");         // crossing the end
  EXPECT_EQ(this->MustGet("r", 9, 1), "9");            // last byte
  EXPECT_EQ(this->MustGet("r", 10, 5), "");            // offset == size
  EXPECT_EQ(this->MustGet("r", 10, 0), "");
  EXPECT_EQ(this->MustGet("r", 11, 1), "");  // past the end
  EXPECT_EQ(this->MustGet("r", 1ull << 40, 4), "");
  EXPECT_EQ(this->MustGet("r", 4, 0), "456789");  // length 0: to the end
  EXPECT_EQ(this->MustGet("r", 3, UINT64_MAX), "3456789");
}

TYPED_TEST(ObjectStoreTest, HeadReportsSizeAndTime) {
  int64_t before = std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  this->MustPut("h/obj", std::string(1234, 'x'));
  Result<ObjectInfo> info = this->store().Head("h/obj");
  ASSERT_TRUE(info.has_value()) << info.error().ToString();
  EXPECT_EQ(info->key, "h/obj");
  EXPECT_EQ(info->size, 1234u);
  // File systems keep coarse timestamps (a few ms); allow a second of slack.
  EXPECT_GT(info->mtime_ns, before - 1'000'000'000);
  EXPECT_LT(info->mtime_ns, before + 60'000'000'000);

  Result<ObjectInfo> missing = this->store().Head("h/none");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), Code::kNotFound);
}

TYPED_TEST(ObjectStoreTest, EtagChangesWithEachPut) {
  if (!TypeParam::kEtagPerPut) {
    // S3's ETag is the MD5 of the content: the same bytes give the same tag.
    this->MustPut("e", "one");
    std::string one = this->store().Head("e").value_or(ObjectInfo{}).etag;
    this->MustPut("e", "two");
    EXPECT_FALSE(one.empty());
    EXPECT_NE(one, this->store().Head("e").value_or(ObjectInfo{}).etag);
    return;
  }
  this->MustPut("e", "same");
  std::string first = this->store().Head("e").value_or(ObjectInfo{}).etag;
  this->MustPut("e", "same");
  std::string second = this->store().Head("e").value_or(ObjectInfo{}).etag;
  EXPECT_FALSE(first.empty());
  EXPECT_NE(first, second);
}

TYPED_TEST(ObjectStoreTest, DeleteIsIdempotent) {
  this->MustPut("d/x", "data");
  EXPECT_TRUE(this->store().Delete("d/x").ok());
  EXPECT_EQ(this->store().Get("d/x").error().code(), Code::kNotFound);
  EXPECT_EQ(this->store().Head("d/x").error().code(), Code::kNotFound);
  EXPECT_TRUE(this->store().Delete("d/x").ok());
  EXPECT_TRUE(this->store().Delete("never/existed").ok());
  EXPECT_TRUE(this->MustList({}).objects.empty());
}

TYPED_TEST(ObjectStoreTest, DeleteLeavesSiblings) {
  this->MustPut("p/a", "1");
  this->MustPut("p/b", "2");
  ASSERT_TRUE(this->store().Delete("p/a").ok());
  EXPECT_EQ(this->MustGet("p/b"), "2");
  EXPECT_EQ(KeysOf(this->MustList({})), std::vector<std::string>{"p/b"});
}

TYPED_TEST(ObjectStoreTest, ZeroByteObject) {
  this->MustPut("empty", "");
  EXPECT_EQ(this->MustGet("empty"), "");
  EXPECT_EQ(this->MustGet("empty", 0, 10), "");
  Result<ObjectInfo> info = this->store().Head("empty");
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->size, 0u);
  ListResult listed = this->MustList({});
  ASSERT_EQ(listed.objects.size(), 1u);
  EXPECT_EQ(listed.objects[0].key, "empty");
  EXPECT_EQ(listed.objects[0].size, 0u);
}

TYPED_TEST(ObjectStoreTest, BinaryDataWithNulBytes) {
  std::string data;
  for (int round = 0; round < 3; ++round) {
    for (int b = 0; b < 256; ++b) data += static_cast<char>(b);
  }
  data += std::string(5, '\0');
  this->MustPut("bin", data);
  EXPECT_EQ(this->MustGet("bin"), data);
  EXPECT_EQ(this->MustGet("bin", 250, 10), data.substr(250, 10));
  EXPECT_EQ(this->store().Head("bin").value_or(ObjectInfo{}).size, data.size());
}

TYPED_TEST(ObjectStoreTest, LargeObject) {
  std::string data(5 << 20, '\0');
  std::mt19937 random(3);
  for (char& c : data) c = static_cast<char>(random());
  this->MustPut("big", data);
  EXPECT_TRUE(this->MustGet("big") == data);
  EXPECT_TRUE(this->MustGet("big", 4 << 20, 2 << 20) == data.substr(4 << 20));
}

TYPED_TEST(ObjectStoreTest, ListAllSortedWithSizes) {
  this->MustPut("b", "22");
  this->MustPut("a/x", "1");
  this->MustPut("c/d/e", "333");
  ListResult r = this->MustList({});
  EXPECT_EQ(KeysOf(r), (std::vector<std::string>{"a/x", "b", "c/d/e"}));
  ASSERT_EQ(r.objects.size(), 3u);
  EXPECT_EQ(r.objects[0].size, 1u);
  EXPECT_EQ(r.objects[1].size, 2u);
  EXPECT_EQ(r.objects[2].size, 3u);
  EXPECT_GT(r.objects[2].mtime_ns, 0);
  EXPECT_TRUE(r.common_prefixes.empty());
  EXPECT_FALSE(r.truncated);
  EXPECT_EQ(r.next_start_after, "c/d/e");
}

TYPED_TEST(ObjectStoreTest, ListEmptyStore) {
  ListResult r = this->MustList({});
  EXPECT_TRUE(r.objects.empty());
  EXPECT_TRUE(r.common_prefixes.empty());
  EXPECT_FALSE(r.truncated);
  ListOptions o;
  o.prefix = "x/y/";
  o.delimiter = "/";
  EXPECT_TRUE(this->MustList(o).objects.empty());
}

TYPED_TEST(ObjectStoreTest, ListOrderIsByteOrderOfWholeKeys) {
  // '-' (0x2d) and '.' (0x2e) sort before '/' (0x2f), '0' after it: a store
  // that walks directories must not list "a/..." before "a-c".
  for (const char* key : {"a/b", "a-c", "a.d", "a0", "a/b0", "ab/c"}) this->MustPut(key, key);
  EXPECT_EQ(KeysOf(this->MustList({})),
            (std::vector<std::string>{"a-c", "a.d", "a/b", "a/b0", "a0", "ab/c"}));
}

TYPED_TEST(ObjectStoreTest, ListPrefix) {
  for (const char* key : {"vol/a", "vol/b/c", "volume/x", "vo", "other"}) this->MustPut(key, "");
  ListOptions o;
  o.prefix = "vol/";
  EXPECT_EQ(KeysOf(this->MustList(o)), (std::vector<std::string>{"vol/a", "vol/b/c"}));
  o.prefix = "vol";
  EXPECT_EQ(KeysOf(this->MustList(o)), (std::vector<std::string>{"vol/a", "vol/b/c", "volume/x"}));
  o.prefix = "vol/b/c";
  EXPECT_EQ(KeysOf(this->MustList(o)), (std::vector<std::string>{"vol/b/c"}));
  o.prefix = "nothing";
  EXPECT_TRUE(this->MustList(o).objects.empty());
}

TYPED_TEST(ObjectStoreTest, ListStartAfter) {
  for (const char* key : {"k1", "k2", "k3/x", "k4"}) this->MustPut(key, "");
  ListOptions o;
  o.start_after = "k2";
  EXPECT_EQ(KeysOf(this->MustList(o)), (std::vector<std::string>{"k3/x", "k4"}));
  o.start_after = "k1x";  // not a key itself
  EXPECT_EQ(KeysOf(this->MustList(o)), (std::vector<std::string>{"k2", "k3/x", "k4"}));
  o.start_after = "k4";
  EXPECT_TRUE(this->MustList(o).objects.empty());
  o.start_after = "a";  // before the prefix
  o.prefix = "k3";
  EXPECT_EQ(KeysOf(this->MustList(o)), (std::vector<std::string>{"k3/x"}));
}

TYPED_TEST(ObjectStoreTest, ListDelimiterRollsUp) {
  if (std::string gap = this->env_.KnownGap("ListDelimiterRollsUp"); !gap.empty())
    GTEST_SKIP() << gap;
  for (const char* key : {"a/b/c", "a/b/d", "a/e", "a/f/g/h", "a-top", "z"}) {
    this->MustPut(key, "");
  }
  ListOptions o;
  o.prefix = "a/";
  o.delimiter = "/";
  ListResult r = this->MustList(o);
  EXPECT_EQ(KeysOf(r), std::vector<std::string>{"a/e"});
  EXPECT_EQ(r.common_prefixes, (std::vector<std::string>{"a/b/", "a/f/"}));
  EXPECT_FALSE(r.truncated);

  o.prefix = "";
  r = this->MustList(o);
  EXPECT_EQ(KeysOf(r), (std::vector<std::string>{"a-top", "z"}));
  EXPECT_EQ(r.common_prefixes, std::vector<std::string>{"a/"});
}

TYPED_TEST(ObjectStoreTest, ListLimitAndContinuation) {
  for (const char* key : {"a", "b/1", "b/2", "c", "d/1"}) this->MustPut(key, "");
  ListOptions o;
  o.delimiter = "/";
  o.limit = 2;
  ListResult r = this->MustList(o);
  EXPECT_EQ(KeysOf(r), std::vector<std::string>{"a"});
  EXPECT_EQ(r.common_prefixes, std::vector<std::string>{"b/"});
  EXPECT_TRUE(r.truncated);
  EXPECT_EQ(r.next_start_after, "b/");

  o.start_after = r.next_start_after;  // continuing after a common prefix skips its keys
  r = this->MustList(o);
  EXPECT_EQ(KeysOf(r), std::vector<std::string>{"c"});
  EXPECT_EQ(r.common_prefixes, std::vector<std::string>{"d/"});
  EXPECT_FALSE(r.truncated);
  EXPECT_EQ(r.next_start_after, "d/");
}

TYPED_TEST(ObjectStoreTest, ListExactlyLimitIsNotTruncated) {
  for (const char* key : {"a", "b", "c"}) this->MustPut(key, "");
  ListOptions o;
  o.limit = 3;
  ListResult r = this->MustList(o);
  EXPECT_EQ(r.objects.size(), 3u);
  EXPECT_FALSE(r.truncated);
  o.limit = 2;
  EXPECT_TRUE(this->MustList(o).truncated);
}

TYPED_TEST(ObjectStoreTest, ListLimitZeroIsInvalid) {
  ListOptions o;
  o.limit = 0;
  Result<ListResult> r = this->store().List(o);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Code::kInvalid);
  EXPECT_NE(r.error().message().find("limit"), std::string::npos);
}

// Pages of every size through many keys add up to exactly the sorted keys,
// with and without rollup.
TYPED_TEST(ObjectStoreTest, PaginationCoversEveryKeyOnce) {
  std::set<std::string> keys;
  for (int i = 0; i < 150; ++i) {
    std::string key =
        "v/" + std::to_string(i % 7) + "/" + std::to_string(i * 37 % 101) + "_" + std::to_string(i);
    keys.insert(key);
    this->MustPut(key, std::to_string(i));
  }
  for (size_t limit : {1, 7, 64, 1000}) {
    for (std::string delimiter : {"", "/"}) {
      ListOptions o;
      o.prefix = "v/";
      o.delimiter = delimiter;
      o.limit = limit;
      std::vector<std::string> objects;
      std::vector<std::string> prefixes;
      for (int page = 0; page < 1000; ++page) {
        ListResult r = this->MustList(o);
        EXPECT_LE(r.objects.size() + r.common_prefixes.size(), limit);
        for (const ObjectInfo& info : r.objects) objects.push_back(info.key);
        prefixes.insert(prefixes.end(), r.common_prefixes.begin(), r.common_prefixes.end());
        if (!r.truncated) break;
        ASSERT_FALSE(r.next_start_after.empty());
        o.start_after = r.next_start_after;
      }
      if (delimiter.empty()) {
        EXPECT_EQ(objects, std::vector<std::string>(keys.begin(), keys.end())) << limit;
        EXPECT_TRUE(prefixes.empty());
      } else {
        EXPECT_TRUE(objects.empty());
        EXPECT_EQ(prefixes, (std::vector<std::string>{"v/0/", "v/1/", "v/2/", "v/3/", "v/4/",
                                                      "v/5/", "v/6/"}))
            << limit;
      }
    }
  }
}

// Every combination of options over awkward keys, compared with the model.
TYPED_TEST(ObjectStoreTest, ListMatchesModel) {
  if (std::string gap = this->env_.KnownGap("ListMatchesModel"); !gap.empty()) GTEST_SKIP() << gap;
  const std::set<std::string> keys = {"a-c",      "a.d",    "a/b/c",  "a/b/d",      "a/b0",
                                      "a/bb/c/d", "a/c",    "a0",     "ab",         "b/x/y/z",
                                      "b/x0",     "b0",     "c/-/x",  "c/./x.y",    "c/a b",
                                      "c/\x01",   "c/\x7f", "c/\xff", "c/\xff\xff", "c/a/b/c/d/e/f",
                                      "dd/d/d/d", "dd/dd",  "ddd",    "e/",         "x/y/z"};
  std::set<std::string> stored;
  for (const std::string& key : keys) {
    if (key.ends_with('/') || key.find("/./") != std::string::npos) continue;  // not file keys
    if (!TypeParam::kAnyKeyBytes && key.find('\xff') != std::string::npos) continue;  // not UTF-8
    stored.insert(key);
    this->MustPut(key, key);
  }
  const char* prefixes[] = {"",       "a", "a/",  "a/b", "a/b/", "b/x", "c/",
                            "c/\xff", "d", "dd/", "zzz", "a//",  "../"};
  const char* afters[] = {"",   "a",    "a/",  "a/b",    "a/b/",  "a/b/c", "a/b/c/",
                          "a0", "b/x/", "c/a", "c/\xff", "dd/d/", "~"};
  const char* delimiters[] = {"", "/", "d", "/b", "b/"};
  int checked = 0;
  for (const char* prefix : prefixes) {
    for (const char* after : afters) {
      for (const char* delimiter : delimiters) {
        for (size_t limit : {1, 2, 5, 1000}) {
          ListOptions o;
          o.prefix = prefix;
          o.start_after = after;
          o.delimiter = delimiter;
          o.limit = limit;
          ListResult want = ModelList(stored, o);
          ListResult got = this->MustList(o);
          std::string what = std::string("prefix '") + prefix + "' after '" + after +
                             "' delimiter '" + delimiter + "' limit " + std::to_string(limit);
          ASSERT_EQ(KeysOf(got), KeysOf(want)) << what;
          ASSERT_EQ(got.common_prefixes, want.common_prefixes) << what;
          ASSERT_EQ(got.truncated, want.truncated) << what;
          if (!got.objects.empty() || !got.common_prefixes.empty()) {
            ASSERT_EQ(got.next_start_after, want.next_start_after) << what;
          }
          ++checked;
        }
      }
    }
  }
  EXPECT_EQ(checked, 3380);  // 13 prefixes, 13 start_afters, 5 delimiters, 4 limits
}

TYPED_TEST(ObjectStoreTest, ConcurrentPutsAndGets) {
  if (std::string gap = this->env_.KnownGap("ConcurrentPutsAndGets"); !gap.empty())
    GTEST_SKIP() << gap;
  constexpr int kThreads = 4;
  constexpr int kOpsPerThread = 60;
  constexpr size_t kSharedSize = 64 << 10;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kOpsPerThread; ++i) {
        std::string own = "t" + std::to_string(t) + "/k" + std::to_string(i % 10);
        std::string value = own + "#" + std::to_string(i);
        if (!this->store().Put(own, value).ok()) ++failures;
        Result<std::string> back = this->store().Get(own);
        if (!back.has_value() || *back != value) ++failures;
        // Every thread overwrites one shared key with a uniform pattern: a
        // reader must see one whole pattern, never a mix or a part.
        if (!this->store()
                 .Put("shared", std::string(kSharedSize, static_cast<char>('a' + t)))
                 .ok()) {
          ++failures;
        }
        Result<std::string> shared = this->store().Get("shared");
        if (!shared.has_value() || shared->size() != kSharedSize ||
            shared->find_first_not_of(shared->front()) != std::string::npos) {
          ++failures;
        }
        if (i % 10 == 9) {
          Result<ListResult> listed = this->store().List({});
          if (!listed.has_value()) ++failures;
        }
        if (i % 3 == 0 && !this->store().Delete(own).ok()) ++failures;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  ListOptions o;
  o.delimiter = "/";
  ListResult r = this->MustList(o);
  EXPECT_EQ(r.common_prefixes, (std::vector<std::string>{"t0/", "t1/", "t2/", "t3/"}));
  EXPECT_EQ(KeysOf(r), std::vector<std::string>{"shared"});
}

}  // namespace
}  // namespace shoal::object
