#include "object/fault_store.h"

#include <utility>

namespace shoal::object {
namespace {

std::string_view OpName(FaultStore::Op op) {
  switch (op) {
    case FaultStore::Op::kPut:
      return "put";
    case FaultStore::Op::kGet:
      return "get";
    case FaultStore::Op::kHead:
      return "head";
    case FaultStore::Op::kDelete:
      return "delete";
    case FaultStore::Op::kList:
      return "list";
  }
  return "?";
}

}  // namespace

FaultStore::FaultStore(std::shared_ptr<ObjectStore> base, uint64_t seed)
    : base_(std::move(base)), random_(seed) {}

void FaultStore::SetFailureRate(Op op, double probability, Fault fault) {
  std::lock_guard lock(mu_);
  OpState& s = ops_[static_cast<size_t>(op)];
  s.probability = probability;
  s.random_fault = fault;
}

void FaultStore::FailNext(Op op, int count, Fault fault) {
  std::lock_guard lock(mu_);
  OpState& s = ops_[static_cast<size_t>(op)];
  s.fail_next = count;
  s.next_fault = fault;
}

void FaultStore::SetGetHook(GetHook hook) {
  std::lock_guard lock(mu_);
  get_hook_ = std::move(hook);
}

void FaultStore::Clear() {
  std::lock_guard lock(mu_);
  for (OpState& s : ops_) {
    s.probability = 0;
    s.fail_next = 0;
  }
  get_hook_ = nullptr;
}

uint64_t FaultStore::calls(Op op) const {
  std::lock_guard lock(mu_);
  return ops_[static_cast<size_t>(op)].calls;
}

uint64_t FaultStore::injected(Op op) const {
  std::lock_guard lock(mu_);
  return ops_[static_cast<size_t>(op)].injected;
}

FaultStore::GetHook FaultStore::Truncate(size_t max_size) {
  return [max_size](std::string_view, std::string* data) {
    if (data->size() > max_size) data->resize(max_size);
  };
}

FaultStore::GetHook FaultStore::FlipByte(size_t index) {
  return [index](std::string_view, std::string* data) {
    if (data->empty()) return;
    size_t i = index < data->size() ? index : data->size() - 1;
    (*data)[i] = static_cast<char>(~(*data)[i]);
  };
}

std::optional<FaultStore::Fault> FaultStore::Decide(Op op) {
  std::lock_guard lock(mu_);
  OpState& s = ops_[static_cast<size_t>(op)];
  ++s.calls;
  std::optional<Fault> fault;
  if (s.fail_next > 0) {
    --s.fail_next;
    fault = s.next_fault;
  } else if (s.probability > 0 &&
             std::uniform_real_distribution<double>(0, 1)(random_) < s.probability) {
    fault = s.random_fault;
  }
  if (fault) ++s.injected;
  return fault;
}

Status FaultStore::Injected(const Fault& fault, Op op, std::string_view key) const {
  std::string m = "fault store over " + base_->Describe() + ": " + std::string(OpName(op));
  m += op == Op::kList ? " prefix '" : " '";
  m += key;
  m += "'";
  m += ": injected failure";
  if (fault.after_effect) m += " (after the operation took effect)";
  return Status(fault.code, std::move(m));
}

std::string FaultStore::Describe() const { return "fault(" + base_->Describe() + ")"; }

Status FaultStore::Put(std::string_view key, std::string_view data) {
  std::optional<Fault> fault = Decide(Op::kPut);
  if (!fault) return base_->Put(key, data);
  if (fault->after_effect) RETURN_IF_ERROR(base_->Put(key, data));
  return Injected(*fault, Op::kPut, key);
}

Result<std::string> FaultStore::Get(std::string_view key, uint64_t offset, uint64_t length) {
  if (std::optional<Fault> fault = Decide(Op::kGet)) return Injected(*fault, Op::kGet, key);
  Result<std::string> data = base_->Get(key, offset, length);
  if (data.has_value()) {
    GetHook hook;
    {
      std::lock_guard lock(mu_);
      hook = get_hook_;
    }
    if (hook) hook(key, &*data);
  }
  return data;
}

Result<ObjectInfo> FaultStore::Head(std::string_view key) {
  if (std::optional<Fault> fault = Decide(Op::kHead)) return Injected(*fault, Op::kHead, key);
  return base_->Head(key);
}

Status FaultStore::Delete(std::string_view key) {
  std::optional<Fault> fault = Decide(Op::kDelete);
  if (!fault) return base_->Delete(key);
  if (fault->after_effect) RETURN_IF_ERROR(base_->Delete(key));
  return Injected(*fault, Op::kDelete, key);
}

Result<ListResult> FaultStore::List(const ListOptions& options) {
  if (std::optional<Fault> fault = Decide(Op::kList))
    return Injected(*fault, Op::kList, options.prefix);
  return base_->List(options);
}

}  // namespace shoal::object
