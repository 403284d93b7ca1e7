// shoal objbench: how fast an object store is, as shoal uses it. Small
// objects (4 KiB by default: metadata-sized files, small blocks) and large
// ones (4 MiB: a full block) are put, read back and checked, listed, and
// deleted by a pool of threads; each phase reports throughput and latency
// percentiles. Everything goes under a fresh prefix "objbench-<random>/",
// which is emptied again at the end, also after a failure.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/storage.h"
#include "fuse/info.h"
#include "object/object_store.h"

namespace shoal::cli {
namespace {

constexpr std::string_view kCmd = "objbench";

using Clock = std::chrono::steady_clock;

// Bounds that keep a typo from filling the disk or the memory: each thread
// holds up to two large objects.
constexpr uint64_t kMaxCount = 10'000'000;
constexpr uint64_t kMaxLargeSize = 256ull << 20;
constexpr unsigned kMaxThreads = 256;
// Keys per listing request; S3 returns at most 1000, and smaller pages give
// more requests to time.
constexpr size_t kListPage = 100;
// How often the progress line is redrawn.
constexpr std::chrono::milliseconds kProgressPeriod(200);

// One measured phase.
struct PhaseResult {
  std::string op;     // put, head, get, list, delete
  uint64_t size = 0;  // bytes per object; 0 for list
  uint64_t objects = 0;
  uint64_t requests = 0;
  uint64_t bytes = 0;  // payload moved
  double seconds = 0;
  std::vector<double> latencies_ms;  // sorted

  double Percentile(double p) const { return NearestRank(latencies_ms, p); }
  double OpsPerSec() const { return seconds > 0 ? static_cast<double>(requests) / seconds : 0; }
  double MibPerSec() const {
    return seconds > 0 ? static_cast<double>(bytes) / (1 << 20) / seconds : 0;
  }
};

// The bytes of object `index` of one size class: a random base shared by the
// class, with the index in the first 8 bytes so that every object differs.
class Payload {
 public:
  Payload(uint64_t size, uint64_t seed) : base_(size, '\0') {
    std::mt19937_64 rng(seed);
    for (size_t i = 0; i < base_.size(); i += 8) {
      uint64_t v = rng();
      for (size_t b = 0; b < 8 && i + b < base_.size(); ++b) {
        base_[i + b] = static_cast<char>(v >> (8 * b));
      }
    }
  }
  std::string For(uint64_t index) const {
    std::string out = base_;
    for (size_t b = 0; b < 8 && b < out.size(); ++b) out[b] = static_cast<char>(index >> (8 * b));
    return out;
  }
  bool Matches(uint64_t index, std::string_view got) const {
    if (got.size() != base_.size()) return false;
    size_t head = std::min<size_t>(8, got.size());
    for (size_t b = 0; b < head; ++b) {
      if (got[b] != static_cast<char>(index >> (8 * b))) return false;
    }
    return got.substr(head) == std::string_view(base_).substr(head);
  }

 private:
  std::string base_;
};

std::string FormatLatency(double ms) {
  char buf[32];
  if (ms < 1) {
    std::snprintf(buf, sizeof(buf), "%.0f µs", ms * 1000);
  } else if (ms < 1000) {
    std::snprintf(buf, sizeof(buf), "%.1f ms", ms);
  } else {
    std::snprintf(buf, sizeof(buf), "%.2f s", ms / 1000);
  }
  return buf;
}

std::string FormatRate(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), v < 10 ? "%.2f" : "%.1f", v);
  return buf;
}

class Bench {
 public:
  Bench(object::ObjectStore& store, std::string prefix, unsigned threads, bool progress)
      : store_(store), prefix_(std::move(prefix)), threads_(threads), progress_(progress) {}

  std::string Key(std::string_view cls, uint64_t i) const {
    return prefix_ + std::string(cls) + "/" + std::to_string(i);
  }

  // Runs op(i) for i in [0, count) on the pool; each call returns the bytes
  // it moved. Stops at the first failure and returns it.
  Result<PhaseResult> Run(std::string op, std::string label, uint64_t size, uint64_t count,
                          const std::function<Result<uint64_t>(uint64_t)>& fn) {
    PhaseResult result;
    result.op = std::move(op);
    result.size = size;
    std::atomic<uint64_t> next{0};
    std::atomic<uint64_t> done{0};
    std::atomic<uint64_t> bytes{0};
    std::atomic<bool> stop{false};
    std::mutex mu;
    std::condition_variable finished;
    Status first_error;
    std::vector<std::vector<double>> latencies(threads_);
    unsigned running = threads_;

    auto worker = [&](unsigned t) {
      for (;;) {
        if (stop.load()) break;
        uint64_t i = next.fetch_add(1);
        if (i >= count) break;
        auto start = Clock::now();
        Result<uint64_t> moved = fn(i);
        double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
        if (!moved) {
          std::lock_guard lock(mu);
          if (first_error.ok()) first_error = moved.error();
          stop = true;
          break;
        }
        latencies[t].push_back(ms);
        bytes += *moved;
        ++done;
      }
      std::lock_guard lock(mu);
      if (--running == 0) finished.notify_all();
    };

    auto start = Clock::now();
    std::vector<std::thread> pool;
    pool.reserve(threads_);
    for (unsigned t = 0; t < threads_; ++t) pool.emplace_back(worker, t);
    {
      std::unique_lock lock(mu);
      while (!finished.wait_for(lock, kProgressPeriod, [&] { return running == 0; })) {
        if (progress_) ShowProgress(label, done.load(), count);
      }
    }
    for (std::thread& th : pool) th.join();
    result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (progress_) ShowProgress(label, done.load(), count);
    if (!first_error.ok()) return first_error;

    for (auto& v : latencies) {
      result.latencies_ms.insert(result.latencies_ms.end(), v.begin(), v.end());
    }
    std::sort(result.latencies_ms.begin(), result.latencies_ms.end());
    result.requests = result.latencies_ms.size();
    result.objects = count;
    result.bytes = bytes.load();
    return result;
  }

  // Lists the class's objects page by page, one full pass per thread.
  Result<PhaseResult> List(std::string_view cls, uint64_t count) {
    // The pool runs `threads_` passes at once, each a sequence of page
    // requests; every page is one latency sample.
    if (progress_) ShowProgress("list " + std::string(cls), 0, threads_);
    PhaseResult result;
    result.op = "list";
    std::mutex mu;
    Status first_error;
    std::vector<double> all;
    auto start = Clock::now();
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads_; ++t) {
      pool.emplace_back([&] {
        std::vector<double> mine;
        uint64_t keys = 0;
        object::ListOptions options;
        options.prefix = prefix_ + std::string(cls) + "/";
        options.limit = kListPage;
        for (;;) {
          auto t0 = Clock::now();
          Result<object::ListResult> page = store_.List(options);
          mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
          if (!page) {
            std::lock_guard lock(mu);
            if (first_error.ok()) first_error = page.error();
            return;
          }
          keys += page->objects.size();
          if (!page->truncated) break;
          if (page->next_start_after.empty()) {
            std::lock_guard lock(mu);
            if (first_error.ok()) {
              first_error = IoError(
                  "a listing said it was truncated but gave no key to go on "
                  "from");
            }
            return;
          }
          options.start_after = page->next_start_after;
        }
        std::lock_guard lock(mu);
        all.insert(all.end(), mine.begin(), mine.end());
        if (keys != count && first_error.ok()) {
          first_error = IoError("listing found " + std::to_string(keys) + " of the " +
                                std::to_string(count) + " objects written");
        }
      });
    }
    for (std::thread& th : pool) th.join();
    result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (!first_error.ok()) return first_error;
    std::sort(all.begin(), all.end());
    result.latencies_ms = std::move(all);
    result.requests = result.latencies_ms.size();
    // Every pass saw all `count` (checked above); requests are the pages.
    result.objects = count;
    return result;
  }

  void EndProgress() {
    if (progress_ && drawn_) std::cerr << "\r\033[K" << std::flush;
  }

 private:
  void ShowProgress(const std::string& label, uint64_t done, uint64_t count) {
    drawn_ = true;
    std::cerr << "\r\033[Kobjbench: " << label << "  " << done << "/" << count << std::flush;
  }

  object::ObjectStore& store_;
  std::string prefix_;
  unsigned threads_;
  bool progress_;
  bool drawn_ = false;
};

// Deletes every object under `prefix`. Best effort: returns how many are
// left (0 when all went), so that the caller can say where they are.
uint64_t RemoveAll(object::ObjectStore& store, const std::string& prefix) {
  object::ListOptions options;
  options.prefix = prefix;
  uint64_t left = 0;
  for (int round = 0; round < 3; ++round) {
    left = 0;
    options.start_after.clear();
    bool failed = false;
    for (;;) {
      Result<object::ListResult> page = store.List(options);
      if (!page) {
        failed = true;
        break;
      }
      for (const object::ObjectInfo& o : page->objects) {
        if (!store.Delete(o.key).ok()) ++left;
      }
      if (!page->truncated || page->next_start_after.empty()) break;
      options.start_after = page->next_start_after;
    }
    if (!failed && left == 0) return 0;
    if (failed) left = std::max<uint64_t>(left, 1);
  }
  return left;
}

struct Plan {
  StoreSpec spec;
  uint64_t small_size = 0;
  uint64_t large_size = 0;
};

Result<Plan> Validate(const ObjbenchArgs& a, const EnvLookup& env) {
  Plan plan;
  plan.spec.storage = a.storage;
  ASSIGN_OR_RETURN(plan.spec.io, ResolveIoPolicy(a.store));
  if (a.storage == "s3") {
    if (auto parsed = ParseS3Bucket(a.bucket); !parsed) return parsed.error();
    ASSIGN_OR_RETURN(plan.spec.credentials, ResolveCredentials(a.store, env, nullptr));
    if (plan.spec.credentials.empty()) {
      return Invalid(
          "storage s3 needs credentials: give --access-key and --secret-key, or set "
          "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
    }
    plan.spec.bucket = CanonicalBucket(a.bucket);
    plan.spec.region = ResolveRegion(plan.spec.bucket, a.store.region, env, /*use_env=*/true);
  } else if (a.storage == "file") {
    if (a.bucket.empty()) {
      return Invalid("--bucket is required for storage file: give a directory to measure");
    }
    plan.spec.bucket = a.bucket;
  } else if (a.storage != "mem") {
    return Invalid("storage '" + a.storage + "' is unknown: use " + std::string(kStorageKinds));
  }
  if (a.storage != "s3" &&
      (!a.store.access_key.empty() || !a.store.secret_key.empty() || !a.store.region.empty())) {
    return Invalid("--access-key, --secret-key and --region are for --storage s3 only");
  }
  if (a.threads == 0 || a.threads > kMaxThreads) {
    return Invalid("--threads " + std::to_string(a.threads) + " is out of range: give 1 to " +
                   std::to_string(kMaxThreads));
  }
  if (a.small_count > kMaxCount || a.large_count > kMaxCount) {
    return Invalid("--small-count and --large-count take at most " + std::to_string(kMaxCount));
  }
  if (a.small_count == 0 && a.large_count == 0) {
    return Invalid("--small-count and --large-count are both 0: nothing to measure");
  }
  ASSIGN_OR_RETURN(plan.small_size, ParseSize(a.small_size, "--small-size"));
  ASSIGN_OR_RETURN(plan.large_size, ParseSize(a.large_size, "--large-size"));
  for (auto [size, name] :
       {std::pair{plan.small_size, "--small-size"}, std::pair{plan.large_size, "--large-size"}}) {
    if (size == 0 || size > kMaxLargeSize) {
      return Invalid(std::string(name) + " " + FormatBytes(size) +
                     " is out of range: give 1 byte to " + FormatBytes(kMaxLargeSize));
    }
  }
  return plan;
}

// The phases of one size class: put, head, get (checked), list, delete.
Status RunClass(Bench& bench, std::string_view cls, uint64_t size, uint64_t count, uint64_t seed,
                bool with_list, object::ObjectStore& store, std::vector<PhaseResult>& out) {
  if (count == 0) return OkStatus();
  Payload payload(size, seed);
  std::string label = FormatBytes(size);
  auto key = [&](uint64_t i) { return bench.Key(cls, i); };
  auto add = [&](Result<PhaseResult> r) -> Status {
    if (!r) return r.error();
    out.push_back(std::move(*r));
    return OkStatus();
  };

  RETURN_IF_ERROR(
      add(bench.Run("put", "put " + label, size, count, [&](uint64_t i) -> Result<uint64_t> {
        RETURN_IF_ERROR(store.Put(key(i), payload.For(i)));
        return size;
      })));
  RETURN_IF_ERROR(
      add(bench.Run("head", "head " + label, size, count, [&](uint64_t i) -> Result<uint64_t> {
        ASSIGN_OR_RETURN(object::ObjectInfo info, store.Head(key(i)));
        if (info.size != size) {
          return IoError("head of " + key(i) + " says " + std::to_string(info.size) +
                         " bytes, not " + std::to_string(size));
        }
        return uint64_t{0};
      })));
  RETURN_IF_ERROR(
      add(bench.Run("get", "get " + label, size, count, [&](uint64_t i) -> Result<uint64_t> {
        ASSIGN_OR_RETURN(std::string got, store.Get(key(i)));
        if (!payload.Matches(i, got)) {
          return Corrupt("get of " + key(i) + " returned " + std::to_string(got.size()) +
                         " bytes that differ from what was put");
        }
        return size;
      })));
  if (with_list) {
    Result<PhaseResult> listed = bench.List(cls, count);
    if (!listed) return listed.error();
    listed->size = 0;
    out.push_back(std::move(*listed));
  }
  RETURN_IF_ERROR(
      add(bench.Run("delete", "delete " + label, size, count, [&](uint64_t i) -> Result<uint64_t> {
        RETURN_IF_ERROR(store.Delete(key(i)));
        return uint64_t{0};
      })));
  return OkStatus();
}

nlohmann::json ToJson(const PhaseResult& r) {
  return {{"op", r.op},
          {"object_size", r.size},
          {"objects", r.objects},
          {"requests", r.requests},
          {"bytes", r.bytes},
          {"seconds", r.seconds},
          {"ops_per_sec", r.OpsPerSec()},
          {"mib_per_sec", r.MibPerSec()},
          {"latency_ms",
           {{"p50", r.Percentile(0.50)},
            {"p90", r.Percentile(0.90)},
            {"p99", r.Percentile(0.99)},
            {"max", r.latencies_ms.empty() ? 0.0 : r.latencies_ms.back()}}}};
}

void PrintTable(const std::vector<PhaseResult>& results) {
  auto pad = [](std::string s, size_t w) { return PadColumn(std::move(s), w, true); };
  auto lpad = [](std::string s, size_t w) { return PadColumn(std::move(s), w, false); };
  std::cout << pad("op", 8) << pad("size", 10) << lpad("objects", 9) << lpad("requests", 10)
            << lpad("MiB/s", 10) << lpad("ops/s", 10) << lpad("p50", 11) << lpad("p99", 11) << "\n";
  for (const PhaseResult& r : results) {
    bool moves_data = r.op == "put" || r.op == "get";
    std::cout << pad(r.op, 8) << pad(r.size == 0 ? "-" : FormatBytes(r.size), 10)
              << lpad(std::to_string(r.objects), 9) << lpad(std::to_string(r.requests), 10)
              << lpad(moves_data ? FormatRate(r.MibPerSec()) : "-", 10)
              << lpad(FormatRate(r.OpsPerSec()), 10) << lpad(FormatLatency(r.Percentile(0.50)), 11)
              << lpad(FormatLatency(r.Percentile(0.99)), 11) << "\n";
  }
}

}  // namespace

int RunObjbench(const ObjbenchArgs& a) {
  Result<Plan> plan = Validate(a, ProcessEnv());
  if (!plan) {
    PrintError(kCmd, plan.error());
    return kExitError;
  }
  Result<std::shared_ptr<object::ObjectStore>> opened =
      OpenStore(plan->spec, /*create_bucket=*/true);
  if (!opened) {
    PrintError(kCmd, opened.error());
    return kExitError;
  }
  object::ObjectStore& store = **opened;

  std::random_device rd;
  uint64_t seed = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  char tag[17];
  std::snprintf(tag, sizeof(tag), "%016llx", static_cast<unsigned long long>(seed));
  std::string prefix = "objbench-" + std::string(tag) + "/";
  bool progress = !a.json && ::isatty(STDERR_FILENO) == 1;
  Bench bench(store, prefix, a.threads, progress);

  std::vector<PhaseResult> results;
  Status s = RunClass(bench, "small", plan->small_size, a.small_count, seed, /*with_list=*/true,
                      store, results);
  if (s.ok()) {
    s = RunClass(bench, "large", plan->large_size, a.large_count, seed + 1,
                 /*with_list=*/a.small_count == 0, store, results);
  }
  bench.EndProgress();
  uint64_t left = RemoveAll(store, prefix);
  if (!s.ok()) {
    PrintError(kCmd, ExplainStoreError(plan->spec, "measuring " + store.Describe() + " failed", s));
    if (left != 0) {
      PrintError(kCmd, "some objects under '" + prefix +
                           "' could not be deleted: remove them "
                           "by hand");
    }
    return kExitError;
  }
  if (left != 0) {
    std::cerr << "shoal objbench: warning: " << left << " objects under '" << prefix
              << "' could not be deleted: remove them by hand\n";
  }

  if (a.json) {
    nlohmann::json j = {{"store", store.Describe()},
                        {"threads", a.threads},
                        {"prefix", prefix},
                        {"results", nlohmann::json::array()}};
    for (const PhaseResult& r : results) j["results"].push_back(ToJson(r));
    std::cout << fuse::DumpJson(j, 2) << "\n";
    return kExitOk;
  }
  std::cout << "objbench of " << store.Describe() << " with " << a.threads
            << (a.threads == 1 ? " thread" : " threads") << " (objects under " << prefix
            << ", deleted again)\n";
  PrintTable(results);
  return kExitOk;
}

}  // namespace shoal::cli
