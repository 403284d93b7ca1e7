// Tests of what only the redis engine does: its URLs, key layout and prefix
// isolation (also under a Redis ACL user), its round trips, many clients on
// one prefix, and a server that dies, hangs or restarts. The conformance
// tests it shares with the other engines are in kv_test.cc.
//
// RedisUrlTest needs no server (label unit). RedisKvTest uses the server named by
// SHOAL_TEST_REDIS_URL and skips without it; the tests that kill or stop a
// server start their own redis-server (SHOAL_TEST_REDIS_SERVER, or the one
// on PATH) on a free loopback port. Both are labelled redis.
#include "kv/redis_kv.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/url.h"
#include "kv/kv.h"
#include "kv/redis_testing.h"

namespace shoal::kv {
namespace {

using std::string_literals::operator""s;
using Clock = std::chrono::steady_clock;

RetryPolicy FastRetry() {
  RetryPolicy policy;
  policy.first_backoff = std::chrono::microseconds(10);
  policy.max_backoff = std::chrono::microseconds(2000);
  policy.max_attempts = 400;
  return policy;
}

bool Contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// A TCP port on 127.0.0.1 that nothing listened on a moment ago.
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

struct ReplyDeleter {
  void operator()(redisReply* r) const {
    if (r != nullptr) freeReplyObject(r);
  }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

// A plain client, to set up and inspect the server beside the engine.
class RawRedis {
 public:
  RawRedis(const std::string& host, int port, const std::string& password = "") {
    timeval tv{2, 0};
    ctx_ = redisConnectWithTimeout(host.c_str(), port, tv);
    if (ctx_ != nullptr && ctx_->err == 0) {
      redisSetTimeout(ctx_, tv);
      if (!password.empty()) Command({"AUTH", password});
    }
  }
  // The admin connection to the server of SHOAL_TEST_REDIS_URL.
  static std::unique_ptr<RawRedis> ForTestServer() {
    auto options = testing::TestRedisOptions();
    if (!options) return nullptr;
    return std::make_unique<RawRedis>(options->host, options->port, options->password);
  }
  ~RawRedis() {
    if (ctx_ != nullptr) redisFree(ctx_);
  }
  bool ok() const { return ctx_ != nullptr && ctx_->err == 0; }

  Reply Command(const std::vector<std::string>& args) {
    if (!ok()) return nullptr;
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    return Reply(static_cast<redisReply*>(
        redisCommandArgv(ctx_, static_cast<int>(args.size()), argv.data(), lens.data())));
  }

  // The keys matching `pattern` (KEYS is fine on a test server).
  std::vector<std::string> Keys(const std::string& pattern) {
    std::vector<std::string> out;
    Reply r = Command({"KEYS", pattern});
    if (r && r->type == REDIS_REPLY_ARRAY) {
      for (size_t i = 0; i < r->elements; ++i) {
        out.emplace_back(r->element[i]->str, r->element[i]->len);
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  redisContext* ctx_ = nullptr;
};

// A redis-server child process on a free loopback port, with an append-only
// file fsynced on every write in its own directory, so that it can be
// killed and restarted with its data.
class RedisServer {
 public:
  // The binary, or "" when there is none.
  static std::string Binary() {
    if (const char* bin = std::getenv("SHOAL_TEST_REDIS_SERVER"); bin != nullptr && *bin) {
      return bin;
    }
    const char* path = std::getenv("PATH");
    std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
    size_t start = 0;
    while (start <= dirs.size()) {
      size_t end = dirs.find(':', start);
      if (end == std::string::npos) end = dirs.size();
      std::string candidate = dirs.substr(start, end - start) + "/redis-server";
      if (access(candidate.c_str(), X_OK) == 0) return candidate;
      start = end + 1;
    }
    return "";
  }

  RedisServer() : port_(FreePort()) {
    // Under the test harness's temp dir when there is one, so that a crashed
    // test's server is found and stopped by it.
    const char* root = std::getenv("SHOAL_TEST_TMPDIR");
    std::string pattern = (root != nullptr && *root ? std::filesystem::path(root)
                                                    : std::filesystem::temp_directory_path()) /
                          "shoal-redis-XXXXXX";
    if (mkdtemp(pattern.data()) != nullptr) dir_ = pattern;
  }
  ~RedisServer() {
    Stop();
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  int port() const { return port_; }

  // Starts the server and waits until it answers PING (at most 10 s).
  bool Start() {
    if (dir_.empty() || port_ == 0) return false;
    const std::string bin = Binary();
    std::vector<std::string> args = {bin,
                                     "--port",
                                     std::to_string(port_),
                                     "--bind",
                                     "127.0.0.1",
                                     "--save",
                                     "",
                                     "--appendonly",
                                     "yes",
                                     "--appendfsync",
                                     "always",
                                     "--dir",
                                     dir_,
                                     "--logfile",
                                     dir_ + "/log",
                                     "--daemonize",
                                     "no"};
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ < 0) {
      pid_ = 0;
      return false;
    }
    if (pid_ == 0) {
      // The server dies with the test, even when the test crashes. Only
      // async-signal-safe calls here: the test process has threads.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(1);
      execv(bin.c_str(), argv.data());
      _exit(127);
    }
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline) {
      RawRedis raw("127.0.0.1", port_);
      Reply r = raw.Command({"PING"});
      if (r && r->type == REDIS_REPLY_STATUS) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  void Signal(int sig) {
    if (pid_ > 0) kill(pid_, sig);
  }

  // Kills the server (SIGKILL: no shutdown, no final save) and reaps it.
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = 0;
  }

 private:
  int port_;
  std::string dir_;
  pid_t pid_ = 0;
};

Status PutOne(Engine& engine, const std::string& key, const std::string& value) {
  return engine.Txn([&](Txn& t) {
    t.Put(key, value);
    return OkStatus();
  });
}

Result<std::optional<std::string>> GetOne(Engine& engine, const std::string& key) {
  std::optional<std::string> out;
  Status s = engine.View([&](Txn& t) -> Status {
    ASSIGN_OR_RETURN(out, t.Get(key));
    return OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

std::vector<std::string> ScanKeys(Engine& engine) {
  std::vector<std::string> keys;
  Status s = engine.View([&](Txn& t) {
    keys.clear();
    return t.Scan("", "", 0, true, [&](std::string_view k, std::string_view) {
      keys.emplace_back(k);
      return true;
    });
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return keys;
}

Result<std::shared_ptr<Engine>> OpenUrl(const std::string& url) { return OpenKv(url, false); }

// ---- URLs (no server needed) ----

TEST(RedisUrlTest, OptionsFromUrl) {
  auto url = ParseUrl("redis://app:p%40ss@cache.example:6380/3?prefix=vol-1.a_b&timeout=2.5");
  ASSERT_TRUE(url.has_value());
  auto options = RedisOptionsFromUrl(*url);
  ASSERT_TRUE(options.has_value()) << options.error().ToString();
  EXPECT_EQ(options->host, "cache.example");
  EXPECT_EQ(options->port, 6380);
  EXPECT_EQ(options->db, 3);
  EXPECT_EQ(options->user, "app");
  EXPECT_EQ(options->password, "p@ss");
  EXPECT_EQ(options->prefix, "vol-1.a_b");
  EXPECT_EQ(options->timeout, std::chrono::milliseconds(2500));

  auto defaults = RedisOptionsFromUrl(*ParseUrl("redis://host"));
  ASSERT_TRUE(defaults.has_value());
  EXPECT_EQ(defaults->port, 6379);
  EXPECT_EQ(defaults->db, 0);
  EXPECT_EQ(defaults->prefix, "shoal");
  EXPECT_EQ(defaults->timeout, std::chrono::seconds(10));
  EXPECT_TRUE(defaults->password.empty());

  auto password_only = RedisOptionsFromUrl(*ParseUrl("redis://:pw@host/"));
  ASSERT_TRUE(password_only.has_value());
  EXPECT_EQ(password_only->user, "");
  EXPECT_EQ(password_only->password, "pw");
  EXPECT_EQ(password_only->db, 0);
}

TEST(RedisUrlTest, BadUrlsSayWhatIsWrongAndNeverShowThePassword) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"redis://", "no host"},
      {"redis:///2", "no host"},
      {"redis://:hunter2@host/x", "database number"},
      {"redis://:hunter2@host/1/2", "database number"},
      {"redis://:hunter2@host/-1", "database number"},
      {"redis://user@host", "without a password"},
      {"redis://:hunter2@host?prefix=", "prefix"},
      {"redis://:hunter2@host?prefix=a:b", "prefix"},
      {"redis://:hunter2@host?prefix=a%20b", "prefix"},
      {"redis://:hunter2@host?prefix=" + std::string(65, 'a'), "1 to 64"},
      {"redis://:hunter2@host?timeout=0", "timeout=0"},
      {"redis://:hunter2@host?timeout=abc", "timeout=abc"},
      {"redis://:hunter2@host?timeout=-1", "timeout"},
      {"redis://:hunter2@host?db=1", "unknown option 'db'"},
      {"redis://:hunter2@host:99999", "port"},
  };
  for (const auto& [url, why] : cases) {
    auto engine = OpenUrl(url);
    ASSERT_FALSE(engine.has_value()) << url;
    const std::string& message = engine.error().message();
    EXPECT_EQ(engine.error().code(), Code::kInvalid) << url << ": " << message;
    EXPECT_TRUE(Contains(message, why)) << url << ": " << message;
    EXPECT_TRUE(Contains(message, "redis://[user:password@]host[:port][/db]")) << message;
    EXPECT_FALSE(Contains(message, "hunter2")) << message;
  }
}

TEST(RedisUrlTest, UnreachableServerIsUnavailableAndNamesTheAddress) {
  const int port = FreePort();
  const auto start = Clock::now();
  auto engine = OpenUrl("redis://:hunter2@127.0.0.1:" + std::to_string(port) + "/0");
  ASSERT_FALSE(engine.has_value());
  EXPECT_EQ(engine.error().code(), Code::kUnavailable) << engine.error().ToString();
  const std::string& message = engine.error().message();
  EXPECT_TRUE(Contains(message, "127.0.0.1:" + std::to_string(port))) << message;
  EXPECT_TRUE(Contains(message, "check that Redis runs there")) << message;
  EXPECT_FALSE(Contains(message, "hunter2")) << message;
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5)) << "opening does not retry";
}

// ---- on the test server ----

class RedisKvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string reason = testing::RedisSkipReason();
    if (!reason.empty()) GTEST_SKIP() << reason;
    admin_ = RawRedis::ForTestServer();
    ASSERT_TRUE(admin_ && admin_->ok()) << "cannot reach " << testing::TestRedisUrl();
  }

  // An engine under a fresh prefix (or `prefix`), deleted afterwards.
  std::shared_ptr<RedisEngine> Open(const std::string& prefix = testing::FreshRedisPrefix()) {
    auto options = testing::TestRedisOptions(prefix);
    EXPECT_TRUE(options.has_value());
    if (!options) return nullptr;
    options->retry = FastRetry();
    auto engine = OpenRedis(*options);
    EXPECT_TRUE(engine.has_value()) << engine.error().ToString();
    return engine.value_or(nullptr);
  }

  std::unique_ptr<RawRedis> admin_;
};

TEST_F(RedisKvTest, KeysLiveUnderThePrefixInTheDocumentedLayout) {
  const std::string prefix = testing::FreshRedisPrefix();
  auto engine = Open(prefix);
  ASSERT_NE(engine, nullptr);
  EXPECT_TRUE(Contains(engine->Describe(), "?prefix=" + prefix)) << engine->Describe();
  ASSERT_TRUE(PutOne(*engine, "b", "2").ok());
  ASSERT_TRUE(PutOne(*engine, "a\0x"s, "1").ok());
  EXPECT_EQ(admin_->Keys(prefix + ":[ik]*"),
            (std::vector<std::string>{prefix + ":i", prefix + ":ka\0x"s, prefix + ":kb"}));
  // One commit marker per connection that committed: one here.
  std::vector<std::string> markers = admin_->Keys(prefix + ":c*");
  ASSERT_EQ(markers.size(), 1u);
  EXPECT_EQ(markers[0].size(), prefix.size() + 2 + 16) << markers[0];
  Reply marker = admin_->Command({"GET", markers[0]});
  ASSERT_TRUE(marker && marker->type == REDIS_REPLY_STRING);
  EXPECT_EQ(std::string(marker->str), "2") << "the number of the connection's last commit";
  Reply value = admin_->Command({"GET", prefix + ":ka\0x"s});
  ASSERT_TRUE(value && value->type == REDIS_REPLY_STRING);
  EXPECT_EQ(std::string(value->str, value->len), "1");
  Reply index = admin_->Command({"ZRANGE", prefix + ":i", "0", "-1", "WITHSCORES"});
  ASSERT_TRUE(index && index->type == REDIS_REPLY_ARRAY);
  ASSERT_EQ(index->elements, 4u);
  EXPECT_EQ(std::string(index->element[0]->str, index->element[0]->len), "a\0x"s);
  EXPECT_EQ(std::string(index->element[1]->str), "0");
  EXPECT_EQ(std::string(index->element[2]->str), "b");

  ASSERT_TRUE(engine
                  ->Txn([](Txn& t) {
                    t.Delete("b");
                    return OkStatus();
                  })
                  .ok());
  EXPECT_EQ(admin_->Keys(prefix + ":[ik]*"),
            (std::vector<std::string>{prefix + ":i", prefix + ":ka\0x"s}));
  ASSERT_TRUE(engine->DeleteEverything().ok());
  EXPECT_TRUE(admin_->Keys(prefix + ":*").empty());
}

TEST_F(RedisKvTest, PrefixesAreIsolatedInOneDatabase) {
  const std::string pa = testing::FreshRedisPrefix();
  const std::string pb = testing::FreshRedisPrefix();
  auto a = Open(pa);
  auto b = Open(pb);
  ASSERT_TRUE(a && b);
  // A key of another program in the same database, outside both prefixes.
  const std::string foreign = pa + "-foreign";
  ASSERT_TRUE(admin_->Command({"SET", foreign, "theirs"}));
  ASSERT_TRUE(PutOne(*a, "shared-name", "from a").ok());
  ASSERT_TRUE(PutOne(*a, "only-a", "1").ok());
  ASSERT_TRUE(PutOne(*b, "shared-name", "from b").ok());
  EXPECT_EQ(GetOne(*a, "shared-name"), "from a");
  EXPECT_EQ(GetOne(*b, "shared-name"), "from b");
  EXPECT_EQ(GetOne(*b, "only-a"), std::nullopt);
  EXPECT_EQ(ScanKeys(*a), (std::vector<std::string>{"only-a", "shared-name"}));
  EXPECT_EQ(ScanKeys(*b), (std::vector<std::string>{"shared-name"}));

  ASSERT_TRUE(a->DeleteEverything().ok());
  EXPECT_TRUE(ScanKeys(*a).empty());
  EXPECT_EQ(GetOne(*b, "shared-name"), "from b");
  Reply kept = admin_->Command({"GET", foreign});
  ASSERT_TRUE(kept && kept->type == REDIS_REPLY_STRING);
  EXPECT_EQ(std::string(kept->str), "theirs");
  admin_->Command({"DEL", foreign});
}

// The round trips of typical transactions, as redis_kv.h states them.
TEST_F(RedisKvTest, RoundTripsPerTransaction) {
  const std::string prefix = testing::FreshRedisPrefix();
  auto engine = Open(prefix);
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(PutOne(*engine, "x", "0").ok());  // the pool now holds a connection
  auto count = [&](const std::function<Status()>& op) {
    const uint64_t before = engine->RoundTrips();
    Status s = op();
    EXPECT_TRUE(s.ok()) << s.ToString();
    return engine->RoundTrips() - before;
  };
  auto three_gets_three_puts = [&] {
    return engine->Txn([](Txn& t) -> Status {
      for (const char* k : {"a", "b", "c"}) {
        ASSIGN_OR_RETURN(auto v, t.Get(k));
        t.Put(k, v.value_or("") + "1");
      }
      return OkStatus();
    });
  };
  EXPECT_EQ(count(three_gets_three_puts), 4u);
  EXPECT_EQ(count([&] {
              return engine->Txn([](Txn& t) -> Status {
                ASSIGN_OR_RETURN(auto v, t.BatchGet({"a", "b", "c"}));
                for (const char* k : {"a", "b", "c"}) t.Put(k, "2");
                return OkStatus();
              });
            }),
            2u);
  EXPECT_EQ(count([&] { return PutOne(*engine, "blind", "1"); }), 1u);
  EXPECT_EQ(count([&] { return GetOne(*engine, "a").has_value() ? OkStatus() : Internal("x"); }),
            1u);
  // That View left "a" WATCHed on its connection. Another client changes
  // "a"; a blind write on the same connection must not conflict (the stale
  // WATCH is dropped in its round trip), which would cost a second one.
  ASSERT_TRUE(admin_->Command({"SET", prefix + ":ka", "changed"}));
  EXPECT_EQ(count([&] { return PutOne(*engine, "blind", "2"); }), 1u);
  EXPECT_EQ(count([&] {
              return engine->View([](Txn& t) -> Status {
                ASSIGN_OR_RETURN(auto a, t.Get("a"));
                ASSIGN_OR_RETURN(auto b, t.Get("b"));
                return OkStatus();
              });
            }),
            2u)
      << "a read-only transaction needs no validation at commit";
  EXPECT_EQ(count([&] {
              return engine->View(
                  [](Txn& t) { return t.Scan("", "", 0, false, [](auto, auto) { return true; }); });
            }),
            1u);
  // A reused connection that still watches keys costs no extra round trip.
  EXPECT_EQ(count(three_gets_three_puts), 4u);
}

// Two clients (two engines, two pools) on one prefix, four threads each,
// incrementing one counter: conflicts are retried and no update is lost.
TEST_F(RedisKvTest, TwoEnginesOnOnePrefixLoseNoUpdate) {
  const std::string prefix = testing::FreshRedisPrefix();
  auto first = Open(prefix);
  auto options = testing::TestRedisOptions(prefix);
  ASSERT_TRUE(options.has_value());
  options->retry = FastRetry();
  options->delete_everything_on_close = false;  // the first engine cleans up
  auto second = OpenRedis(*options);
  ASSERT_TRUE(first && second.has_value());
  constexpr int kThreadsPerEngine = 4;
  constexpr int kIncrements = 25;
  std::atomic<int> attempts{0};
  std::vector<std::thread> threads;
  for (Engine* engine : {static_cast<Engine*>(first.get()), static_cast<Engine*>(second->get())}) {
    for (int i = 0; i < kThreadsPerEngine; ++i) {
      threads.emplace_back([&, engine] {
        for (int j = 0; j < kIncrements; ++j) {
          Status s = engine->Txn([&](Txn& t) -> Status {
            ++attempts;
            ASSIGN_OR_RETURN(auto v, t.Get("counter"));
            t.Put("counter", std::to_string(v ? std::stoi(*v) + 1 : 1));
            return OkStatus();
          });
          EXPECT_TRUE(s.ok()) << s.ToString();
        }
      });
    }
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(GetOne(*first, "counter"), std::to_string(2 * kThreadsPerEngine * kIncrements));
  EXPECT_EQ(GetOne(**second, "counter"), std::to_string(2 * kThreadsPerEngine * kIncrements));
  EXPECT_GT(attempts.load(), 2 * kThreadsPerEngine * kIncrements) << "no conflict happened";
}

// Many clients keep a total by deltas, as meta/ keeps usage counters: each
// transaction reads some keys (Get, BatchGet, or a scan followed by Gets),
// changes them, and the client adds the change to its own running sum once
// the commit succeeded. The sums agree with the stored values only if no
// commit acted on a stale read.
TEST_F(RedisKvTest, DeltasAgreeWithStoredValuesUnderContention) {
  const std::string prefix = testing::FreshRedisPrefix();
  auto first = Open(prefix);
  auto options = testing::TestRedisOptions(prefix);
  ASSERT_TRUE(options.has_value());
  options->retry = FastRetry();
  options->delete_everything_on_close = false;
  auto second = OpenRedis(*options);
  ASSERT_TRUE(first && second.has_value());
  constexpr int kFiles = 6;
  auto file = [](int i) { return "f/" + std::to_string(i); };
  std::atomic<int64_t> total{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    Engine* engine = t % 2 == 0 ? static_cast<Engine*>(first.get()) : second->get();
    threads.emplace_back([&, engine, t] {
      std::mt19937 rng(t);
      for (int n = 0; n < 150; ++n) {
        int64_t delta = 0;
        const int op = static_cast<int>(rng() % 4);
        const int a = static_cast<int>(rng() % kFiles);
        const int b = static_cast<int>(rng() % kFiles);
        const int64_t grow = 1 + static_cast<int64_t>(rng() % 50);
        Status s = engine->Txn([&](Txn& txn) -> Status {
          delta = 0;
          if (op == 0) {  // create or grow one file
            ASSIGN_OR_RETURN(auto v, txn.Get(file(a)));
            int64_t len = v ? std::stoll(*v) : 0;
            txn.Put(file(a), std::to_string(len + grow));
            delta = grow;
          } else if (op == 1) {  // move a's length onto b, replacing b
            ASSIGN_OR_RETURN(auto got, txn.BatchGet({file(a), file(b)}));
            if (a == b || !got[0]) return OkStatus();
            delta = -(got[1] ? std::stoll(*got[1]) : 0);
            txn.Put(file(b), *got[0]);
            txn.Delete(file(a));
          } else if (op == 2) {  // truncate one file
            ASSIGN_OR_RETURN(auto v, txn.Get(file(a)));
            if (!v) return OkStatus();
            delta = -std::stoll(*v);
            txn.Put(file(a), "0");
          } else {  // delete every file found by a scan, reading each first
            std::vector<std::string> keys;
            RETURN_IF_ERROR(txn.Scan("f/", PrefixEnd("f/"), 0, true, [&](auto k, auto) {
              keys.emplace_back(k);
              return true;
            }));
            for (const auto& k : keys) {
              ASSIGN_OR_RETURN(auto v, txn.Get(k));
              if (!v) continue;
              delta -= std::stoll(*v);
              txn.Delete(k);
            }
          }
          return OkStatus();
        });
        ASSERT_TRUE(s.ok()) << s.ToString();
        total += delta;
      }
    });
  }
  for (auto& t : threads) t.join();
  int64_t stored = 0;
  Status s = first->View([&](Txn& txn) {
    stored = 0;
    return txn.Scan("f/", PrefixEnd("f/"), 0, false, [&](auto, std::string_view v) {
      stored += std::stoll(std::string(v));
      return true;
    });
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(stored, total.load());
}

// A transaction that scanned and then reads again sees one state: a scanned
// key changed in between makes the read conflict and the function run again.
TEST_F(RedisKvTest, ReadAfterScanSeesOneState) {
  auto engine = Open();
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(PutOne(*engine, "d/a", "1").ok());
  ASSERT_TRUE(PutOne(*engine, "guard", "1").ok());
  int runs = 0;
  Status s = engine->View([&](Txn& t) -> Status {
    ++runs;
    std::string scanned;
    RETURN_IF_ERROR(t.Scan("d/", PrefixEnd("d/"), 0, false, [&](auto, std::string_view v) {
      scanned = v;
      return true;
    }));
    if (runs == 1) {
      EXPECT_TRUE(engine
                      ->Txn([](Txn& w) {
                        w.Put("d/a", "2");
                        w.Put("guard", "2");
                        return OkStatus();
                      })
                      .ok());
    }
    ASSIGN_OR_RETURN(auto guard, t.Get("guard"));
    EXPECT_EQ(guard, scanned) << "run " << runs;
    return OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(runs, 2);
}

// Scripts are loaded again when the server forgot them.
TEST_F(RedisKvTest, ScansSurviveAScriptFlush) {
  auto engine = Open();
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(PutOne(*engine, "k", "v").ok());
  Reply flushed = admin_->Command({"SCRIPT", "FLUSH"});
  ASSERT_TRUE(flushed && flushed->type == REDIS_REPLY_STATUS);
  EXPECT_EQ(ScanKeys(*engine), (std::vector<std::string>{"k"}));
}

TEST_F(RedisKvTest, ForeignIndexKeyIsRefused) {
  const std::string prefix = testing::FreshRedisPrefix();
  ASSERT_TRUE(admin_->Command({"SET", prefix + ":i", "not an index"}));
  auto options = testing::TestRedisOptions(prefix);
  ASSERT_TRUE(options.has_value());
  options->delete_everything_on_close = false;
  auto engine = OpenRedis(*options);
  admin_->Command({"DEL", prefix + ":i"});
  ASSERT_FALSE(engine.has_value());
  EXPECT_EQ(engine.error().code(), Code::kInvalid) << engine.error().ToString();
  EXPECT_TRUE(Contains(engine.error().message(), "another program")) << engine.error().message();
}

TEST_F(RedisKvTest, MissingDatabaseIsInvalid) {
  auto options = testing::TestRedisOptions();
  ASSERT_TRUE(options.has_value());
  options->db = 100000;
  auto engine = OpenRedis(*options);
  ASSERT_FALSE(engine.has_value());
  EXPECT_EQ(engine.error().code(), Code::kInvalid) << engine.error().ToString();
  EXPECT_TRUE(Contains(engine.error().message(), "100000")) << engine.error().message();
}

// A Redis ACL user limited to one prefix: the engine works under that prefix
// and is refused, with a clear message, under any other. A wrong password is
// refused as well, and no message shows the password.
TEST_F(RedisKvTest, AclUserIsConfinedToItsPrefix) {
  const std::string prefix = testing::FreshRedisPrefix();
  const std::string user = "u" + prefix;
  const std::string password = "pw-" + prefix;
  Reply made = admin_->Command({"ACL",
                                "SETUSER",
                                user,
                                "reset",
                                "on",
                                ">" + password,
                                "~" + prefix + ":*",
                                "-@all",
                                "+get",
                                "+mget",
                                "+set",
                                "+del",
                                "+type",
                                "+zadd",
                                "+zrem",
                                "+zrangebylex",
                                "+watch",
                                "+unwatch",
                                "+multi",
                                "+exec",
                                "+evalsha",
                                "+script|load",
                                "+client|info"});
  if (!made || made->type != REDIS_REPLY_STATUS) {
    GTEST_SKIP() << "the test server does not let this test create an ACL user: "
                 << (made ? std::string(made->str ? made->str : "") : "no reply");
  }
  struct DeleteUser {
    RawRedis* admin;
    std::string user;
    ~DeleteUser() { admin->Command({"ACL", "DELUSER", user}); }
  } delete_user{admin_.get(), user};

  auto base = testing::TestRedisOptions(prefix);
  ASSERT_TRUE(base.has_value());
  base->user = user;
  base->password = password;
  base->retry = FastRetry();

  // (1) Its own prefix: everything works, scans (Lua scripts) included.
  {
    auto engine = OpenRedis(*base);
    ASSERT_TRUE(engine.has_value()) << engine.error().ToString();
    EXPECT_FALSE(Contains((*engine)->Describe(), password)) << (*engine)->Describe();
    EXPECT_TRUE(Contains((*engine)->Describe(), user + ":***@")) << (*engine)->Describe();
    Status s = (*engine)->Txn([](Txn& t) -> Status {
      ASSIGN_OR_RETURN(auto v, t.Get("k1"));
      t.Put("k1", "v1");
      t.Put("k2", "v2");
      t.Delete("k3");
      return OkStatus();
    });
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(ScanKeys(**engine), (std::vector<std::string>{"k1", "k2"}));
    Status read = (*engine)->View([](Txn& t) -> Status {
      ASSIGN_OR_RETURN(auto got, t.BatchGet({"k1", "k2"}));
      RETURN_IF_ERROR(t.Scan("", "", 0, false, [](auto, auto) { return true; }));
      ASSIGN_OR_RETURN(auto again, t.Get("k2"));  // verifies the scanned keys
      return OkStatus();
    });
    EXPECT_TRUE(read.ok()) << read.ToString();
    // The engine deletes its keys on close as this user.
  }
  EXPECT_TRUE(admin_->Keys(prefix + ":*").empty());

  // (2) Another prefix: refused at open, saying why.
  RedisOptions other = *base;
  other.prefix = testing::FreshRedisPrefix();
  auto refused = OpenRedis(other);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), Code::kAccess) << refused.error().ToString();
  const std::string& why = refused.error().message();
  EXPECT_TRUE(Contains(why, "NOPERM")) << why;
  EXPECT_TRUE(Contains(why, "~" + other.prefix + ":*")) << why;
  EXPECT_FALSE(Contains(why, password)) << why;
  EXPECT_TRUE(admin_->Keys(other.prefix + ":*").empty());

  // (3) A wrong password, through a URL.
  auto url = ParseUrl(testing::TestRedisUrl());
  ASSERT_TRUE(url.has_value());
  const std::string bad_url = "redis://" + user + ":wrong-" + password + "@" + url->host + ":" +
                              std::to_string(url->port == 0 ? 6379 : url->port) +
                              "/?prefix=" + prefix;
  auto wrong = OpenUrl(bad_url);
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code(), Code::kAccess) << wrong.error().ToString();
  EXPECT_TRUE(Contains(wrong.error().message(), "authentication failed"))
      << wrong.error().message();
  EXPECT_TRUE(Contains(wrong.error().message(), "redis://" + user + ":***@"))
      << wrong.error().message();
  EXPECT_FALSE(Contains(wrong.error().message(), password)) << wrong.error().message();
}

// ---- a server of the test's own, killed, stopped and restarted ----

class RedisServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (RedisServer::Binary().empty()) {
      GTEST_SKIP() << "no redis-server: set SHOAL_TEST_REDIS_SERVER or put it on PATH";
    }
    server_ = std::make_unique<RedisServer>();
    ASSERT_TRUE(server_->Start()) << "redis-server did not start on port " << server_->port();
  }

  std::shared_ptr<RedisEngine> OpenOwn(std::chrono::milliseconds timeout) {
    auto engine = OpenWith(timeout, "");
    EXPECT_TRUE(engine.has_value()) << engine.error().ToString();
    return engine.value_or(nullptr);
  }

  Result<std::shared_ptr<RedisEngine>> OpenWith(std::chrono::milliseconds timeout,
                                                const std::string& password) {
    RedisOptions options;
    options.password = password;
    options.host = "127.0.0.1";
    options.port = server_->port();
    options.prefix = "restart";
    options.timeout = timeout;
    options.retry = FastRetry();
    return OpenRedis(options);
  }

  std::unique_ptr<RedisServer> server_;
};

Status Increment(Engine& engine) {
  return engine.Txn([&](Txn& t) -> Status {
    ASSIGN_OR_RETURN(auto v, t.Get("n"));
    t.Put("n", std::to_string(v ? std::stoi(*v) + 1 : 1));
    return OkStatus();
  });
}

TEST_F(RedisServerTest, ServerDownIsUnavailableThenRecovers) {
  auto engine = OpenOwn(std::chrono::milliseconds(1000));
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(PutOne(*engine, "k", "1").ok());

  server_->Stop();
  const std::string where = "127.0.0.1:" + std::to_string(server_->port());
  auto start = Clock::now();
  Status down = PutOne(*engine, "k", "2");
  EXPECT_EQ(down.code(), Code::kUnavailable) << down.ToString();
  EXPECT_TRUE(Contains(down.message(), where)) << down.message();
  EXPECT_TRUE(Contains(down.message(), "unreachable")) << down.message();
  auto read = GetOne(*engine, "k");
  ASSERT_FALSE(read.has_value());
  EXPECT_EQ(read.error().code(), Code::kUnavailable);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(8)) << "each call gives up after ~1 s";

  ASSERT_TRUE(server_->Start());
  EXPECT_EQ(GetOne(*engine, "k"), "1") << "the acknowledged write survived the restart";
  EXPECT_TRUE(PutOne(*engine, "k", "3").ok());
  EXPECT_EQ(GetOne(*engine, "k"), "3");
  EXPECT_EQ(ScanKeys(*engine), (std::vector<std::string>{"k"}));
}

// Increments keep running while the server is killed and restarted: each
// succeeds, retried transparently across the outage; a commit whose reply
// was lost is looked up once the server is back, so none is lost or applied
// twice and none is reported as of unknown outcome.
TEST_F(RedisServerTest, RestartMidwayLosesNothingAcknowledged) {
  auto engine = OpenOwn(std::chrono::milliseconds(3000));
  ASSERT_NE(engine, nullptr);
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::atomic<int> unknown{0};
  std::atomic<int> unavailable{0};
  std::atomic<int> other{0};
  std::vector<std::thread> threads;
  threads.reserve(2);
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&] {
      while (!stop.load()) {
        Status s = Increment(*engine);
        if (s.ok()) {
          ++ok;
        } else if (s.code() == Code::kUnavailable && Contains(s.message(), "may or may not")) {
          ++unknown;
        } else if (s.code() == Code::kUnavailable) {
          ++unavailable;
        } else {
          ++other;
          ADD_FAILURE() << s.ToString();
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  const int before_kill = ok.load();
  server_->Stop();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(server_->Start());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const int at_restart = ok.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  stop = true;
  for (auto& t : threads) t.join();

  EXPECT_GT(before_kill, 0);
  EXPECT_GT(ok.load(), at_restart) << "increments succeed again after the restart";
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(unknown.load(), 0) << "the server came back well within the timeout";
  EXPECT_EQ(unavailable.load(), 0);
  auto n = GetOne(*engine, "n");
  ASSERT_TRUE(n.has_value() && n->has_value()) << (n ? "absent" : n.error().ToString());
  const int value = std::stoi(n.value().value());
  EXPECT_EQ(value, ok.load());
  std::cout << "[          ] ok=" << ok << " unknown outcome=" << unknown
            << " unavailable=" << unavailable << " counter=" << value << "\n";
}

// A server that accepts connections but never answers (stopped with
// SIGSTOP) makes calls fail after the timeout instead of hanging.
TEST_F(RedisServerTest, HungServerTimesOut) {
  auto engine = OpenOwn(std::chrono::milliseconds(500));
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(PutOne(*engine, "k", "1").ok());
  server_->Signal(SIGSTOP);
  const auto start = Clock::now();
  auto read = GetOne(*engine, "k");
  const auto took = Clock::now() - start;
  server_->Signal(SIGCONT);
  ASSERT_FALSE(read.has_value());
  EXPECT_EQ(read.error().code(), Code::kUnavailable) << read.error().ToString();
  EXPECT_LT(took, std::chrono::seconds(5));
  EXPECT_EQ(GetOne(*engine, "k"), "1") << "works again once the server answers";
}

// The server stops answering after it received a commit: the reply is lost
// and the connection given up. Once the server answers again, the engine
// finds out whether that commit was applied: the transaction then succeeds,
// and its write is applied exactly once.
TEST_F(RedisServerTest, CommitWhoseReplyWasLostIsResolved) {
  auto engine = OpenOwn(std::chrono::milliseconds(1500));
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(PutOne(*engine, "n", "10").ok());
  std::thread resume;
  int runs = 0;
  Status s = engine->Txn([&](Txn& t) -> Status {
    ++runs;
    ASSIGN_OR_RETURN(auto v, t.Get("n"));
    if (runs == 1) {
      // The commit goes to a stopped server: no reply before the timeout.
      server_->Signal(SIGSTOP);
      resume = std::thread([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(2500));
        server_->Signal(SIGCONT);
      });
    }
    t.Put("n", std::to_string(std::stoi(v.value()) + 1));
    return OkStatus();
  });
  if (resume.joinable()) resume.join();
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(GetOne(*engine, "n"), "11");
  EXPECT_LE(runs, 2);
}

TEST_F(RedisServerTest, PasswordIsRequiredAndChecked) {
  RawRedis admin("127.0.0.1", server_->port());
  Reply set = admin.Command({"CONFIG", "SET", "requirepass", "s3cret-pw"});
  ASSERT_TRUE(set && set->type == REDIS_REPLY_STATUS);
  const auto timeout = std::chrono::milliseconds(500);
  for (const std::string password : {"", "not-it"}) {
    auto engine = OpenWith(timeout, password);
    ASSERT_FALSE(engine.has_value()) << "password '" << password << "'";
    EXPECT_EQ(engine.error().code(), Code::kAccess) << engine.error().ToString();
    EXPECT_TRUE(Contains(engine.error().message(), "authentication failed"))
        << engine.error().message();
    EXPECT_FALSE(Contains(engine.error().message(), "s3cret")) << engine.error().message();
  }
  auto engine = OpenWith(timeout, "s3cret-pw");
  ASSERT_TRUE(engine.has_value()) << engine.error().ToString();
  EXPECT_TRUE(Contains((*engine)->Describe(), ":***@")) << (*engine)->Describe();
  EXPECT_TRUE(PutOne(**engine, "k", "v").ok());
  EXPECT_EQ(GetOne(**engine, "k"), "v");
}

// The server closes the connection of a running transaction; its large
// commit then writes into a connection that the server has reset, which
// fails with EPIPE: that must not kill the process with SIGPIPE, and since
// EXEC was not sent, the transaction runs again on a new connection.
TEST_F(RedisServerTest, ConnectionClosedWhileWritingIsRetriedNotASignal) {
  auto engine = OpenOwn(std::chrono::milliseconds(2000));
  ASSERT_NE(engine, nullptr);
  RawRedis admin("127.0.0.1", server_->port());
  const std::string huge(32 << 20, 'x');
  int runs = 0;
  Status s = engine->Txn([&](Txn& t) -> Status {
    ++runs;
    ASSIGN_OR_RETURN(auto v, t.Get("k"));
    if (runs == 1) {
      Reply killed = admin.Command({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});
      EXPECT_TRUE(killed && killed->type == REDIS_REPLY_INTEGER && killed->integer >= 1);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the FIN arrive
    }
    t.Put("huge", huge);
    return OkStatus();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(runs, 2);
  auto got = GetOne(*engine, "huge");
  ASSERT_TRUE(got.has_value() && got->has_value());
  EXPECT_EQ(got.value().value().size(), huge.size());
}

}  // namespace
}  // namespace shoal::kv
