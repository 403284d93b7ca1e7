// Conformance tests run over every engine (typed tests), then tests of what
// only one engine does: rocksdb persistence and locking, mem phantom checks,
// URL parsing, and fault injection. The redis engine runs the typed tests
// when SHOAL_TEST_REDIS_URL names a server (they skip otherwise); its own
// tests are in redis_kv_test.cc.
#include "kv/kv.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "kv/fault_kv.h"
#include "kv/mem_kv.h"
#include "kv/redis_testing.h"
#include "kv/rocksdb_kv.h"

namespace shoal::kv {
namespace {

using std::string_literals::operator""s;

// A fresh directory under the system temp dir, removed at destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "shoal-kv-XXXXXX").string();
    char* made = mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr) << "mkdtemp failed";
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Small backoff so that conflict tests stay fast.
RetryPolicy FastRetry() {
  RetryPolicy policy;
  policy.first_backoff = std::chrono::microseconds(10);
  policy.max_backoff = std::chrono::microseconds(2000);
  policy.max_attempts = 200;
  return policy;
}

struct MemFactory {
  std::shared_ptr<Engine> Open() { return std::make_shared<MemEngine>(MemOptions{FastRetry()}); }
};

struct RocksFactory {
  TempDir dir;
  std::shared_ptr<Engine> Open() {
    RocksDbOptions options;
    options.create = true;
    options.retry = FastRetry();
    options.block_cache_bytes = 8 << 20;
    options.write_buffer_size = 4 << 20;
    auto engine = OpenRocksDb(dir.path() + "/db", options);
    EXPECT_TRUE(engine.has_value()) << engine.error().ToString();
    return engine.has_value() ? *engine : nullptr;
  }
};

struct FaultMemFactory {
  std::shared_ptr<Engine> Open() {
    return std::make_shared<FaultEngine>(std::make_shared<MemEngine>(MemOptions{FastRetry()}));
  }
};

// On the server of SHOAL_TEST_REDIS_URL, under a fresh prefix that is
// deleted afterwards.
struct RedisFactory {
  std::string skip_reason = testing::RedisSkipReason();
  std::shared_ptr<Engine> Open() {
    auto engine = testing::OpenTestRedis(FastRetry());
    EXPECT_TRUE(engine.has_value()) << engine.error().ToString();
    return engine.has_value() ? *engine : nullptr;
  }
};

template <typename Factory>
class KvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if constexpr (requires { factory_.skip_reason; }) {
      if (!factory_.skip_reason.empty()) GTEST_SKIP() << factory_.skip_reason;
    }
    engine_ = factory_.Open();
    ASSERT_NE(engine_, nullptr);
  }

  void Put(const std::string& key, const std::string& value) {
    ASSERT_TRUE(engine_
                    ->Txn([&](Txn& t) {
                      t.Put(key, value);
                      return OkStatus();
                    })
                    .ok());
  }

  std::optional<std::string> Get(const std::string& key) {
    std::optional<std::string> out;
    Status s = engine_->View([&](Txn& t) -> Status {
      ASSIGN_OR_RETURN(out, t.Get(key));
      return OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  // All keys and values in [begin, end), read in a View.
  std::vector<std::pair<std::string, std::string>> ScanAll(const std::string& begin,
                                                           const std::string& end, size_t limit = 0,
                                                           bool keys_only = false) {
    std::vector<std::pair<std::string, std::string>> out;
    Status s = engine_->View([&](Txn& t) {
      out.clear();
      return t.Scan(begin, end, limit, keys_only, [&](std::string_view k, std::string_view v) {
        out.emplace_back(k, v);
        return true;
      });
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  Factory factory_;
  std::shared_ptr<Engine> engine_;
};

using Engines = ::testing::Types<MemFactory, RocksFactory, FaultMemFactory, RedisFactory>;

class EngineNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    if (std::is_same_v<T, MemFactory>) return "Mem";
    if (std::is_same_v<T, RocksFactory>) return "RocksDb";
    if (std::is_same_v<T, RedisFactory>) return "Redis";
    return "FaultMem";
  }
};
TYPED_TEST_SUITE(KvTest, Engines, EngineNames);

using KV = std::vector<std::pair<std::string, std::string>>;

TYPED_TEST(KvTest, GetPutDelete) {
  EXPECT_EQ(this->Get("a"), std::nullopt);
  this->Put("a", "1");
  EXPECT_EQ(this->Get("a"), "1");
  this->Put("a", "2");
  EXPECT_EQ(this->Get("a"), "2");
  this->Put("empty", "");
  EXPECT_EQ(this->Get("empty"), ""s);
  ASSERT_TRUE(this->engine_
                  ->Txn([](Txn& t) {
                    t.Delete("a");
                    t.Delete("never-existed");
                    return OkStatus();
                  })
                  .ok());
  EXPECT_EQ(this->Get("a"), std::nullopt);
  EXPECT_EQ(this->Get("empty"), ""s);
}

TYPED_TEST(KvTest, BatchGetKeepsOrderAndReportsAbsentKeys) {
  this->Put("b", "B");
  this->Put("d", "D");
  std::vector<std::optional<std::string>> values;
  ASSERT_TRUE(this->engine_
                  ->View([&](Txn& t) -> Status {
                    ASSIGN_OR_RETURN(values, t.BatchGet({"d", "a", "b", "c", "d"}));
                    return OkStatus();
                  })
                  .ok());
  std::vector<std::optional<std::string>> want = {"D", std::nullopt, "B", std::nullopt, "D"};
  EXPECT_EQ(values, want);
  ASSERT_TRUE(this->engine_
                  ->Txn([&](Txn& t) -> Status {
                    t.Put("c", "C");
                    t.Delete("d");
                    ASSIGN_OR_RETURN(values, t.BatchGet({"a", "b", "c", "d"}));
                    return OkStatus();
                  })
                  .ok());
  want = {std::nullopt, "B", "C", std::nullopt};
  EXPECT_EQ(values, want);
  ASSERT_TRUE(this->engine_
                  ->View([&](Txn& t) -> Status {
                    ASSIGN_OR_RETURN(values, t.BatchGet({}));
                    return OkStatus();
                  })
                  .ok());
  EXPECT_TRUE(values.empty());
}

TYPED_TEST(KvTest, ScanIsOrderedAndBounded) {
  for (const char* k : {"m", "c", "x", "a", "cc", "b", "z"}) this->Put(k, "v"s + k);
  EXPECT_EQ(this->ScanAll("b", "x"), (KV{{"b", "vb"}, {"c", "vc"}, {"cc", "vcc"}, {"m", "vm"}}));
  // An empty end means the end of the key space.
  EXPECT_EQ(this->ScanAll("m", ""), (KV{{"m", "vm"}, {"x", "vx"}, {"z", "vz"}}));
  EXPECT_EQ(this->ScanAll("", "b"), (KV{{"a", "va"}}));
  EXPECT_TRUE(this->ScanAll("x", "c").empty());
  EXPECT_TRUE(this->ScanAll("c", "c").empty());
}

TYPED_TEST(KvTest, ScanLimitAndEarlyStop) {
  for (const char* k : {"a", "b", "c", "d", "e"}) this->Put(k, k);
  EXPECT_EQ(this->ScanAll("a", "", 2), (KV{{"a", "a"}, {"b", "b"}}));
  EXPECT_EQ(this->ScanAll("c", "", 10).size(), 3u);
  std::vector<std::string> seen;
  ASSERT_TRUE(this->engine_
                  ->View([&](Txn& t) {
                    return t.Scan("a", "", 0, false, [&](std::string_view k, std::string_view) {
                      seen.emplace_back(k);
                      return k != "c";
                    });
                  })
                  .ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b", "c"}));
}

TYPED_TEST(KvTest, ScanKeysOnly) {
  this->Put("k1", "value1");
  this->Put("k2", "value2");
  EXPECT_EQ(this->ScanAll("k", "l", 0, /*keys_only=*/true), (KV{{"k1", ""}, {"k2", ""}}));
}

TYPED_TEST(KvTest, BinaryKeysSortAsUnsignedBytes) {
  const std::vector<std::string> keys = {"a"s,     "a\0"s,   "a\0b"s,      "a\x01"s, "a\x7f"s,
                                         "a\x80"s, "a\xff"s, "a\xff\xff"s, "b"s,     "\xff\xff"s};
  // Insert in reverse so that the engine has to sort.
  for (auto it = keys.rbegin(); it != keys.rend(); ++it) this->Put(*it, "v" + *it);
  for (const auto& k : keys) EXPECT_EQ(this->Get(k), "v" + k);

  auto all = this->ScanAll("", "");
  ASSERT_EQ(all.size(), keys.size());
  for (size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(all[i].first, keys[i]) << i;

  // The prefix "a" covers everything up to but excluding "b".
  auto prefixed = this->ScanAll("a", PrefixEnd("a"));
  EXPECT_EQ(prefixed.size(), 8u);
  EXPECT_EQ(prefixed.back().first, "a\xff\xff"s);
  // "a\0" covers "a\0" and "a\0b" only.
  EXPECT_EQ(this->ScanAll("a\0"s, PrefixEnd("a\0"s)).size(), 2u);
  // A prefix of only 0xff bytes runs to the end of the key space.
  EXPECT_EQ(this->ScanAll("\xff"s, PrefixEnd("\xff"s)), (KV{{"\xff\xff"s, "v\xff\xff"s}}));
}

TYPED_TEST(KvTest, ReadYourWritesInsideTxn) {
  this->Put("a", "old-a");
  this->Put("b", "old-b");
  this->Put("d", "old-d");
  Status s = this->engine_->Txn([&](Txn& t) -> Status {
    t.Put("c", "new-c");
    t.Put("a", "new-a");
    t.Delete("b");
    ASSIGN_OR_RETURN(auto a, t.Get("a"));
    ASSIGN_OR_RETURN(auto b, t.Get("b"));
    ASSIGN_OR_RETURN(auto c, t.Get("c"));
    EXPECT_EQ(a, "new-a");
    EXPECT_EQ(b, std::nullopt);
    EXPECT_EQ(c, "new-c");
    KV seen;
    RETURN_IF_ERROR(t.Scan("", "", 0, false, [&](std::string_view k, std::string_view v) {
      seen.emplace_back(k, v);
      return true;
    }));
    EXPECT_EQ(seen, (KV{{"a", "new-a"}, {"c", "new-c"}, {"d", "old-d"}}));
    // A limit counts merged keys, buffered ones included.
    seen.clear();
    RETURN_IF_ERROR(t.Scan("b", "", 1, false, [&](std::string_view k, std::string_view v) {
      seen.emplace_back(k, v);
      return true;
    }));
    EXPECT_EQ(seen, (KV{{"c", "new-c"}}));
    // Put after delete revives the key.
    t.Delete("c");
    t.Put("b", "again-b");
    ASSIGN_OR_RETURN(auto b2, t.Get("b"));
    EXPECT_EQ(b2, "again-b");
    return OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(this->ScanAll("", ""), (KV{{"a", "new-a"}, {"b", "again-b"}, {"d", "old-d"}}));
}

// Random buffered writes over many committed keys, so that scans cross the
// engines' internal batches; compared with a std::map.
TYPED_TEST(KvTest, ScanMergesBufferedWritesLikeAModel) {
  std::map<std::string, std::string> model;
  std::mt19937 rng(7);
  auto key = [&] {
    char buf[16];
    snprintf(buf, sizeof(buf), "k%04u", static_cast<unsigned>(rng() % 1500));
    return std::string(buf);
  };
  ASSERT_TRUE(this->engine_
                  ->Txn([&](Txn& t) {
                    for (int i = 0; i < 1000; ++i) {
                      std::string k = key();
                      t.Put(k, "c" + k);
                      model[k] = "c" + k;
                    }
                    return OkStatus();
                  })
                  .ok());
  Status s = this->engine_->Txn([&](Txn& t) -> Status {
    std::map<std::string, std::string> want = model;
    for (int i = 0; i < 400; ++i) {
      std::string k = key();
      if (rng() % 2) {
        t.Put(k, "b" + k);
        want[k] = "b" + k;
      } else {
        t.Delete(k);
        want.erase(k);
      }
    }
    for (auto [begin, end] : {std::pair<std::string, std::string>{"", ""},
                              {"k0100", "k1200"},
                              {"k0500", ""},
                              {"k0333", "k0334"}}) {
      KV got;
      RETURN_IF_ERROR(t.Scan(begin, end, 0, false, [&](std::string_view k, std::string_view v) {
        got.emplace_back(k, v);
        return true;
      }));
      KV expect;
      for (auto it = want.lower_bound(begin); it != want.end() && (end.empty() || it->first < end);
           ++it) {
        expect.emplace_back(it->first, it->second);
      }
      EXPECT_EQ(got, expect) << "[" << begin << ", " << end << ")";
    }
    return Invalid("abort on purpose");
  });
  EXPECT_EQ(s.code(), Code::kInvalid);
  EXPECT_EQ(this->ScanAll("", "").size(), model.size());
}

TYPED_TEST(KvTest, ErrorAbortsAndLeavesNothing) {
  this->Put("keep", "1");
  int runs = 0;
  Status s = this->engine_->Txn([&](Txn& t) {
    ++runs;
    t.Put("a", "1");
    t.Put("keep", "2");
    t.Delete("keep");
    return NotFound("no such thing");
  });
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_EQ(s.message(), "no such thing");
  EXPECT_EQ(runs, 1) << "errors other than kConflict must not be retried";
  EXPECT_EQ(this->Get("a"), std::nullopt);
  EXPECT_EQ(this->Get("keep"), "1");
}

TYPED_TEST(KvTest, ConflictFromFunctionIsRetried) {
  int runs = 0;
  Status s = this->engine_->Txn([&](Txn& t) {
    t.Put("attempt", std::to_string(runs));
    if (++runs < 3) return Conflict("try again");
    return OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(runs, 3);
  EXPECT_EQ(this->Get("attempt"), "2");
}

TYPED_TEST(KvTest, ViewRejectsWrites) {
  Status s = this->engine_->View([](Txn& t) {
    t.Put("x", "1");
    return OkStatus();
  });
  EXPECT_EQ(s.code(), Code::kInternal);
  EXPECT_EQ(this->Get("x"), std::nullopt);
}

TYPED_TEST(KvTest, MultiKeyCommitsAreAtomic) {
  constexpr int kKeys = 8;
  constexpr int kRounds = 60;
  auto key = [](int i) { return "atom/" + std::to_string(i); };
  std::atomic<bool> done{false};
  std::atomic<int> torn{0};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    while (!done.load()) {
      Status s = this->engine_->View([&](Txn& t) -> Status {
        std::set<std::string> values;
        RETURN_IF_ERROR(t.Scan("atom/", PrefixEnd("atom/"), 0, false,
                               [&](std::string_view, std::string_view v) {
                                 values.emplace(v);
                                 return true;
                               }));
        std::vector<std::string> keys;
        for (int i = 0; i < kKeys; ++i) keys.push_back(key(i));
        ASSIGN_OR_RETURN(auto got, t.BatchGet(keys));
        for (const auto& v : got) values.emplace(v.value_or("absent"));
        if (values.size() > 1) ++torn;
        return OkStatus();
      });
      EXPECT_TRUE(s.ok()) << s.ToString();
      ++reads;
    }
  });
  for (int round = 0; round < kRounds; ++round) {
    Status s = this->engine_->Txn([&](Txn& t) {
      for (int i = 0; i < kKeys; ++i) t.Put(key(i), std::to_string(round));
      return OkStatus();
    });
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  // Let the reader see at least a few states before stopping it.
  while (reads.load() < 5) std::this_thread::yield();
  done = true;
  reader.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(this->Get(key(0)), std::to_string(kRounds - 1));
}

// Many writers incrementing one key: only optimistic retry gets the exact sum.
TYPED_TEST(KvTest, ConcurrentIncrementsAreNotLost) {
  constexpr int kThreads = 6;
  constexpr int kIncrements = 40;
  std::atomic<int> attempts{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < kIncrements; ++j) {
        Status s = this->engine_->Txn([&](Txn& t) -> Status {
          ++attempts;
          ASSIGN_OR_RETURN(auto v, t.Get("counter"));
          int n = v ? std::stoi(*v) : 0;
          t.Put("counter", std::to_string(n + 1));
          return OkStatus();
        });
        EXPECT_TRUE(s.ok()) << s.ToString();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(this->Get("counter"), std::to_string(kThreads * kIncrements));
  EXPECT_GE(attempts.load(), kThreads * kIncrements);
}

// A transaction reads a key, another commits a change to it, then the first
// writes: its commit must fail and its function run again on the new value.
TYPED_TEST(KvTest, GetThenPutRaceIsDetected) {
  this->Put("k", "10");
  int runs = 0;
  Status s = this->engine_->Txn([&](Txn& t) -> Status {
    ++runs;
    ASSIGN_OR_RETURN(auto v, t.Get("k"));
    if (runs == 1) {
      std::thread other([&] { this->Put("k", "100"); });
      other.join();
    }
    t.Put("k", std::to_string(std::stoi(v.value()) + 1));
    return OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(this->Get("k"), "101");
}

// Same with a key that was absent when read: creating it concurrently must
// also conflict (two creators of one name).
TYPED_TEST(KvTest, ConcurrentCreationOfAbsentKeyIsDetected) {
  int runs = 0;
  Status s = this->engine_->Txn([&](Txn& t) -> Status {
    ++runs;
    ASSIGN_OR_RETURN(auto v, t.Get("name"));
    if (runs == 1) {
      EXPECT_EQ(v, std::nullopt);
      std::thread other([&] { this->Put("name", "theirs"); });
      other.join();
    }
    if (v) return Status(Code::kExists, "taken");
    t.Put("name", "mine");
    return OkStatus();
  });
  EXPECT_EQ(s.code(), Code::kExists);
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(this->Get("name"), "theirs");
}

TYPED_TEST(KvTest, ViewReadsOneSnapshot) {
  this->Put("a", "1");
  this->Put("b", "1");
  int runs = 0;
  Status s = this->engine_->View([&](Txn& t) -> Status {
    ASSIGN_OR_RETURN(auto a, t.Get("a"));
    if (++runs == 1) {
      std::thread other([&] {
        ASSERT_TRUE(this->engine_
                        ->Txn([](Txn& w) {
                          w.Put("a", "2");
                          w.Put("b", "2");
                          return OkStatus();
                        })
                        .ok());
      });
      other.join();
    }
    ASSIGN_OR_RETURN(auto b, t.Get("b"));
    // Either the engine reads at the snapshot (rocksdb) or the read of a
    // changed key fails with kConflict and the view runs again (mem); both
    // give equal values.
    EXPECT_EQ(a, b);
    return OkStatus();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST(PrefixEndTest, Cases) {
  EXPECT_EQ(PrefixEnd(""), "");
  EXPECT_EQ(PrefixEnd("a"), "b");
  EXPECT_EQ(PrefixEnd("ab"), "ac");
  EXPECT_EQ(PrefixEnd("a\xff"s), "b");
  EXPECT_EQ(PrefixEnd("a\xff\xff"s), "b");
  EXPECT_EQ(PrefixEnd("\xff"s), "");
  EXPECT_EQ(PrefixEnd("\xff\xff"s), "");
  EXPECT_EQ(PrefixEnd("a\0"s), "a\x01"s);
  EXPECT_EQ(PrefixEnd("\x7f"s), "\x80"s);
}

// ---- mem only ----

TEST(MemEngineTest, ScanDetectsPhantomInsert) {
  MemEngine engine(MemOptions{FastRetry()});
  int runs = 0;
  Status s = engine.Txn([&](Txn& t) -> Status {
    ++runs;
    size_t n = 0;
    RETURN_IF_ERROR(t.Scan("dir/", PrefixEnd("dir/"), 0, true, [&](auto, auto) {
      ++n;
      return true;
    }));
    if (runs == 1) {
      std::thread other([&] {
        ASSERT_TRUE(engine
                        .Txn([](Txn& w) {
                          w.Put("dir/new", "x");
                          return OkStatus();
                        })
                        .ok());
      });
      other.join();
    }
    t.Put("count", std::to_string(n));
    return OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(runs, 2);
  std::optional<std::string> count;
  ASSERT_TRUE(engine
                  .View([&](Txn& t) -> Status {
                    ASSIGN_OR_RETURN(count, t.Get("count"));
                    return OkStatus();
                  })
                  .ok());
  EXPECT_EQ(count, "1");
}

TEST(MemEngineTest, ScanDetectsPhantomDelete) {
  MemEngine engine(MemOptions{FastRetry()});
  ASSERT_TRUE(engine
                  .Txn([](Txn& t) {
                    t.Put("dir/a", "1");
                    return OkStatus();
                  })
                  .ok());
  int runs = 0;
  Status s = engine.Txn([&](Txn& t) -> Status {
    ++runs;
    RETURN_IF_ERROR(t.Scan("dir/", PrefixEnd("dir/"), 0, true, [&](auto, auto) { return true; }));
    if (runs == 1) {
      std::thread other([&] {
        ASSERT_TRUE(engine
                        .Txn([](Txn& w) {
                          w.Delete("dir/a");
                          return OkStatus();
                        })
                        .ok());
      });
      other.join();
    }
    t.Put("elsewhere", "1");
    return OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(runs, 2);
}

TEST(MemEngineTest, ScanStoppedEarlyIgnoresChangesPastWhereItStopped) {
  MemEngine engine(MemOptions{FastRetry()});
  ASSERT_TRUE(engine
                  .Txn([](Txn& t) {
                    t.Put("r/a", "1");
                    t.Put("r/b", "1");
                    return OkStatus();
                  })
                  .ok());
  int runs = 0;
  Status s = engine.Txn([&](Txn& t) -> Status {
    ++runs;
    RETURN_IF_ERROR(t.Scan("r/", PrefixEnd("r/"), 1, false, [&](auto, auto) { return true; }));
    if (runs == 1) {
      std::thread other([&] {
        ASSERT_TRUE(engine
                        .Txn([](Txn& w) {
                          w.Put("r/z", "1");
                          return OkStatus();
                        })
                        .ok());
      });
      other.join();
    }
    t.Put("out", "1");
    return OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(runs, 1) << "only r/a was observed; r/z is past the scan's stop";
}

TEST(MemEngineTest, TombstonesArePruned) {
  MemEngine engine;
  auto key = [](int round, int i) {
    return "t/" + std::to_string(round) + "/" + std::to_string(i);
  };
  for (int round = 0; round < 6; ++round) {
    ASSERT_TRUE(engine
                    .Txn([&](Txn& t) {
                      for (int i = 0; i < 1000; ++i) t.Put(key(round, i), "v");
                      return OkStatus();
                    })
                    .ok());
    ASSERT_TRUE(engine
                    .Txn([&](Txn& t) {
                      for (int i = 0; i < 1000; ++i) t.Delete(key(round, i));
                      return OkStatus();
                    })
                    .ok());
  }
  EXPECT_EQ(engine.LiveKeysForTesting(), 0u);
  // 6000 keys deleted; without pruning all would stay as tombstones.
  EXPECT_LE(engine.TombstonesForTesting(), 2000u);

  // A running transaction keeps the tombstones it might still conflict on.
  MemEngine held;
  ASSERT_TRUE(held.Txn([&](Txn& t) {
                    for (int i = 0; i < 3000; ++i) t.Put(key(0, i), "v");
                    return OkStatus();
                  })
                  .ok());
  int runs = 0;
  Status s = held.View([&](Txn& view) -> Status {
    if (++runs > 1) return OkStatus();
    ASSIGN_OR_RETURN(auto before, view.Get(key(0, 5)));
    EXPECT_EQ(before, "v");
    std::thread deleter([&] {
      for (int i = 0; i < 3000; ++i) {
        ASSERT_TRUE(held.Txn([&](Txn& t) {
                          t.Delete(key(0, i));
                          return OkStatus();
                        })
                        .ok());
      }
    });
    deleter.join();
    EXPECT_GE(held.TombstonesForTesting(), 3000u);
    // Key 7 existed at the view's snapshot: reading it must fail with
    // kConflict (and the view run again), not say it is absent.
    auto after = view.Get(key(0, 7));
    EXPECT_EQ(after.has_value() ? Code::kOk : after.error().code(), Code::kConflict);
    return OkStatus();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST(MemEngineTest, RetryGivesUpWithClearMessage) {
  RetryPolicy policy = FastRetry();
  policy.max_attempts = 4;
  MemEngine engine(MemOptions{policy});
  int runs = 0;
  Status s = engine.Txn([&](Txn&) {
    ++runs;
    return Conflict("always");
  });
  EXPECT_EQ(s.code(), Code::kConflict);
  EXPECT_EQ(runs, 4);
  EXPECT_NE(s.message().find("after 4 attempts"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("mem://"), std::string::npos) << s.message();
}

// ---- rocksdb only ----

TEST(RocksDbTest, DataSurvivesReopen) {
  TempDir dir;
  const std::string url = "rocksdb://" + dir.path() + "/meta";
  {
    auto engine = OpenKv(url, /*create=*/true);
    ASSERT_TRUE(engine.has_value()) << engine.error().ToString();
    EXPECT_EQ((*engine)->Describe(), url);
    ASSERT_TRUE((*engine)
                    ->Txn([](Txn& t) {
                      t.Put("persist", "yes");
                      t.Put("bin\0\xff"s, "\0"s);
                      return OkStatus();
                    })
                    .ok());
  }
  auto engine = OpenKv(url, /*create=*/false);
  ASSERT_TRUE(engine.has_value()) << engine.error().ToString();
  std::vector<std::optional<std::string>> got;
  ASSERT_TRUE((*engine)
                  ->View([&](Txn& t) -> Status {
                    ASSIGN_OR_RETURN(got, t.BatchGet({"persist", "bin\0\xff"s}));
                    return OkStatus();
                  })
                  .ok());
  EXPECT_EQ(got, (std::vector<std::optional<std::string>>{"yes", "\0"s}));
}

// A commit is in the write-ahead log when Txn returns: a process that dies
// right after, without closing the database, loses nothing.
TEST(RocksDbTest, CommitsSurviveAProcessCrash) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // The child runs in another process; both name the directory after the parent's pid.
  auto dir_of = [](pid_t parent) {
    return (std::filesystem::temp_directory_path() / ("shoal-kv-crash-" + std::to_string(parent)))
        .string();
  };
  const std::string dir = dir_of(getpid());
  EXPECT_EXIT(
      {
        auto engine = OpenKv("rocksdb://" + dir_of(getppid()), /*create=*/true);
        if (!engine.has_value()) _exit(2);
        Status s = (*engine)->Txn([](Txn& t) {
          t.Put("crash", "survived");
          return OkStatus();
        });
        _exit(s.ok() ? 0 : 3);  // no destructors: the database is never closed
      },
      ::testing::ExitedWithCode(0), "");
  {
    auto engine = OpenKv("rocksdb://" + dir, /*create=*/false);
    ASSERT_TRUE(engine.has_value()) << engine.error().ToString();
    std::optional<std::string> value;
    ASSERT_TRUE((*engine)
                    ->View([&](Txn& t) -> Status {
                      ASSIGN_OR_RETURN(value, t.Get("crash"));
                      return OkStatus();
                    })
                    .ok());
    EXPECT_EQ(value, "survived");
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

TEST(RocksDbTest, MissingDatabaseWithoutCreateIsNotFound) {
  TempDir dir;
  for (const std::string& path : {dir.path() + "/nothing", dir.path()}) {
    auto engine = OpenKv("rocksdb://" + path, /*create=*/false);
    ASSERT_FALSE(engine.has_value()) << path;
    EXPECT_EQ(engine.error().code(), Code::kNotFound) << engine.error().ToString();
    EXPECT_NE(engine.error().message().find("format"), std::string::npos);
    EXPECT_NE(engine.error().message().find(path), std::string::npos);
  }
  // Nothing was created by the failed opens.
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/nothing"));
}

TEST(RocksDbTest, CreateMakesParentDirectories) {
  TempDir dir;
  auto engine = OpenKv("rocksdb://" + dir.path() + "/a/b/meta", /*create=*/true);
  ASSERT_TRUE(engine.has_value()) << engine.error().ToString();
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/a/b/meta/CURRENT"));
}

TEST(RocksDbTest, SecondOpenIsBusy) {
  TempDir dir;
  const std::string url = "rocksdb://" + dir.path() + "/meta";
  auto first = OpenKv(url, /*create=*/true);
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  auto second = OpenKv(url, /*create=*/false);
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code(), Code::kBusy) << second.error().ToString();
  EXPECT_NE(second.error().message().find("in use"), std::string::npos);
  first->reset();
  auto third = OpenKv(url, /*create=*/false);
  EXPECT_TRUE(third.has_value()) << third.error().ToString();
}

TEST(RocksDbTest, CorruptDatabaseIsCorrupt) {
  TempDir dir;
  const std::string path = dir.path() + "/meta";
  ASSERT_TRUE(OpenKv("rocksdb://" + path, true).has_value());
  // CURRENT names the manifest; point it at garbage.
  for (const auto& entry : std::filesystem::directory_iterator(path)) {
    if (entry.path().filename().string().starts_with("MANIFEST")) {
      FILE* f = fopen(entry.path().c_str(), "r+");
      ASSERT_NE(f, nullptr);
      fputs("this is not a manifest at all, not even close, definitely garbage", f);
      fclose(f);
    }
  }
  auto engine = OpenKv("rocksdb://" + path, false);
  ASSERT_FALSE(engine.has_value());
  EXPECT_EQ(engine.error().code(), Code::kCorrupt) << engine.error().ToString();
}

TEST(RocksDbTest, SyncOption) {
  TempDir dir;
  auto engine = OpenKv("rocksdb://" + dir.path() + "/meta?sync=true", true);
  ASSERT_TRUE(engine.has_value()) << engine.error().ToString();
  EXPECT_TRUE((*engine)
                  ->Txn([](Txn& t) {
                    t.Put("a", "b");
                    return OkStatus();
                  })
                  .ok());
  auto bad = OpenKv("rocksdb://" + dir.path() + "/other?sync=maybe", true);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), Code::kInvalid);
  auto unknown = OpenKv("rocksdb://" + dir.path() + "/other?cache=1", true);
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code(), Code::kInvalid);
  EXPECT_NE(unknown.error().message().find("cache"), std::string::npos);
}

// ---- URLs ----

TEST(OpenKvTest, MemIsFreshEachTime) {
  auto a = OpenKv("mem://", false);
  auto b = OpenKv("mem://", false);
  ASSERT_TRUE(a.has_value() && b.has_value());
  ASSERT_TRUE((*a)->Txn([](Txn& t) {
                    t.Put("x", "1");
                    return OkStatus();
                  })
                  .ok());
  std::optional<std::string> x = "unset";
  ASSERT_TRUE((*b)->View([&](Txn& t) -> Status {
                    ASSIGN_OR_RETURN(x, t.Get("x"));
                    return OkStatus();
                  })
                  .ok());
  EXPECT_EQ(x, std::nullopt);
  EXPECT_EQ((*a)->Describe(), "mem://");
}

TEST(OpenKvTest, BadUrlsAreInvalidAndListTheAcceptedForms) {
  for (const char* url :
       {"", "mem", "/var/lib/meta", "tikv://host/x", "redis:///1", "rocksdb://relative/path",
        "rocksdb://", "rocksdb:///", "mem://host", "mem:///path", "rocksdb://user:secret@host/x",
        "redis://:secret@localhost/x"}) {
    auto engine = OpenKv(url, true);
    ASSERT_FALSE(engine.has_value()) << url;
    EXPECT_EQ(engine.error().code(), Code::kInvalid) << url << ": " << engine.error().ToString();
    EXPECT_NE(engine.error().message().find("rocksdb:///"), std::string::npos)
        << engine.error().message();
    EXPECT_NE(engine.error().message().find("mem://"), std::string::npos);
    EXPECT_NE(engine.error().message().find("redis://[user:password@]host[:port][/db]"),
              std::string::npos);
    EXPECT_EQ(engine.error().message().find("secret"), std::string::npos)
        << "passwords must not be printed: " << engine.error().message();
  }
}

// ---- fault injection ----

std::shared_ptr<FaultEngine> NewFaulty(RetryPolicy policy = FastRetry()) {
  return std::make_shared<FaultEngine>(std::make_shared<MemEngine>(MemOptions{policy}));
}

Status Increment(Engine& engine, int* runs = nullptr) {
  return engine.Txn([&](Txn& t) -> Status {
    if (runs) ++*runs;
    ASSIGN_OR_RETURN(auto v, t.Get("n"));
    t.Put("n", std::to_string(v ? std::stoi(*v) + 1 : 1));
    return OkStatus();
  });
}

std::optional<std::string> GetN(Engine& engine) {
  std::optional<std::string> n;
  EXPECT_TRUE(engine
                  .View([&](Txn& t) -> Status {
                    ASSIGN_OR_RETURN(n, t.Get("n"));
                    return OkStatus();
                  })
                  .ok());
  return n;
}

TEST(FaultEngineTest, InjectedConflictsAreRetriedAndApplyOnce) {
  auto engine = NewFaulty();
  engine->FailNextCommits(3);
  int runs = 0;
  ASSERT_TRUE(Increment(*engine, &runs).ok());
  EXPECT_EQ(runs, 4);
  EXPECT_EQ(engine->injected().conflicts, 3);
  EXPECT_EQ(GetN(*engine), "1");
  EXPECT_EQ(engine->Describe(), "fault(mem://)");
}

TEST(FaultEngineTest, TooManyConflictsGiveUp) {
  RetryPolicy policy = FastRetry();
  policy.max_attempts = 5;
  auto engine = NewFaulty(policy);
  engine->FailNextCommits(1000);
  Status s = Increment(*engine);
  EXPECT_EQ(s.code(), Code::kConflict);
  EXPECT_NE(s.message().find("after 5 attempts"), std::string::npos) << s.message();
  EXPECT_EQ(engine->injected().conflicts, 5);
  engine->FailNextCommits(0);
  EXPECT_EQ(GetN(*engine), std::nullopt);
}

TEST(FaultEngineTest, ReadOnlyTransactionsNeverConflict) {
  auto engine = NewFaulty();
  engine->FailNextCommits(1);
  int runs = 0;
  ASSERT_TRUE(engine
                  ->Txn([&](Txn& t) -> Status {
                    ++runs;
                    auto v = t.Get("x");
                    return v.has_value() ? OkStatus() : v.error();
                  })
                  .ok());
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(engine->injected().conflicts, 0);
}

TEST(FaultEngineTest, UnavailableCallRunsNothing) {
  auto engine = NewFaulty();
  engine->FailNextCalls(1);
  int runs = 0;
  Status s = Increment(*engine, &runs);
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_EQ(runs, 0);
  EXPECT_EQ(engine->injected().calls, 1);
  EXPECT_TRUE(Increment(*engine, &runs).ok());
  EXPECT_EQ(GetN(*engine), "1");
}

TEST(FaultEngineTest, FailedReadAbortsTheTransaction) {
  auto engine = NewFaulty();
  ASSERT_TRUE(Increment(*engine).ok());
  engine->FailNextReads(1);
  Status s = engine->Txn([&](Txn& t) -> Status {
    t.Put("other", "1");
    ASSIGN_OR_RETURN(auto v, t.Get("n"));
    t.Put("n", "999");
    return OkStatus();
  });
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_EQ(GetN(*engine), "1");
  EXPECT_EQ(engine->injected().reads, 1);
}

TEST(FaultEngineTest, LostCommitIsAppliedButReportedUnavailable) {
  auto engine = NewFaulty();
  engine->LoseNextCommits(1);
  Status s = Increment(*engine);
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_EQ(GetN(*engine), "1");
  EXPECT_EQ(engine->injected().lost_commits, 1);
}

TEST(FaultEngineTest, RandomFaultsAreReproducibleFromTheSeed) {
  FaultOptions options;
  options.seed = 42;
  options.conflict_probability = 0.3;
  auto run = [&] {
    auto engine = NewFaulty();
    engine->SetOptions(options);
    for (int i = 0; i < 100; ++i) EXPECT_TRUE(Increment(*engine).ok());
    EXPECT_EQ(GetN(*engine), "100");
    return engine->injected().conflicts;
  };
  int first = run();
  EXPECT_GT(first, 10);
  EXPECT_LT(first, 90);
  EXPECT_EQ(run(), first);
}

}  // namespace
}  // namespace shoal::kv
