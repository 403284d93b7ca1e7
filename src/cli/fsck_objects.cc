#include "cli/fsck_objects.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace shoal::cli {
namespace {

// How often the calling thread reports progress while workers Head objects.
constexpr auto kProgressTick = std::chrono::milliseconds(200);
// Objects asked for per List request.
constexpr size_t kListPage = 1000;

template <typename T>
bool ParseNumber(std::string_view s, T* out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string SliceText(const meta::FsckSliceRef& r) {
  return "slice " + std::to_string(r.id) + " (chunk " + std::to_string(r.chunk) + " of inode " +
         std::to_string(r.ino) + ")";
}

// Heads every block of the referenced slices, `threads` at a time.
Status CheckBlocks(chunk::BlockStore& blocks, const ObjectCheckOptions& options,
                   const StillReferenced& still_referenced, meta::FsckReport& report,
                   const meta::FsckProgress& progress) {
  if (blocks.block_size() == 0) return Internal("the block store was made with block size 0");
  // One check per distinct slice; report.slices is sorted by id.
  std::vector<meta::FsckSliceRef> slices;
  for (const meta::FsckSliceRef& r : report.slices) {
    if (!slices.empty() && slices.back().id == r.id && slices.back().size == r.size) continue;
    slices.push_back(r);
  }
  uint64_t total = 0;
  for (const meta::FsckSliceRef& r : slices) {
    total += blocks.BlockCount(r.size);
  }

  std::atomic<size_t> next{0};
  std::atomic<uint64_t> done{0};
  std::atomic<bool> failed{false};
  std::mutex mu;  // guards found and failure
  std::vector<meta::FsckProblem> found;
  Status failure;
  auto work = [&] {
    for (size_t i = next++; i < slices.size() && !failed.load(); i = next++) {
      const meta::FsckSliceRef& r = slices[i];
      std::vector<std::string> keys = blocks.SliceKeys(r.id, r.size);
      for (uint32_t index = 0; index < keys.size(); ++index) {
        const std::string& key = keys[index];
        const uint32_t length = blocks.BlockLength(r.size, index);
        Result<object::ObjectInfo> info = blocks.store().Head(key);
        ++done;
        if (info.has_value() && info->size == length) continue;
        if (!info.has_value() && info.error().code() != Code::kNotFound) {
          std::lock_guard lock(mu);
          if (failure.ok()) failure = info.error().Annotate("checking object " + key);
          failed = true;
          return;
        }
        // A slice that a live client freed after the metadata snapshot is
        // not a loss: ask again before reporting.
        if (still_referenced && !still_referenced(r.ino, r.chunk, r.id)) continue;
        meta::FsckProblem p;
        p.ino = r.ino;
        p.where = key;
        if (!info.has_value()) {
          p.kind = meta::FsckKind::kMissingObject;
          p.what = "block " + std::to_string(index) + " of " + SliceText(r) +
                   " is missing: reads of those bytes fail";
        } else {
          p.kind = meta::FsckKind::kDamagedObject;
          p.what = "block " + std::to_string(index) + " of " + SliceText(r) + " has " +
                   std::to_string(info->size) + " bytes instead of " + std::to_string(length);
        }
        if (options.repair) p.repair = "not repairable: the data is gone; restore it from a copy";
        std::lock_guard lock(mu);
        found.push_back(std::move(p));
      }
    }
  };

  unsigned wanted = std::max(1u, std::min<unsigned>(options.threads, slices.size()));
  std::mutex running_mu;
  std::condition_variable running_cv;
  unsigned running = 0;  // guarded by running_mu
  std::vector<std::thread> workers;
  workers.reserve(wanted);
  try {
    while (workers.size() < wanted) {
      std::lock_guard lock(running_mu);
      workers.emplace_back([&] {
        work();
        std::lock_guard done_lock(running_mu);
        if (--running == 0) running_cv.notify_all();
      });
      ++running;
    }
  } catch (const std::system_error&) {
    // Fewer threads than asked: the ones started do the work.
  }
  if (workers.empty()) work();
  {
    // The calling thread reports progress until the workers are done.
    std::unique_lock lock(running_mu);
    while (running > 0) {
      if (progress) progress("objects", done.load(), total);
      running_cv.wait_for(lock, kProgressTick, [&] { return running == 0; });
    }
  }
  for (std::thread& t : workers) t.join();
  if (progress) progress("objects", done.load(), total);

  report.counts.objects_checked += done.load();
  // Sorted so that the report does not depend on thread timing.
  std::sort(found.begin(), found.end(), [](const meta::FsckProblem& a, const meta::FsckProblem& b) {
    return a.where < b.where;
  });
  for (meta::FsckProblem& p : found) report.Add(std::move(p));
  return failure;
}

// Lists the volume's objects and reports those no slice refers to.
Status FindLeaks(chunk::BlockStore& blocks, std::string_view volume,
                 const ObjectCheckOptions& options, meta::FsckReport& report,
                 const meta::FsckProgress& progress) {
  // Every (id, size) whose objects belong to the volume, sorted.
  std::vector<std::pair<uint64_t, uint32_t>> known;
  known.reserve(report.slices.size() + report.pending.size());
  for (const auto& r : report.slices) known.emplace_back(r.id, r.size);
  for (const auto& r : report.pending) known.emplace_back(r.id, r.size);
  std::sort(known.begin(), known.end());
  known.erase(std::unique(known.begin(), known.end()), known.end());
  auto referenced = [&](const std::string& key) {
    uint64_t id = 0;
    uint32_t index = 0, length = 0;
    if (!ParseBlockKey(key, &id, &index, &length)) return false;
    auto it = std::lower_bound(known.begin(), known.end(), std::make_pair(id, uint32_t{0}));
    for (; it != known.end() && it->first == id; ++it) {
      // The name must be exactly what the slice's block is called (the
      // hash directory and the length included).
      if (index < blocks.BlockCount(it->second) && blocks.BlockKey(id, it->second, index) == key) {
        return true;
      }
    }
    return false;
  };

  const int64_t now_ns = NowNs();
  const int64_t leak_age_ns = options.leak_age_sec * 1'000'000'000;
  object::ListOptions list;
  list.prefix = std::string(volume) + "/chunks/";
  list.limit = kListPage;
  uint64_t listed = 0;
  for (;;) {
    Result<object::ListResult> page = blocks.store().List(list);
    if (!page.has_value()) {
      return page.error().Annotate("listing the volume's objects under " + list.prefix);
    }
    for (const object::ObjectInfo& o : page->objects) {
      ++listed;
      if (referenced(o.key)) continue;
      meta::FsckProblem p;
      p.kind = meta::FsckKind::kLeakedObject;
      p.where = o.key;
      std::string size = std::to_string(o.size) + " bytes";
      // List gives each object's modification time; a store that gives none
      // (0) leaves the age unknown, and such an object is never deleted.
      int64_t age_ns = o.mtime_ns > 0 ? now_ns - o.mtime_ns : -1;
      if (age_ns < 0 || age_ns < leak_age_ns) {
        p.severity = meta::FsckSeverity::kWarning;
        p.what = size + ", no slice refers to it, but it is " +
                 (age_ns < 0 ? std::string("of unknown age")
                             : "only " + std::to_string(age_ns / 1'000'000'000) + " s old") +
                 ": it may be an upload whose metadata is not committed yet";
        if (options.repair) p.repair = "left alone: younger than the leak age";
      } else {
        p.what = size + ", " + std::to_string(age_ns / 1'000'000'000) +
                 " s old, and no slice refers to it";
        if (options.repair) {
          Status s = blocks.store().Delete(o.key);
          p.repaired = s.ok();
          p.repair = s.ok() ? "deleted" : "delete failed: " + s.message();
        }
      }
      report.Add(std::move(p));
    }
    if (progress) progress("listing", listed, 0);
    if (!page->truncated || page->next_start_after.empty()) break;
    list.start_after = page->next_start_after;
  }
  report.counts.objects_listed += listed;
  return OkStatus();
}

}  // namespace

bool ParseBlockKey(std::string_view key, uint64_t* id, uint32_t* index, uint32_t* length) {
  size_t slash = key.rfind('/');
  std::string_view name = slash == std::string_view::npos ? key : key.substr(slash + 1);
  size_t a = name.find('_');
  if (a == std::string_view::npos) return false;
  size_t b = name.find('_', a + 1);
  if (b == std::string_view::npos) return false;
  return ParseNumber(name.substr(0, a), id) && ParseNumber(name.substr(a + 1, b - a - 1), index) &&
         ParseNumber(name.substr(b + 1), length);
}

Status CheckObjects(chunk::BlockStore& blocks, std::string_view volume,
                    const ObjectCheckOptions& options, const StillReferenced& still_referenced,
                    meta::FsckReport& report, const meta::FsckProgress& progress) {
  RETURN_IF_ERROR(CheckBlocks(blocks, options, still_referenced, report, progress));
  return FindLeaks(blocks, volume, options, report, progress);
}

}  // namespace shoal::cli
