#include "kv/redis_kv.h"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace shoal::kv {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Keys per call of the scan script: large enough that listing a big directory
// takes few round trips, small enough that one reply stays well under a
// megabyte for metadata-sized values.
constexpr size_t kScanPage = 512;
// A read-only transaction reads batches larger than this without WATCH (see
// RedisTxn::BatchGet).
constexpr size_t kMaxWatchedBatch = 256;
// Upper bound on the connect and per-command timeout, so that a hung server
// is noticed soon even when the URL allows a long outage.
constexpr milliseconds kMaxIoTimeout{5'000};
// Idle connections kept for reuse; more are closed when returned. Each
// thread in a transaction holds one; FUSE runs a bounded number of threads.
constexpr size_t kMaxIdleConnections = 32;
// Delays between attempts to reach a server that went away.
constexpr milliseconds kFirstReconnectDelay{20};
constexpr milliseconds kMaxReconnectDelay{500};

// How long a connection's commit marker outlives its last commit, beyond
// the URL's timeout: an unknown outcome is looked up within the timeout
// after the failure, which comes at most one I/O timeout after the commit.
constexpr int64_t kMarkerSlackSeconds = 60;
// How long a fenced marker stops a late commit of a lost connection: a
// server that holds the connection's unread bytes longer (stopped for a
// day) could apply it after all.
constexpr int64_t kFencedMarkerSeconds = 7 * 86'400;
constexpr std::string_view kFenced = "fenced";

constexpr std::string_view kNeededCommands =
    "get mget set del type zadd zrem zrangebylex watch unwatch multi exec evalsha "
    "script|load client|info (and select for a db other than 0)";

// Both scripts encode a list of values as "len:value" (or "-" when absent)
// joined by ',', which is unambiguous, and compare SHA-1 digests of that.
//
// Scan: KEYS[1] = the index; ARGV = min, max (ZRANGEBYLEX syntax), count,
// the value-key prefix, "1" for keys only. Returns {keys, values, digest},
// values empty when keys only. Keys and values are read in one atomic step.
constexpr std::string_view kScanScript = R"lua(
local keys = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local values = {}
local parts = {}
if #keys > 0 then
  local vkeys = {}
  for i = 1, #keys do vkeys[i] = ARGV[4] .. keys[i] end
  values = redis.call('MGET', unpack(vkeys))
  for i = 1, #values do
    local v = values[i]
    if v then parts[i] = #v .. ':' .. v else parts[i] = '-' end
  end
end
local digest = redis.sha1hex(table.concat(parts, ','))
if ARGV[5] == '1' then values = {} end
return {keys, values, digest}
)lua";

// Verify: KEYS = value keys (at least one); ARGV[1] = the digest the scan
// script gave for them. Returns 1 when their values are still the same.
constexpr std::string_view kVerifyScript = R"lua(
local values = redis.call('MGET', unpack(KEYS))
local parts = {}
for i = 1, #values do
  local v = values[i]
  if v then parts[i] = #v .. ':' .. v else parts[i] = '-' end
end
if redis.sha1hex(table.concat(parts, ',')) == ARGV[1] then return 1 end
return 0
)lua";

// Commit, run inside MULTI/EXEC (so the WATCHes of the reads apply):
// KEYS[1] = the index, KEYS[2] = the connection's commit marker; ARGV = the
// commit's number on the connection, the marker's lifetime in seconds, the
// value-key prefix, the number P of puts, then P key/value pairs, then the
// deleted keys. Does nothing and returns 0 when the marker was fenced (see
// ResolveUnknownOutcome); else applies the writes, sets the marker to the
// commit's number and returns 1.
constexpr std::string_view kCommitScript = R"lua(
if redis.call('GET', KEYS[2]) == 'fenced' then return 0 end
local prefix = ARGV[3]
local i = 5
for _ = 1, tonumber(ARGV[4]) do
  redis.call('SET', prefix .. ARGV[i], ARGV[i + 1])
  redis.call('ZADD', KEYS[1], 0, ARGV[i])
  i = i + 2
end
while i <= #ARGV do
  redis.call('DEL', prefix .. ARGV[i])
  redis.call('ZREM', KEYS[1], ARGV[i])
  i = i + 1
end
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
return 1
)lua";

}  // namespace

// Types that RedisEngine::Impl holds: not in the anonymous namespace, since
// Impl has external linkage.
namespace redis_detail {

struct ReplyDeleter {
  void operator()(redisReply* r) const {
    if (r != nullptr) freeReplyObject(r);
  }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;
using Replies = std::vector<ReplyPtr>;

// One command: views into strings that outlive the exchange.
using Args = std::vector<std::string_view>;

}  // namespace redis_detail

namespace {

using redis_detail::Args;
using redis_detail::Replies;
using redis_detail::ReplyPtr;

std::string_view Text(const redisReply* r) { return std::string_view(r->str, r->len); }

const char* TypeName(int type) {
  switch (type) {
    case REDIS_REPLY_STRING:
      return "a string";
    case REDIS_REPLY_ARRAY:
      return "an array";
    case REDIS_REPLY_INTEGER:
      return "an integer";
    case REDIS_REPLY_NIL:
      return "nil";
    case REDIS_REPLY_STATUS:
      return "a status";
    case REDIS_REPLY_ERROR:
      return "an error";
    default:
      return "an unknown type";
  }
}

// Keys are binary: printable ASCII as is, other bytes as \xNN.
std::string Printable(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (char ch : bytes.substr(0, 200)) {
    auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += ch;
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (bytes.size() > 200) out += "...";
  return out;
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

std::string Seconds(milliseconds d) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%g s", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

timeval ToTimeval(milliseconds d) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(d.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((d.count() % 1000) * 1000);
  return tv;
}

// Whether the CLIENT INFO line says that a WATCHed key changed ('d' flag).
Result<bool> WatchedKeyChanged(std::string_view info) {
  size_t at = info.find("flags=");
  while (at != std::string_view::npos && at != 0 && info[at - 1] != ' ') {
    at = info.find("flags=", at + 1);
  }
  if (at == std::string_view::npos) {
    return Internal("CLIENT INFO reply has no flags field: " + Printable(info));
  }
  std::string_view flags = info.substr(at + 6);
  flags = flags.substr(0, flags.find_first_of(" \n"));
  return flags.find('d') != std::string_view::npos;
}

// hiredis writes with write(2): writing to a connection that the server has
// reset raises SIGPIPE, whose default action kills the process. While alive,
// this blocks SIGPIPE in the calling thread, and at its end discards one that
// the writes raised (unless one was already pending before), so that the
// failure shows only as EPIPE.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    was_pending_ = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
    blocked_ = pthread_sigmask(SIG_BLOCK, &pipe_, &old_) == 0;
  }
  ~SigpipeGuard() {
    if (!blocked_) return;
    sigset_t pending;
    sigemptyset(&pending);
    if (!was_pending_ && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
      const timespec zero{};
      while (sigtimedwait(&pipe_, nullptr, &zero) < 0 && errno == EINTR) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t pipe_;
  sigset_t old_;
  bool was_pending_ = false;
  bool blocked_ = false;
};

}  // namespace

namespace redis_detail {

// A connection to the server. Not thread-safe: one transaction at a time.
class Conn {
 public:
  Conn(redisContext* ctx, std::string marker) : marker(std::move(marker)), ctx_(ctx) {}
  ~Conn() { redisFree(ctx_); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // Sends every command, then reads one reply per command. On an I/O failure
  // (the connection is then broken) returns the failure's text, and
  // *all_sent tells whether every command was written to the socket.
  std::optional<std::string> Exchange(const std::vector<Args>& commands, Replies* replies,
                                      bool* all_sent) {
    *all_sent = false;
    replies->clear();
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const Args& args : commands) {
      argv.clear();
      lens.clear();
      for (std::string_view a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
      }
      if (redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()) !=
          REDIS_OK) {
        return Broken();
      }
    }
    {
      SigpipeGuard guard;
      int done = 0;
      while (done == 0) {
        if (redisBufferWrite(ctx_, &done) != REDIS_OK) return Broken();
      }
    }
    *all_sent = true;
    replies->reserve(commands.size());
    for (size_t i = 0; i < commands.size(); ++i) {
      void* reply = nullptr;
      if (redisGetReply(ctx_, &reply) != REDIS_OK || reply == nullptr) return Broken();
      replies->emplace_back(static_cast<redisReply*>(reply));
    }
    return std::nullopt;
  }

  // False when the server closed the connection while it sat idle (a
  // restart, an idle timeout): then the socket is readable. Checked before
  // reuse so that a commit is not sent into a dead socket, which would make
  // its outcome look unknown.
  bool LooksAlive() const {
    if (broken_ || ctx_->err != 0) return false;
    pollfd p{};
    p.fd = ctx_->fd;
    p.events = POLLIN;
    int n = poll(&p, 1, 0);
    if (n == 0) return true;
    // An idle connection has no reply pending: readable means end of file,
    // an error, or data out of step with the protocol. None is usable.
    return false;
  }

  bool broken() const { return broken_; }
  // Keys WATCHed by a finished transaction are still watched: the next
  // transaction must send UNWATCH first.
  bool stale_watches = false;
  // This connection's commit marker key, and the number of its last commit.
  const std::string marker;
  uint64_t commits = 0;
  // The marker may hold a commit's number (deleted when the connection
  // closes cleanly).
  bool marked = false;

 private:
  std::string Broken() {
    broken_ = true;
    std::string text = ctx_->errstr[0] != '\0' ? ctx_->errstr : "connection failed";
    if (ctx_->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      text = "no reply before the timeout";
    } else if (ctx_->err == REDIS_ERR_EOF) {
      text = "the server closed the connection";
    }
    return text;
  }

  redisContext* ctx_;
  bool broken_ = false;
};

}  // namespace redis_detail

using redis_detail::Conn;

// ---------------------------------------------------------------------------

class RedisEngine::Impl {
 public:
  explicit Impl(const RedisOptions& o)
      : options(o),
        server((o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host) + ":" +
               std::to_string(o.port)),
        index_key(o.prefix + ":i"),
        value_prefix(o.prefix + ":k"),
        io_timeout(std::clamp(o.timeout, milliseconds(1), kMaxIoTimeout)) {
    describe = "redis://";
    if (!o.user.empty() || !o.password.empty()) {
      describe += o.user;
      if (!o.password.empty()) describe += ":***";
      describe += "@";
    }
    describe += server + "/" + std::to_string(o.db) + "?prefix=" + o.prefix;
  }

  ~Impl() {
    if (options.delete_everything_on_close) {
      (void)DeleteEverything();
    } else {
      DeleteIdleMarkers();
    }
  }

  // How an attempt failed, beyond its Status.
  enum class Failure {
    kNone,
    kRetry,           // before EXEC: run the function again on a new connection
    kUnknownOutcome,  // after EXEC was sent: report, do not retry
  };

  std::string ValueKey(std::string_view key) const {
    std::string out;
    out.reserve(value_prefix.size() + key.size());
    out += value_prefix;
    out += key;
    return out;
  }

  // Sends and reads one batch of commands (one round trip). On an I/O
  // failure returns kUnavailable and sets *failure (kRetry when the batch
  // was not completely written, or when `idempotent`).
  Result<Replies> Exchange(Conn& conn, const std::vector<Args>& commands, bool idempotent,
                           Failure* failure) {
    round_trips.fetch_add(1, std::memory_order_relaxed);
    Replies replies;
    bool all_sent = false;
    std::optional<std::string> io_error = conn.Exchange(commands, &replies, &all_sent);
    if (!io_error) return replies;
    if (all_sent && !idempotent) {
      *failure = Failure::kUnknownOutcome;
      return Unavailable("lost the connection to redis at " + server + " (" + *io_error +
                         ") after sending a commit to " + describe +
                         ": it may or may not have been applied");
    }
    *failure = Failure::kRetry;
    return Unavailable("lost the connection to redis at " + server + " (" + *io_error + ")");
  }

  // The Status for an error reply to `command`. *transient is set when the
  // server is only briefly unable to serve (the attempt is then retried).
  Status ErrorStatus(std::string_view command, std::string_view message, bool* transient) const {
    *transient = false;
    const std::string what =
        Upper(command) + " (Redis said: " + std::string(message.substr(0, 500)) + ")";
    auto starts = [&](std::string_view word) { return message.starts_with(word); };
    // NOPERM anywhere (a script reports its context first), or the words of
    // an ACL refusal inside a script.
    if (message.find("NOPERM") != std::string_view::npos ||
        message.find("can't run this command") != std::string_view::npos ||
        message.find("no permissions to access") != std::string_view::npos) {
      return AccessDenied("redis at " + server + " refused " + what + ": the Redis user of " +
                          describe + " lacks a permission; it needs the key pattern ~" +
                          options.prefix + ":* and the commands " + std::string(kNeededCommands));
    }
    if (starts("WRONGPASS") || starts("NOAUTH")) {
      return AccessDenied("authentication failed for " + describe + ": " + what +
                          "; check the user name and password in the URL");
    }
    if (starts("OOM")) {
      return Status(Code::kNoSpace, "redis at " + server + " is out of memory and refused " + what +
                                        ": raise its maxmemory or free space");
    }
    if (starts("READONLY")) {
      return Unavailable("redis at " + server + " is a read-only replica and refused " + what +
                         ": point the URL at the primary");
    }
    if (starts("LOADING") || starts("BUSY") || starts("MASTERDOWN") || starts("TRYAGAIN") ||
        starts("CLUSTERDOWN")) {
      *transient = true;
      return Unavailable("redis at " + server + " is not ready: " + what);
    }
    if (starts("WRONGTYPE")) {
      return Corrupt("a key under the prefix '" + options.prefix + ":' on redis at " + server +
                     " has the wrong type for " + what +
                     ": another program writes under this prefix; give shoal its own prefix");
    }
    return IoError("redis at " + server + " failed " + what);
  }

  // Checks a reply's type; an error reply becomes its Status.
  Status Expect(const redisReply* r, int type, std::string_view command, bool* transient) const {
    *transient = false;
    if (r->type == type) return OkStatus();
    if (r->type == REDIS_REPLY_ERROR) return ErrorStatus(command, Text(r), transient);
    return Internal("unexpected reply to " + Upper(command) + " from redis at " + server +
                    ": got " + TypeName(r->type) + ", expected " + TypeName(type));
  }

  // A new connection, authenticated and on the right db. kUnavailable when
  // the server cannot be reached; kAccess when authentication fails.
  Result<std::unique_ptr<Conn>> Connect() {
    const timeval tv = ToTimeval(io_timeout);
    redisContext* ctx = redisConnectWithTimeout(options.host.c_str(), options.port, tv);
    if (ctx == nullptr) return Unavailable("cannot connect to redis at " + server + ": no memory");
    if (ctx->err != 0) {
      std::string why = ctx->errstr;
      redisFree(ctx);
      return Unavailable("cannot connect to redis at " + server + " (" + why +
                         "): check that Redis runs there and that the URL's host and port "
                         "are right");
    }
    auto conn = std::make_unique<Conn>(ctx, NewMarker());
    if (redisSetTimeout(ctx, tv) != REDIS_OK) {
      return Unavailable("cannot set timeouts on the connection to redis at " + server);
    }
    (void)redisEnableKeepAlive(ctx);  // best effort: only helps notice dead peers sooner

    std::vector<Args> setup;
    const std::string db = std::to_string(options.db);
    if (!options.password.empty()) {
      if (options.user.empty()) {
        setup.push_back({"AUTH", options.password});
      } else {
        setup.push_back({"AUTH", options.user, options.password});
      }
    }
    if (options.db != 0) setup.push_back({"SELECT", db});
    if (setup.empty()) return conn;

    Failure failure = Failure::kNone;
    ASSIGN_OR_RETURN(Replies replies, Exchange(*conn, setup, true, &failure));
    for (size_t i = 0; i < setup.size(); ++i) {
      const redisReply* r = replies[i].get();
      if (r->type != REDIS_REPLY_ERROR) continue;
      if (setup[i][0] == "AUTH") {
        return AccessDenied("authentication failed for " + describe + " (Redis said: " +
                            std::string(Text(r)) + "); check the user name and password");
      }
      bool transient = false;
      Status s = ErrorStatus("SELECT", Text(r), &transient);
      if (s.code() == Code::kIo) {
        return Invalid("redis at " + server + " cannot select database " + db + " (Redis said: " +
                       std::string(Text(r)) + "); use a db number the server has");
      }
      return s;
    }
    return conn;
  }

  // A marker key no other connection uses: "<prefix>:c" and 16 hex digits.
  std::string NewMarker() {
    uint64_t id;
    {
      std::lock_guard lock(mu);
      id = std::uniform_int_distribution<uint64_t>()(rng);
    }
    char hex[17];
    snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(id));
    return options.prefix + ":c" + hex;
  }

  // An idle connection that still looks alive, or a new one.
  Result<std::unique_ptr<Conn>> Borrow() {
    for (;;) {
      std::unique_ptr<Conn> conn;
      {
        std::lock_guard lock(mu);
        if (idle.empty()) break;
        conn = std::move(idle.back());
        idle.pop_back();
      }
      if (conn->LooksAlive()) return conn;
    }
    return Connect();
  }

  // Takes back a connection after use. A broken one is closed, and so are
  // the idle ones: whatever broke it (a restart, a network failure) most
  // likely broke them too.
  void Return(std::unique_ptr<Conn> conn) {
    std::vector<std::unique_ptr<Conn>> closed;  // closed outside the lock
    std::lock_guard lock(mu);
    if (conn->broken()) {
      closed.swap(idle);
      closed.push_back(std::move(conn));
      return;
    }
    if (idle.size() < kMaxIdleConnections) {
      idle.push_back(std::move(conn));
    } else {
      closed.push_back(std::move(conn));
    }
  }

  // Deletes the commit markers of the idle connections (best effort: they
  // expire anyway). Fenced markers are never deleted: they belong to broken
  // connections, which are never idle.
  void DeleteIdleMarkers() {
    std::lock_guard lock(mu);
    if (idle.empty()) return;
    Args del = {"DEL"};
    for (const auto& c : idle) {
      if (c->marked) del.push_back(c->marker);
    }
    if (del.size() == 1) return;
    for (const auto& c : idle) {
      if (!c->LooksAlive()) continue;
      Failure failure = Failure::kNone;
      if (Exchange(*c, {del}, true, &failure)) {
        for (const auto& m : idle) m->marked = false;
      }
      return;
    }
  }

  // Loads the scripts into the server's script cache. Their digests depend
  // only on their text: they are set by the first load, before the engine is
  // shared, and the same afterwards.
  Status LoadScripts(Conn& conn, Failure* failure) {
    std::vector<Args> commands = {{"SCRIPT", "LOAD", kScanScript},
                                  {"SCRIPT", "LOAD", kVerifyScript},
                                  {"SCRIPT", "LOAD", kCommitScript}};
    ASSIGN_OR_RETURN(Replies replies, Exchange(conn, commands, true, failure));
    std::string shas[3];
    for (int i = 0; i < 3; ++i) {
      bool transient = false;
      Status s = Expect(replies[i].get(), REDIS_REPLY_STRING, "SCRIPT LOAD", &transient);
      if (!s.ok()) {
        if (transient) *failure = Failure::kRetry;
        return s;
      }
      shas[i] = std::string(Text(replies[i].get()));
    }
    if (scan_sha.empty()) {
      scan_sha = shas[0];
      verify_sha = shas[1];
      commit_sha = shas[2];
    } else if (scan_sha != shas[0] || verify_sha != shas[1] || commit_sha != shas[2]) {
      return Internal("redis at " + server + " gave the scripts other digests than before");
    }
    return OkStatus();
  }

  Status Run(const std::function<Status(kv::Txn&)>& fn, bool view);
  Status RunUntilReachable(const std::function<Status(kv::Txn&)>& fn, bool view);
  Status RunOnce(const std::function<Status(kv::Txn&)>& fn, bool view, bool* retry);
  Status ResolveUnknownOutcome(const std::string& marker, uint64_t commit, const Status& unknown,
                               bool* retry);
  Status DeleteEverything();
  Status Probe(Conn& conn);

  const RedisOptions options;
  const std::string server;  // "host:port", for messages
  const std::string index_key;
  const std::string value_prefix;
  const milliseconds io_timeout;
  std::string describe;
  std::atomic<uint64_t> round_trips{0};

  // Set by Probe before the engine is shared, constant afterwards.
  std::string scan_sha;
  std::string verify_sha;
  std::string commit_sha;
  const std::string marker_seconds =
      std::to_string(options.timeout.count() / 1000 + kMarkerSlackSeconds);

  std::mutex mu;  // guards idle and rng
  std::vector<std::unique_ptr<Conn>> idle;
  std::mt19937_64 rng{std::random_device{}()};
};

namespace {

using Impl = RedisEngine::Impl;
using Failure = Impl::Failure;

bool IsNoScript(const redisReply* r) {
  return r->type == REDIS_REPLY_ERROR && Text(r).starts_with("NOSCRIPT");
}

class RedisTxn final : public Txn {
 public:
  RedisTxn(Impl& engine, Conn& conn, bool view) : e_(engine), conn_(conn), view_(view) {}

  Result<std::optional<std::string>> Get(std::string_view key) override {
    RETURN_IF_ERROR(status_);
    if (auto it = writes_.find(key); it != writes_.end()) return it->second;
    const std::string vkey = e_.ValueKey(key);
    ASSIGN_OR_RETURN(Replies replies, ReadRoundTrip({{"WATCH", vkey}, {"GET", vkey}}, true));
    RETURN_IF_ERROR(Check(replies[0].get(), REDIS_REPLY_STATUS, "WATCH"));
    const redisReply* r = replies[1].get();
    if (r->type == REDIS_REPLY_NIL) return std::nullopt;
    RETURN_IF_ERROR(Check(r, REDIS_REPLY_STRING, "GET"));
    return std::string(Text(r));
  }

  Result<std::vector<std::optional<std::string>>> BatchGet(
      const std::vector<std::string>& keys) override {
    RETURN_IF_ERROR(status_);
    std::vector<std::optional<std::string>> out(keys.size());
    std::vector<size_t> remote;  // indices of keys not written by this transaction
    std::vector<std::string> vkeys;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (auto it = writes_.find(keys[i]); it != writes_.end()) {
        out[i] = it->second;
      } else {
        remote.push_back(i);
        vkeys.push_back(e_.ValueKey(keys[i]));
      }
    }
    if (remote.empty()) return out;
    // WATCH costs Redis 7.0 time quadratic in the keys a client watches (it
    // searches the client's list for each new key): 10,000 take most of a
    // second. A read-only transaction's large batch (a directory listing's
    // attributes) is read with one MGET, atomic in itself, unwatched: later
    // reads are not checked against it.
    const bool watch = !view_ || remote.size() <= kMaxWatchedBatch;
    Args watch_cmd = {"WATCH"};
    Args mget = {"MGET"};
    for (const auto& k : vkeys) {
      if (watch) watch_cmd.push_back(k);
      mget.push_back(k);
    }
    std::vector<Args> commands;
    if (watch) commands.push_back(std::move(watch_cmd));
    commands.push_back(std::move(mget));
    ASSIGN_OR_RETURN(Replies replies, ReadRoundTrip(std::move(commands), watch));
    if (watch) RETURN_IF_ERROR(Check(replies[0].get(), REDIS_REPLY_STATUS, "WATCH"));
    const redisReply* r = replies.back().get();
    RETURN_IF_ERROR(Check(r, REDIS_REPLY_ARRAY, "MGET"));
    if (r->elements != remote.size()) {
      return Fail(Internal("MGET of " + std::to_string(remote.size()) + " keys from redis at " +
                           e_.server + " answered " + std::to_string(r->elements) + " values"));
    }
    for (size_t j = 0; j < remote.size(); ++j) {
      const redisReply* v = r->element[j];
      if (v->type == REDIS_REPLY_NIL) continue;
      RETURN_IF_ERROR(Check(v, REDIS_REPLY_STRING, "MGET"));
      out[remote[j]] = std::string(Text(v));
    }
    return out;
  }

  Status Scan(std::string_view begin, std::string_view end, size_t limit, bool keys_only,
              const std::function<bool(std::string_view, std::string_view)>& fn) override;

  void Put(std::string_view key, std::string_view value) override {
    if (view_) view_wrote_ = true;
    Buffer(key)->second = std::string(value);
  }

  void Delete(std::string_view key) override {
    if (view_) view_wrote_ = true;
    Buffer(key)->second = std::nullopt;
  }

  // Applies the buffered writes (nothing to do for a read-only transaction,
  // whose reads were checked as they were made).
  Status Commit();

  const Status& status() const { return status_; }
  Failure failure() const { return failure_; }
  // The number of the commit sent on the connection (0 if none).
  uint64_t commit() const { return commit_; }
  bool view_wrote() const { return view_wrote_; }

 private:
  // A page of scanned keys whose values the next Get/BatchGet must check.
  struct ScannedPage {
    std::vector<std::string> vkeys;
    std::string digest;
  };
  // One page of a scan: the script's reply and views into it.
  struct Page {
    ReplyPtr reply;
    std::vector<std::string_view> keys;
    std::vector<std::string_view> values;
  };

  using Writes = std::map<std::string, std::optional<std::string>, std::less<>>;

  Writes::iterator Buffer(std::string_view key) {
    auto it = writes_.find(key);
    if (it == writes_.end()) it = writes_.emplace(std::string(key), std::nullopt).first;
    return it;
  }

  // Remembers the first failure: the transaction cannot go on after it.
  Status Fail(Status s, Failure failure = Failure::kNone) {
    if (status_.ok()) {
      status_ = s;
      if (failure_ == Failure::kNone) failure_ = failure;
    }
    return s;
  }

  Status Check(const redisReply* r, int type, std::string_view command) {
    bool transient = false;
    Status s = e_.Expect(r, type, command, &transient);
    if (s.ok()) return s;
    return Fail(s, transient ? Failure::kRetry : Failure::kNone);
  }

  Status ReadConflict(std::string_view why) {
    return Fail(
        shoal::Conflict("a key this transaction read on " + e_.describe + " " + std::string(why)));
  }

  // One read round trip: `commands`, preceded by UNWATCH when the connection
  // carries a finished transaction's WATCHes, and (with `watches`) by the
  // WATCH and check of keys scanned since the last Get; followed by CLIENT
  // INFO when keys were WATCHed before `commands` ran. `watches`: the
  // commands WATCH keys (Get, BatchGet). Returns the replies
  // of `commands`, or kConflict when a watched key changed.
  Result<Replies> ReadRoundTrip(std::vector<Args> commands, bool watches);

  Impl& e_;
  Conn& conn_;
  const bool view_;
  Writes writes_;
  std::vector<ScannedPage> scanned_;  // not yet checked
  bool watching_ = false;
  int round_trips_ = 0;
  bool view_wrote_ = false;
  Status status_;
  Failure failure_ = Failure::kNone;
  uint64_t commit_ = 0;
};

Result<Replies> RedisTxn::ReadRoundTrip(std::vector<Args> commands, bool watches) {
  std::deque<std::string> scratch;  // argument text that must outlive the exchange
  std::vector<Args> all;
  const bool unwatch = round_trips_ == 0 && conn_.stale_watches;
  if (unwatch) all.push_back({"UNWATCH"});
  bool check = watching_;
  size_t verifications = 0;
  if (watches) {
    for (const ScannedPage& page : scanned_) {
      Args watch = {"WATCH"};
      Args verify = {"EVALSHA", e_.verify_sha,
                     scratch.emplace_back(std::to_string(page.vkeys.size()))};
      for (const auto& k : page.vkeys) {
        watch.push_back(k);
        verify.push_back(k);
      }
      verify.push_back(page.digest);
      all.push_back(std::move(watch));
      all.push_back(std::move(verify));
      ++verifications;
      check = true;
    }
  }
  const size_t first = all.size();
  for (auto& c : commands) all.push_back(std::move(c));
  const size_t count = all.size() - first;
  if (check) all.push_back({"CLIENT", "INFO"});

  Replies replies;
  for (int attempt = 0;; ++attempt) {
    Failure failure = Failure::kNone;
    auto got = e_.Exchange(conn_, all, true, &failure);
    if (!got) return Fail(got.error(), failure);
    replies = std::move(*got);
    bool noscript = std::any_of(replies.begin(), replies.end(),
                                [](const ReplyPtr& r) { return IsNoScript(r.get()); });
    if (!noscript || attempt > 0) break;
    // The server lost its script cache (a restart, SCRIPT FLUSH): load the
    // scripts again and repeat; every command here may be repeated.
    RETURN_IF_ERROR(Fail(e_.LoadScripts(conn_, &failure), failure));
  }
  ++round_trips_;
  if (unwatch) {
    RETURN_IF_ERROR(Check(replies[0].get(), REDIS_REPLY_STATUS, "UNWATCH"));
    conn_.stale_watches = false;
  }
  // Keys are WATCHed from here on, even if this round trip fails.
  if (watches) {
    conn_.stale_watches = true;
    watching_ = true;
  }

  for (size_t i = 0; i < verifications; ++i) {
    const size_t at = (unwatch ? 1 : 0) + 2 * i;
    RETURN_IF_ERROR(Check(replies[at].get(), REDIS_REPLY_STATUS, "WATCH"));
    const redisReply* r = replies[at + 1].get();
    RETURN_IF_ERROR(Check(r, REDIS_REPLY_INTEGER, "EVALSHA (verify)"));
    if (r->integer != 1) {
      return ReadConflict(
          "by a scan was changed by another client before the transaction read again");
    }
  }
  scanned_.clear();
  if (check) {
    const redisReply* r = replies.back().get();
    RETURN_IF_ERROR(Check(r, REDIS_REPLY_STRING, "CLIENT INFO"));
    auto changed = WatchedKeyChanged(Text(r));
    if (!changed) return Fail(changed.error());
    if (*changed) return ReadConflict("was changed by another client");
  }
  Replies out;
  for (size_t i = 0; i < count; ++i) out.push_back(std::move(replies[first + i]));
  return out;
}

Status RedisTxn::Scan(std::string_view begin, std::string_view end, size_t limit, bool keys_only,
                      const std::function<bool(std::string_view, std::string_view)>& fn) {
  RETURN_IF_ERROR(status_);
  if (!end.empty() && begin >= end) return OkStatus();
  auto buffered = writes_.lower_bound(begin);
  const auto buffered_end = end.empty() ? writes_.end() : writes_.lower_bound(end);
  // Buffered deletions may hide committed keys: a page must be that much
  // longer to still fill the limit.
  size_t deletions = 0;
  for (auto it = buffered; it != buffered_end; ++it) deletions += it->second ? 0 : 1;

  std::string min = begin.empty() ? "-" : "[" + std::string(begin);
  const std::string max = end.empty() ? "+" : "(" + std::string(end);
  Page page;
  size_t pos = 0;
  bool more = true;
  size_t visited = 0;
  std::string held;  // a buffered value, copied: fn may Put the same key
  for (;;) {
    if (pos == page.keys.size() && more) {
      const size_t want = limit == 0 ? kScanPage : std::min(kScanPage, limit - visited + deletions);
      const std::string want_text = std::to_string(want);
      ASSIGN_OR_RETURN(Replies replies,
                       ReadRoundTrip({{"EVALSHA", e_.scan_sha, "1", e_.index_key, min, max,
                                       want_text, e_.value_prefix, keys_only ? "1" : "0"}},
                                     false));
      page = Page{std::move(replies[0]), {}, {}};
      const redisReply* r = page.reply.get();
      RETURN_IF_ERROR(Check(r, REDIS_REPLY_ARRAY, "EVALSHA (scan)"));
      if (r->elements != 3 || r->element[0]->type != REDIS_REPLY_ARRAY ||
          r->element[1]->type != REDIS_REPLY_ARRAY || r->element[2]->type != REDIS_REPLY_STRING ||
          (!keys_only && r->element[1]->elements != r->element[0]->elements)) {
        return Fail(Internal("the scan script on redis at " + e_.server +
                             " answered something other than {keys, values, digest}"));
      }
      const redisReply* keys = r->element[0];
      const redisReply* values = r->element[1];
      ScannedPage scanned;
      scanned.digest = std::string(Text(r->element[2]));
      for (size_t i = 0; i < keys->elements; ++i) {
        if (keys->element[i]->type != REDIS_REPLY_STRING) {
          return Fail(Internal("the scan script on redis at " + e_.server +
                               " answered a key that is " + TypeName(keys->element[i]->type)));
        }
        page.keys.push_back(Text(keys->element[i]));
        scanned.vkeys.push_back(e_.ValueKey(page.keys.back()));
        if (keys_only) continue;
        const redisReply* v = values->element[i];
        if (v->type != REDIS_REPLY_STRING) {
          return Fail(Corrupt("the index '" + e_.index_key + "' on redis at " + e_.server +
                              " lists the key '" + Printable(page.keys.back()) +
                              "' but its value is " + TypeName(v->type)));
        }
        page.values.push_back(Text(v));
      }
      if (!scanned.vkeys.empty()) scanned_.push_back(std::move(scanned));
      more = page.keys.size() == want;
      if (!page.keys.empty()) min = "(" + std::string(page.keys.back());
      pos = 0;
    }
    const bool have_committed = pos < page.keys.size();
    const bool have_buffered = buffered != buffered_end;
    if (!have_committed && !have_buffered) break;
    std::string_view key;
    std::string_view value;
    if (have_buffered && (!have_committed || std::string_view(buffered->first) <= page.keys[pos])) {
      if (have_committed && buffered->first == page.keys[pos]) ++pos;  // shadowed
      auto it = buffered++;
      if (!it->second) continue;  // deleted by this transaction
      key = it->first;
      if (!keys_only) {
        held = *it->second;
        value = held;
      }
    } else {
      key = page.keys[pos];
      if (!keys_only) value = page.values[pos];
      ++pos;
    }
    ++visited;
    if (!fn(key, value)) break;
    if (limit != 0 && visited >= limit) break;
  }
  return OkStatus();
}

Status RedisTxn::Commit() {
  RETURN_IF_ERROR(status_);
  if (writes_.empty()) return OkStatus();
  commit_ = ++conn_.commits;
  const std::string number = std::to_string(commit_);
  size_t puts = 0;
  for (const auto& [key, value] : writes_) puts += value ? 1 : 0;
  const std::string puts_text = std::to_string(puts);
  Args eval = {"EVALSHA",         e_.commit_sha,   "2",      e_.index_key, conn_.marker, number,
               e_.marker_seconds, e_.value_prefix, puts_text};
  for (const auto& [key, value] : writes_) {
    if (!value) continue;
    eval.push_back(key);
    eval.push_back(*value);
  }
  for (const auto& [key, value] : writes_) {
    if (!value) eval.push_back(key);
  }
  std::vector<Args> commands;
  const bool unwatch = round_trips_ == 0 && conn_.stale_watches;
  if (unwatch) commands.push_back({"UNWATCH"});
  commands.push_back({"MULTI"});
  commands.push_back(std::move(eval));
  commands.push_back({"EXEC"});

  Failure failure = Failure::kNone;
  conn_.marked = true;
  auto got = e_.Exchange(conn_, commands, false, &failure);
  if (!got) return Fail(got.error(), failure);
  ++round_trips_;
  conn_.stale_watches = false;  // EXEC unwatches everything
  const Replies& replies = *got;
  size_t i = 0;
  if (unwatch) RETURN_IF_ERROR(Check(replies[i++].get(), REDIS_REPLY_STATUS, "UNWATCH"));
  RETURN_IF_ERROR(Check(replies[i++].get(), REDIS_REPLY_STATUS, "MULTI"));
  const redisReply* queued = replies[i].get();
  const redisReply* exec = replies[i + 1].get();
  // The script's own reply: refused when queued (then EXEC fails with
  // EXECABORT), or EXEC's only element.
  const redisReply* result = queued->type == REDIS_REPLY_ERROR ? queued : nullptr;
  if (result == nullptr) {
    if (exec->type == REDIS_REPLY_NIL) {
      return Fail(shoal::Conflict("commit to " + e_.describe +
                                  " found that a key this transaction read was changed by "
                                  "another client"));
    }
    RETURN_IF_ERROR(Check(exec, REDIS_REPLY_ARRAY, "EXEC"));
    if (exec->elements != 1) {
      return Fail(Internal("EXEC on redis at " + e_.server + " answered " +
                           std::to_string(exec->elements) + " replies for 1 command"));
    }
    result = exec->element[0];
  }
  if (IsNoScript(result)) {
    // The server lost its scripts (a restart, SCRIPT FLUSH): nothing was
    // applied. Load them and run the transaction again.
    RETURN_IF_ERROR(Fail(e_.LoadScripts(conn_, &failure), failure));
    return Fail(Unavailable("redis at " + e_.server + " had lost shoal's scripts"),
                Failure::kRetry);
  }
  RETURN_IF_ERROR(Check(result, REDIS_REPLY_INTEGER, "EVALSHA (commit)"));
  if (result->integer != 1) {
    // Only a connection given up as lost is fenced, and such a connection is
    // never used again; nothing was applied.
    return Fail(Unavailable("redis at " + e_.server + " refused a commit on a fenced connection"),
                Failure::kRetry);
  }
  return OkStatus();
}

}  // namespace

// ---------------------------------------------------------------------------

Status Impl::Run(const std::function<Status(kv::Txn&)>& fn, bool view) {
  return RetryOnConflict(options.retry, describe, [&] { return RunUntilReachable(fn, view); });
}

Status Impl::RunUntilReachable(const std::function<Status(kv::Txn&)>& fn, bool view) {
  std::optional<Clock::time_point> deadline;
  milliseconds delay = kFirstReconnectDelay;
  for (;;) {
    bool retry = false;
    Status s = RunOnce(fn, view, &retry);
    if (!retry) return s;
    const auto now = Clock::now();
    if (!deadline) deadline = now + options.timeout;
    if (now >= *deadline) {
      return Unavailable("redis at " + server +
                         " is unreachable or not ready: still failing after " +
                         Seconds(options.timeout) + " (last: " + s.message() +
                         "); check that Redis runs there and that the URL's host and port are "
                         "right (the URL's timeout=SECONDS sets how long to wait)");
    }
    const auto left = std::chrono::duration_cast<milliseconds>(*deadline - now);
    std::this_thread::sleep_for(std::min(delay, left));
    delay = std::min(delay * 2, kMaxReconnectDelay);
  }
}

Status Impl::RunOnce(const std::function<Status(kv::Txn&)>& fn, bool view, bool* retry) {
  auto conn = Borrow();
  if (!conn) {
    *retry = conn.error().code() == Code::kUnavailable;
    return conn.error();
  }
  Status s;
  Failure failure = Failure::kNone;
  uint64_t commit = 0;
  const std::string marker = (*conn)->marker;
  {
    RedisTxn txn(*this, **conn, view);
    s = fn(txn);
    // The function may have swallowed a failed read: the attempt failed all the same.
    if (s.ok()) s = txn.status();
    if (s.ok() && view && txn.view_wrote()) {
      s = Internal("a read-only View called Put or Delete; use Engine::Txn to write");
    } else if (s.ok() && !view) {
      s = txn.Commit();
    }
    failure = txn.failure();
    commit = txn.commit();
  }
  Return(std::move(*conn));
  if (failure == Failure::kUnknownOutcome) return ResolveUnknownOutcome(marker, commit, s, retry);
  *retry = failure == Failure::kRetry;
  return s;
}

// A commit was sent and its connection lost before the reply: find out
// whether it was applied, on a new connection. SET ... GET swaps the marker
// for "fenced" atomically: if it held this commit's number, the commit was
// applied; if not, it was not, and now never will be (the commit script
// checks the marker when it runs), so the transaction may run again. Tries
// until the URL's timeout; then the outcome stays unknown.
Status Impl::ResolveUnknownOutcome(const std::string& marker, uint64_t commit,
                                   const Status& unknown, bool* retry) {
  *retry = false;
  const auto deadline = Clock::now() + options.timeout;
  const std::string fenced_seconds = std::to_string(kFencedMarkerSeconds);
  milliseconds delay = kFirstReconnectDelay;
  for (;;) {
    auto conn = Borrow();
    if (conn) {
      Failure failure = Failure::kNone;
      auto got =
          Exchange(**conn, {{"SET", marker, kFenced, "EX", fenced_seconds, "GET"}}, true, &failure);
      if (got) {
        const redisReply* r = (*got)[0].get();
        Return(std::move(*conn));
        if (r->type == REDIS_REPLY_STRING && Text(r) == std::to_string(commit)) return OkStatus();
        if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_NIL) {
          *retry = true;  // not applied, and fenced: run the transaction again
          return Unavailable("a commit to " + describe + " was lost with its connection");
        }
        bool transient = false;
        Status s = Expect(r, REDIS_REPLY_STRING, "SET (fence)", &transient);
        if (!transient) return s.Annotate(unknown.message() + "; finding out failed");
      } else {
        Return(std::move(*conn));
      }
    } else if (conn.error().code() != Code::kUnavailable) {
      return conn.error().Annotate(unknown.message() + "; finding out failed");
    }
    const auto now = Clock::now();
    if (now >= deadline) return unknown;
    std::this_thread::sleep_for(
        std::min(delay, std::chrono::duration_cast<milliseconds>(deadline - now)));
    delay = std::min(delay * 2, kMaxReconnectDelay);
  }
}

Status Impl::DeleteEverything() {
  ASSIGN_OR_RETURN(auto conn, Borrow());
  Failure failure = Failure::kNone;
  Status result;
  bool transient = false;
  if (conn->stale_watches) {
    auto got = Exchange(*conn, {{"UNWATCH"}}, true, &failure);
    if (!got) result = got.error();
    conn->stale_watches = false;
  }
  const std::string page_size = std::to_string(kScanPage);
  while (result.ok()) {
    auto got = Exchange(*conn, {{"ZRANGEBYLEX", index_key, "-", "+", "LIMIT", "0", page_size}},
                        true, &failure);
    if (!got) {
      result = got.error();
      break;
    }
    const redisReply* r = (*got)[0].get();
    result = Expect(r, REDIS_REPLY_ARRAY, "ZRANGEBYLEX", &transient);
    if (!result.ok() || r->elements == 0) break;
    std::deque<std::string> vkeys;
    Args del = {"DEL"};
    Args zrem = {"ZREM", index_key};
    for (size_t i = 0; i < r->elements; ++i) {
      if (r->element[i]->type != REDIS_REPLY_STRING) {
        result = Internal("ZRANGEBYLEX on redis at " + server + " answered a member that is " +
                          TypeName(r->element[i]->type));
        break;
      }
      del.push_back(vkeys.emplace_back(ValueKey(Text(r->element[i]))));
      zrem.push_back(Text(r->element[i]));
    }
    if (!result.ok()) break;
    auto done = Exchange(*conn, {del, zrem}, true, &failure);
    if (!done) {
      result = done.error();
      break;
    }
    for (size_t i = 0; i < 2 && result.ok(); ++i) {
      result = Expect((*done)[i].get(), REDIS_REPLY_INTEGER, i == 0 ? "DEL" : "ZREM", &transient);
    }
  }
  if (result.ok()) {
    auto got = Exchange(*conn, {{"DEL", index_key}}, true, &failure);
    if (!got) {
      result = got.error();
    } else {
      result = Expect((*got)[0].get(), REDIS_REPLY_INTEGER, "DEL", &transient);
    }
  }
  Return(std::move(conn));
  if (result.ok()) DeleteIdleMarkers();
  return result;
}

// Checks, on a new engine's first connection, everything that would
// otherwise fail confusingly later: the scripts load, the server is recent
// enough, and the prefix's keys may be used and hold what shoal wrote.
Status Impl::Probe(Conn& conn) {
  Failure failure = Failure::kNone;
  RETURN_IF_ERROR(LoadScripts(conn, &failure));
  ASSIGN_OR_RETURN(Replies replies,
                   Exchange(conn, {{"CLIENT", "INFO"}, {"TYPE", index_key}}, true, &failure));
  bool transient = false;
  const redisReply* info = replies[0].get();
  if (info->type == REDIS_REPLY_ERROR && Text(info).find("NOPERM") == std::string_view::npos) {
    return Unsupported("redis at " + server + " does not support CLIENT INFO (Redis said: " +
                       std::string(Text(info)) + "): shoal needs Redis 6.2 or later");
  }
  RETURN_IF_ERROR(Expect(info, REDIS_REPLY_STRING, "CLIENT INFO", &transient));
  RETURN_IF_ERROR(WatchedKeyChanged(Text(info)));
  const redisReply* type = replies[1].get();
  RETURN_IF_ERROR(Expect(type, REDIS_REPLY_STATUS, "TYPE", &transient));
  if (Text(type) != "none" && Text(type) != "zset") {
    return Invalid("the key '" + index_key + "' on redis at " + server + " is a " +
                   std::string(Text(type)) +
                   ", not shoal's index: another program uses the prefix '" + options.prefix +
                   "'; choose another with ?prefix=NAME");
  }
  return OkStatus();
}

// ---------------------------------------------------------------------------

RedisEngine::RedisEngine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RedisEngine::~RedisEngine() = default;

std::string RedisEngine::Describe() const { return impl_->describe; }

Status RedisEngine::Txn(const std::function<Status(kv::Txn&)>& fn) {
  return impl_->Run(fn, /*view=*/false);
}

Status RedisEngine::View(const std::function<Status(kv::Txn&)>& fn) {
  return impl_->Run(fn, /*view=*/true);
}

Status RedisEngine::DeleteEverything() { return impl_->DeleteEverything(); }

uint64_t RedisEngine::RoundTrips() const {
  return impl_->round_trips.load(std::memory_order_relaxed);
}

Status CheckRedisPrefix(const std::string& prefix) {
  const bool ok = !prefix.empty() && prefix.size() <= 64 &&
                  std::all_of(prefix.begin(), prefix.end(), [](char c) {
                    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
                  });
  if (ok) return OkStatus();
  return Invalid("the prefix '" + Printable(prefix) +
                 "' is not 1 to 64 characters among letters, digits, '.', '_' and '-'");
}

Result<RedisOptions> RedisOptionsFromUrl(const Url& url) {
  RedisOptions options;
  if (url.host.empty()) {
    return Invalid("has no host; write redis://host[:port][/db], as in redis://127.0.0.1:6379/0");
  }
  options.host = url.host;
  if (url.port != 0) options.port = url.port;
  if (!url.path.empty() && url.path != "/") {
    std::string_view db = std::string_view(url.path).substr(1);
    int n = -1;
    auto [end, ec] = std::from_chars(db.data(), db.data() + db.size(), n);
    if (ec != std::errc() || end != db.data() + db.size() || n < 0) {
      return Invalid("has the path '" + Printable(url.path) +
                     "', but the path of a redis URL is a database number, as in "
                     "redis://host:6379/1");
    }
    options.db = n;
  }
  if (!url.user.empty() && url.password.empty()) {
    return Invalid("names the user '" + Printable(url.user) +
                   "' without a password; write redis://user:password@host, or "
                   "redis://:password@host for the default user");
  }
  options.user = url.user;
  options.password = url.password;
  for (const auto& [key, value] : url.query) {
    if (key == "prefix") {
      if (Status s = CheckRedisPrefix(value); !s.ok()) return Invalid("has a bad " + s.message());
      options.prefix = value;
    } else if (key == "timeout") {
      double seconds = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
      if (ec != std::errc() || end != value.data() + value.size() || !std::isfinite(seconds) ||
          seconds <= 0 || seconds > 86'400) {
        return Invalid("has timeout=" + Printable(value) +
                       ", which is not a number of seconds greater than 0 (at most 86400)");
      }
      options.timeout = milliseconds(std::max<int64_t>(1, std::llround(seconds * 1000)));
    } else {
      return Invalid("has the unknown option '" + Printable(key) +
                     "' (redis knows prefix=NAME and timeout=SECONDS)");
    }
  }
  return options;
}

Result<std::shared_ptr<RedisEngine>> OpenRedis(const RedisOptions& options) {
  if (options.host.empty()) return Invalid("a redis engine needs a host");
  RETURN_IF_ERROR(CheckRedisPrefix(options.prefix));
  auto impl = std::make_unique<Impl>(options);
  ASSIGN_OR_RETURN(std::unique_ptr<Conn> conn, impl->Connect());
  RETURN_IF_ERROR(impl->Probe(*conn));
  impl->Return(std::move(conn));
  return std::make_shared<RedisEngine>(std::move(impl));
}

}  // namespace shoal::kv
