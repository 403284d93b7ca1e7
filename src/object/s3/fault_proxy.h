// FaultProxy (tests only): an HTTP proxy on 127.0.0.1 in front of an S3
// server that fails chosen requests the way networks and servers do.
//
// Each client connection carries one request: the proxy reads it, and
// either forwards it to the server and relays the answer (with
// "Connection: close"), or injects the fault queued for it. Faults are taken
// in order, one per request, from what FailNext() queued; a request with no
// queued fault meets a random one with the chance FailRandomly() set.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace shoal::object::s3::testing {

enum class Fault {
  kNone,
  kInternalError,  // 500 InternalError, without touching the server
  kSlowDown,       // 503 SlowDown, without touching the server
  kStall,          // read the request, then answer nothing until stall_time
  kReset,          // read the request, then reset the connection
  kTruncate,       // forward, then relay only half of the answer's body and close
                   // (an answer without a body passes whole)
};

class FaultProxy {
 public:
  // Forwards to the server at 127.0.0.1:upstream_port.
  explicit FaultProxy(int upstream_port);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  // 0 when the proxy could not listen.
  int port() const { return port_; }

  // The next `count` requests (whose method is `method`, when not empty)
  // get `fault`. Queued after faults already queued.
  void FailNext(Fault fault, int count, std::string method = "");
  // From now on, each request that finds no queued fault meets one of
  // `kinds`, drawn uniformly, with probability `share` (0 turns this off).
  // Deterministic for a given seed and order of requests.
  void FailRandomly(double share, std::vector<Fault> kinds, uint64_t seed = 1);
  // Drops all queued faults and turns random faults off.
  void Clear();
  // How long a stalled request waits before the proxy closes it.
  void set_stall_time(std::chrono::milliseconds t) { stall_time_ = t; }

  // Faults queued and not yet taken.
  int pending() {
    std::lock_guard lock(mu_);
    return static_cast<int>(pending_.size());
  }
  int requests() const { return requests_.load(); }
  int faults_injected() const { return injected_.load(); }

 private:
  struct Pending {
    Fault fault;
    std::string method;
  };

  void AcceptLoop();
  void Serve(int client);
  Fault Take(const std::string& method);

  const int upstream_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  std::atomic<int> injected_{0};
  std::chrono::milliseconds stall_time_{3000};

  std::mutex mu_;
  std::condition_variable stop_cv_;
  std::deque<Pending> pending_;
  double random_share_ = 0;  // guarded by mu_, like the two below
  std::vector<Fault> random_kinds_;
  std::mt19937_64 random_;
  // One thread per connection; finished ones are joined at the next accept,
  // so that a long-running proxy (the benchmark tool) does not pile them up.
  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Worker> workers_;
  std::thread acceptor_;
};

}  // namespace shoal::object::s3::testing
