#include "kv/fault_kv.h"

#include <utility>

namespace shoal::kv {

class FaultEngine::FaultTxn final : public kv::Txn {
 public:
  FaultTxn(kv::Txn& inner, FaultEngine& engine) : inner_(inner), engine_(engine) {}

  Result<std::optional<std::string>> Get(std::string_view key) override {
    RETURN_IF_ERROR(MaybeFailRead());
    return inner_.Get(key);
  }

  Result<std::vector<std::optional<std::string>>> BatchGet(
      const std::vector<std::string>& keys) override {
    RETURN_IF_ERROR(MaybeFailRead());
    return inner_.BatchGet(keys);
  }

  Status Scan(std::string_view begin, std::string_view end, size_t limit, bool keys_only,
              const std::function<bool(std::string_view, std::string_view)>& fn) override {
    RETURN_IF_ERROR(MaybeFailRead());
    return inner_.Scan(begin, end, limit, keys_only, fn);
  }

  void Put(std::string_view key, std::string_view value) override {
    wrote_ = true;
    inner_.Put(key, value);
  }

  void Delete(std::string_view key) override {
    wrote_ = true;
    inner_.Delete(key);
  }

  bool wrote() const { return wrote_; }

 private:
  Status MaybeFailRead() {
    if (!engine_.Inject(Kind::kRead)) return OkStatus();
    return Unavailable("injected fault: read from " + engine_.inner_->Describe() + " failed");
  }

  kv::Txn& inner_;
  FaultEngine& engine_;
  bool wrote_ = false;
};

FaultEngine::FaultEngine(std::shared_ptr<Engine> inner, FaultOptions options)
    : inner_(std::move(inner)), options_(options), rng_(options.seed) {}

Status FaultEngine::Txn(const std::function<Status(kv::Txn&)>& fn) {
  if (Inject(Kind::kCall)) {
    return Unavailable("injected fault: " + inner_->Describe() + " is unavailable");
  }
  bool wrote = false;  // by the last attempt, the one whose outcome is returned
  Status status = inner_->Txn([&](kv::Txn& txn) -> Status {
    FaultTxn faulty(txn, *this);
    Status s = fn(faulty);
    wrote = faulty.wrote();
    if (s.ok() && wrote && Inject(Kind::kConflict)) {
      return Conflict("injected fault: commit to " + inner_->Describe() + " conflicted");
    }
    return s;
  });
  if (status.ok() && wrote && Inject(Kind::kLostCommit)) {
    return Unavailable("injected fault: the transaction was committed to " + inner_->Describe() +
                       " but the reply was lost");
  }
  return status;
}

Status FaultEngine::View(const std::function<Status(kv::Txn&)>& fn) {
  if (Inject(Kind::kCall)) {
    return Unavailable("injected fault: " + inner_->Describe() + " is unavailable");
  }
  return inner_->View([&](kv::Txn& txn) {
    FaultTxn faulty(txn, *this);
    return fn(faulty);
  });
}

void FaultEngine::FailNextCalls(int n) {
  std::lock_guard lock(mu_);
  scripted_.calls = n;
}

void FaultEngine::FailNextReads(int n) {
  std::lock_guard lock(mu_);
  scripted_.reads = n;
}

void FaultEngine::FailNextCommits(int n) {
  std::lock_guard lock(mu_);
  scripted_.conflicts = n;
}

void FaultEngine::LoseNextCommits(int n) {
  std::lock_guard lock(mu_);
  scripted_.lost_commits = n;
}

void FaultEngine::SetOptions(const FaultOptions& options) {
  std::lock_guard lock(mu_);
  options_ = options;
  rng_.seed(options.seed);
}

FaultEngine::Injected FaultEngine::injected() const {
  std::lock_guard lock(mu_);
  return injected_;
}

bool FaultEngine::Inject(Kind kind) {
  std::lock_guard lock(mu_);
  int* scripted = nullptr;
  int* count = nullptr;
  double probability = 0;
  switch (kind) {
    case Kind::kCall:
      scripted = &scripted_.calls;
      count = &injected_.calls;
      probability = options_.call_failure_probability;
      break;
    case Kind::kRead:
      scripted = &scripted_.reads;
      count = &injected_.reads;
      probability = options_.read_failure_probability;
      break;
    case Kind::kConflict:
      scripted = &scripted_.conflicts;
      count = &injected_.conflicts;
      probability = options_.conflict_probability;
      break;
    case Kind::kLostCommit:
      scripted = &scripted_.lost_commits;
      count = &injected_.lost_commits;
      probability = options_.lost_commit_probability;
      break;
  }
  bool fail = false;
  if (*scripted > 0) {
    --*scripted;
    fail = true;
  } else if (probability > 0) {
    fail = std::uniform_real_distribution<double>(0, 1)(rng_) < probability;
  }
  if (fail) ++*count;
  return fail;
}

}  // namespace shoal::kv
