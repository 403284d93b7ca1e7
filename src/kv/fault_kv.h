// FaultEngine: wraps another engine and injects failures, so that the layers
// above can be tested against a metadata engine that misbehaves the way real
// ones do. Faults come from two sources, checked in this order:
//   - scripted: "fail the next N ...", consumed one by one;
//   - random: a probability per event, drawn from a generator seeded by
//     FaultOptions::seed, so a failing run can be replayed (with one thread).
// The kinds of fault:
//   - call: Txn/View fails with kUnavailable before running anything;
//   - read: a Get/BatchGet/Scan inside the function fails with kUnavailable
//     (the transaction then aborts with it, unless the function handles it);
//   - conflict: a writing transaction's commit attempt fails with kConflict
//     and nothing is applied, so the wrapped engine runs the function again;
//   - lost commit: a writing transaction is committed, but Txn reports
//     kUnavailable, as when a remote engine's reply is lost.
// With no faults configured it behaves exactly as the wrapped engine.
// Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <string>

#include "kv/kv.h"

namespace shoal::kv {

struct FaultOptions {
  uint64_t seed = 1;
  double call_failure_probability = 0;
  double read_failure_probability = 0;
  double conflict_probability = 0;
  double lost_commit_probability = 0;
};

class FaultEngine final : public Engine {
 public:
  explicit FaultEngine(std::shared_ptr<Engine> inner, FaultOptions options = {});

  std::string Describe() const override { return "fault(" + inner_->Describe() + ")"; }
  bool Exclusive() const override { return inner_->Exclusive(); }
  Status Txn(const std::function<Status(kv::Txn&)>& fn) override;
  Status View(const std::function<Status(kv::Txn&)>& fn) override;

  // Scripted faults: the next n events of the kind fail.
  void FailNextCalls(int n);
  void FailNextReads(int n);
  void FailNextCommits(int n);  // with kConflict
  void LoseNextCommits(int n);

  // Replaces the probabilities and reseeds the generator.
  void SetOptions(const FaultOptions& options);

  // How many faults of each kind were injected so far.
  struct Injected {
    int calls = 0;
    int reads = 0;
    int conflicts = 0;
    int lost_commits = 0;
  };
  Injected injected() const;

  Engine& inner() { return *inner_; }

 private:
  class FaultTxn;
  friend class FaultTxn;

  enum class Kind { kCall, kRead, kConflict, kLostCommit };
  // Decides whether the next event of `kind` fails, and counts it if so.
  bool Inject(Kind kind);

  const std::shared_ptr<Engine> inner_;

  mutable std::mutex mu_;
  FaultOptions options_;
  std::mt19937_64 rng_;
  Injected scripted_;  // faults still to inject, per kind
  Injected injected_;
};

}  // namespace shoal::kv
