// FaultStore: wraps another store and makes its calls fail on purpose, so
// that tests can check how the layers above cope with a failing object store.
//
// Three kinds of fault, all off by default (then every call goes straight
// through):
//   - a probability per operation that a call fails;
//   - "fail the next N calls of this operation";
//   - a hook that may change (corrupt, truncate) the data a Get returns.
// A fault either replaces the call (the wrapped store is not touched) or, with
// Fault::after_effect, happens after it: the Put or Delete took effect but the
// caller is told it failed, as when a reply is lost.
//
// Random faults come from one generator seeded at construction: a given seed
// and a given sequence of calls fail the same calls every run. With several
// threads the sequence, and so the pattern, depends on scheduling.
//
// Threading: all methods, including the configuration ones, are thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "object/object_store.h"

namespace shoal::object {

// What a failing call does. (Outside FaultStore so that it can be a default
// argument of FaultStore's methods.)
struct InjectedFault {
  Code code = Code::kUnavailable;  // the code of the injected failure
  bool after_effect = false;       // fail after calling the wrapped store
};

class FaultStore : public ObjectStore {
 public:
  enum class Op { kPut = 0, kGet, kHead, kDelete, kList };
  static constexpr size_t kOpCount = 5;

  using Fault = InjectedFault;

  // Changes the data of a successful Get of `key` in place.
  using GetHook = std::function<void(std::string_view key, std::string* data)>;

  explicit FaultStore(std::shared_ptr<ObjectStore> base, uint64_t seed = 1);

  // Each call of `op` fails with this probability (0 turns it off).
  void SetFailureRate(Op op, double probability, Fault fault = {});
  // The next `count` calls of `op` fail (before any random fault is drawn).
  void FailNext(Op op, int count, Fault fault = {});
  // Every successful Get passes its data through `hook` (nullptr: none).
  void SetGetHook(GetHook hook);
  // Turns every fault off; counters are kept.
  void Clear();

  // Calls of `op` seen, and how many of them were made to fail.
  uint64_t calls(Op op) const;
  uint64_t injected(Op op) const;

  ObjectStore& base() { return *base_; }

  // Ready-made hooks. Truncate keeps at most `max_size` bytes; FlipByte
  // inverts the bits of the byte at `index` (or the last byte if the data is
  // shorter), leaving empty data alone.
  static GetHook Truncate(size_t max_size);
  static GetHook FlipByte(size_t index);

  std::string Describe() const override;
  Status Put(std::string_view key, std::string_view data) override;
  Result<std::string> Get(std::string_view key, uint64_t offset = 0, uint64_t length = 0) override;
  Result<ObjectInfo> Head(std::string_view key) override;
  Status Delete(std::string_view key) override;
  Result<ListResult> List(const ListOptions& options) override;

 private:
  struct OpState {
    double probability = 0;
    Fault random_fault;
    int fail_next = 0;
    Fault next_fault;
    uint64_t calls = 0;
    uint64_t injected = 0;
  };

  // Counts a call of `op` and decides whether it fails: the fault, or nullopt.
  std::optional<Fault> Decide(Op op);
  Status Injected(const Fault& fault, Op op, std::string_view key) const;

  const std::shared_ptr<ObjectStore> base_;
  mutable std::mutex mu_;
  std::mt19937_64 random_;               // guarded by mu_
  std::array<OpState, kOpCount> ops_{};  // guarded by mu_
  GetHook get_hook_;                     // guarded by mu_
};

}  // namespace shoal::object
