// RedisEngine: a shared metadata engine on a Redis server (6.2 or later),
// "redis://[user:password@]host[:port][/db][?prefix=NAME&timeout=SECONDS]",
// so that many clients on many machines can mount one volume.
//
// Data layout. Every Redis key the engine touches starts with "<prefix>:", so
// that many volumes share one Redis database without seeing each other, and a
// Redis ACL user limited to "~<prefix>:*" can run the engine:
//   <prefix>:k<key>   a string holding the value of KV key <key> (binary-safe)
//   <prefix>:i        a sorted set of every KV key, all with score 0, so that
//                     ZRANGEBYLEX lists them in memcmp order, as Scan needs
//   <prefix>:c<id>    a connection's commit marker (16 hex digits of id): the
//                     number of its last commit, kept for the URL's timeout
//                     plus a minute after it, so that a commit whose reply
//                     was lost can be looked up; "fenced" (kept a
//                     week) once the connection was given up
// Put is SET of the value plus ZADD to the index; Delete is DEL plus ZREM; the
// two always change together, in one atomic commit. Each key is therefore
// stored twice (value key and index member): budget Redis memory for it.
// The engine never lists or deletes keys outside its prefix (no KEYS, SCAN
// or FLUSHDB).
//
// Transactions (optimistic, as kv.h asks). A transaction borrows one
// connection from a pool and buffers its writes in memory.
//   - Get/BatchGet send WATCH and GET/MGET of the value keys in one round trip
//     (keys this transaction wrote are answered from its buffer).
//   - Scan runs a Lua script (EVALSHA) that takes a page of up to kScanPage
//     keys from the index and MGETs their values in one atomic step; pages
//     are fetched until the limit or the end of the range, and merged with
//     the buffered writes. Each page is one state; a scan of several pages is
//     not (a key changed between two pages is seen as its own page read it).
//     Scanned keys are not WATCHed by the scan itself:
//     kv.h does not promise conflict checks on scans (a writer must change a
//     guard key that the scanner reads with Get). But if the transaction reads
//     again after a scan, the keys the scan returned are WATCHed in that next
//     round trip and the script checks, by a digest computed when they were
//     scanned, that they have not changed since: so what the function sees
//     is one state, as with rocksdb's snapshot reads. Keys added to a scanned
//     range later (phantoms) are not detected, as kv.h says.
//   - Every read round trip after the first also asks CLIENT INFO, whose 'd'
//     flag tells whether a key this transaction WATCHed has changed: if so the
//     read fails with kConflict at once and Engine::Txn runs the function
//     again. So a transaction function never sees a mix of two states (the
//     same guarantee mem gives), and a read-only transaction needs no
//     validation at commit: its reads were all current at its last read.
//   - Commit sends MULTI, EVALSHA of a commit script and EXEC in one round
//     trip. EXEC answers nil when a WATCHed key changed: that is kConflict,
//     retried with backoff by Engine::Txn (see retry.h). Otherwise the script
//     runs, atomically: unless the connection's marker says "fenced", it does
//     the SETs, DELs, ZADDs and ZREMs and sets the marker to the commit's
//     number on the connection. (A script rather than the plain commands, so
//     that the fence can stop a commit that reaches the server late.)
//   - A connection keeps the WATCHes of a finished read-only transaction; its
//     next transaction sends UNWATCH in front of its first round trip, which
//     costs no extra round trip.
// Round trips: a transaction with n Get calls and writes takes n + 1; with
// one BatchGet and writes, 2; a View with one Get, 1; blind writes, 1.
//
// Failures. Connecting and every command have a timeout (the smaller of 5 s
// and the URL's timeout), so a hung server never blocks a caller for long.
// A connection that fails is discarded, never reused; the other idle
// connections of the pool are dropped too (they most likely failed with it),
// and new ones are made on the next use, so the engine recovers by itself when
// the server comes back. A failure before EXEC was sent runs the transaction
// function again on a new connection, with backoff, for up to the URL's
// timeout (default 10 s), then returns kUnavailable saying the server is
// unreachable. A failure after EXEC was sent leaves the outcome unknown; the
// engine then finds it out on a new connection, within the same timeout,
// with one atomic "SET marker fenced GET": if the marker held the commit's
// number, the commit was applied and Txn succeeds; if not, it was not, and
// the fence makes sure it never will be (its bytes may still sit in the
// server), so the function runs again. Layers above therefore see each
// commit applied exactly once, unless the server stays away longer than the
// timeout: then kUnavailable says the commit may or may not have been
// applied.
// Redis error replies become a Status naming the command and Redis's words:
// NOPERM (or an ACL refusal in a script), WRONGPASS and NOAUTH are kAccess; OOM is kNoSpace;
// LOADING, BUSY, MASTERDOWN and TRYAGAIN are retried like a lost connection; READONLY (a replica)
// is kUnavailable. SIGPIPE is blocked in the writing thread while the engine writes to a socket, so
// a reset connection is an error, never a signal that kills the process.
//
// Permissions. An ACL user for one volume needs the key pattern
// "~<prefix>:*" and these commands: get mget set del type zadd zrem
// zrangebylex watch unwatch multi exec evalsha script|load client|info (and
// select when the URL names a db other than 0), e.g.
//   ACL SETUSER vol1 on >PASSWORD ~vol1:* resetchannels -@all +get +mget +set
//       +del +type +zadd +zrem +zrangebylex +watch +unwatch +multi +exec
//       +evalsha +script|load +client|info
//
// Thread-safe. Exclusive() is false: many processes may use one prefix.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/url.h"
#include "kv/kv.h"
#include "kv/retry.h"

namespace shoal::kv {

struct RedisOptions {
  std::string host;
  int port = 6379;
  int db = 0;
  // Both empty: no AUTH. Password only: "AUTH password" (the default user).
  // User and password: "AUTH user password" (Redis 6 ACL users).
  std::string user;
  std::string password;  // never printed
  // Every Redis key starts with prefix + ":". [A-Za-z0-9._-], 1 to 64 chars.
  std::string prefix = "shoal";
  // How long a transaction keeps retrying while the server cannot be
  // reached; also bounds each connect and command (at most 5 s).
  std::chrono::milliseconds timeout{10'000};
  RetryPolicy retry;
  // For tests: when the engine is destroyed, delete every key under the
  // prefix (as DeleteEverything does).
  bool delete_everything_on_close = false;
};

// The options a redis:// URL gives. kInvalid, saying what is wrong, for a
// missing host, a db that is not a number, a user without a password, a bad
// prefix or timeout, or an unknown option. The message does not repeat the
// URL; the caller adds it (redacted).
Result<RedisOptions> RedisOptionsFromUrl(const Url& url);

// Checks a prefix: kInvalid with the rule when it is not 1 to 64 characters of
// [A-Za-z0-9._-].
Status CheckRedisPrefix(const std::string& prefix);

class RedisEngine final : public Engine {
 public:
  class Impl;

  ~RedisEngine() override;

  // "redis://[user[:***]@]host:port/db?prefix=NAME": never the password.
  std::string Describe() const override;
  Status Txn(const std::function<Status(kv::Txn&)>& fn) override;
  Status View(const std::function<Status(kv::Txn&)>& fn) override;

  // Deletes every key under the prefix: the value keys the index lists, the
  // index, and the commit markers of this engine's idle connections (other
  // markers expire by themselves). For tests and for destroying a volume; it
  // is not atomic, so no other client may use the prefix meanwhile.
  Status DeleteEverything();

  // Request/reply exchanges with the server since the engine was opened
  // (connection setup included).
  uint64_t RoundTrips() const;

  explicit RedisEngine(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

// Connects once (no retry, so that a wrong address or password is reported at
// once), authenticates, selects the db and checks that the prefix's keys may
// be used. Errors: kUnavailable naming host:port when the server cannot be
// reached; kAccess when authentication fails or the user may not use the
// prefix's keys; kInvalid for a db that does not exist or a prefix whose index
// key holds something else; kUnsupported for a server older than 6.2.
Result<std::shared_ptr<RedisEngine>> OpenRedis(const RedisOptions& options);

}  // namespace shoal::kv
