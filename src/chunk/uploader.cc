#include "chunk/uploader.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <system_error>
#include <utility>

namespace shoal::chunk {

Uploader::Uploader(object::ObjectStore& store, cache::BlockCache* cache, TaskPool& pool,
                   TaskPool& background_pool, const BlockStoreOptions& options)
    : store_(store),
      cache_(cache),
      pool_(pool),
      background_pool_(background_pool),
      options_(options) {}

Uploader::~Uploader() { Stop(); }

// ---------------------------------------------------------------------------
// Foreground

Status Uploader::Write(uint64_t slice_id, const std::vector<Block>& blocks, Status* deferred) {
  // The tasks refer to this frame: it waits for every task it started.
  std::mutex mu;
  std::condition_variable done;
  size_t running = 0;
  Status first;      // the first failure, in completion order
  Status postponed;  // the first block staged after the store failed it
  for (const Block& b : blocks) {
    {
      std::lock_guard lock(mu);
      if (!first.ok()) break;  // stop early; what went up is the caller's to delete
      ++running;
    }
    AcquireBudget(b.data.size());
    auto task = [&, slice_id, block = &b] {
      Status late;
      Status st = StoreBlock(slice_id, *block, &late);
      ReleaseBudget(block->data.size());
      std::lock_guard lock(mu);
      if (!st.ok() && first.ok()) first = std::move(st);
      if (!late.ok() && postponed.ok()) postponed = std::move(late);
      if (--running == 0) done.notify_all();
    };
    if (!pool_.Submit(task, TaskPool::Priority::kHigh)) task();
  }
  std::unique_lock lock(mu);
  done.wait(lock, [&] { return running == 0; });
  if (deferred != nullptr && first.ok()) *deferred = std::move(postponed);
  return first;
}

Status Uploader::StoreBlock(uint64_t slice_id, const Block& b, Status* deferred) {
  if (options_.writeback) {
    Status staged = cache_->Stage(b.key, b.data);
    if (staged.ok()) {
      ++staged_;
      if (Enqueue(b.key)) return OkStatus();
      // No uploader thread: upload it now, as without write-back.
      Status st = Upload(slice_id, b);
      if (st.ok()) cache_->Uploaded(b.key);
      return st;
    }
    ++stage_fallbacks_;
    spdlog::debug("chunk: uploading block {} directly: {}", b.key, staged.ToString());
  }
  Status st = Upload(slice_id, b);
  if (st.ok() || cache_ == nullptr || !cache_->StagesDurably() ||
      (st.code() != Code::kUnavailable && st.code() != Code::kIo)) {
    return st;
  }
  // The store failed this block for its whole retry budget. A staged copy is
  // durable (DiskCache fsyncs it) and goes up with the background uploads.
  if (!cache_->Stage(b.key, b.data).ok()) return st;
  if (!Enqueue(b.key)) {
    cache_->Remove(b.key);  // nothing would upload it: not staged after all
    return st;
  }
  ++staged_;
  ++deferrals_;
  spdlog::error("chunk: {}; the block is kept in the cache and uploaded when the store is back",
                st.ToString());
  *deferred = std::move(st);
  return OkStatus();
}

Status Uploader::Upload(uint64_t slice_id, const Block& b) {
  Status st = store_.Put(b.key, b.data);
  if (!st.ok()) {
    ++upload_errors_;
    return st.Annotate("storing block " + std::to_string(b.index) + " of slice " +
                       std::to_string(slice_id) + " as " + b.key);
  }
  ++uploads_;
  uploaded_bytes_ += b.data.size();
  if (options_.cache_writes && cache_ != nullptr) cache_->Put(b.key, b.data);
  return OkStatus();
}

void Uploader::AcquireBudget(uint64_t bytes) {
  std::unique_lock lock(budget_mu_);
  budget_cv_.wait(lock, [&] {
    return in_flight_bytes_ == 0 || in_flight_bytes_ + bytes <= options_.upload_buffer_bytes;
  });
  in_flight_bytes_ += bytes;
  ++in_flight_blocks_;
}

void Uploader::ReleaseBudget(uint64_t bytes) {
  {
    std::lock_guard lock(budget_mu_);
    in_flight_bytes_ -= bytes;
    --in_flight_blocks_;
  }
  budget_cv_.notify_all();
}

// ---------------------------------------------------------------------------
// Background (write-back)

bool Uploader::Enqueue(const std::string& key) {
  std::lock_guard lock(mu_);
  if (stop_ || !StartLocked()) return false;
  auto [it, added] = entries_.try_emplace(key);
  if (added) ready_.push_back(key);
  wake_.notify_one();
  return true;
}

bool Uploader::StartLocked() {
  if (scheduler_.joinable()) return true;
  try {
    scheduler_ = std::thread([this] { Schedule(); });
    pthread_setname_np(scheduler_.native_handle(), "shoal-upload");
  } catch (const std::system_error& e) {
    spdlog::error("chunk: cannot start the write-back uploader thread: {}", e.what());
    return false;
  }
  return true;
}

size_t Uploader::Recover() {
  if (cache_ == nullptr) return 0;
  std::vector<std::string> keys = cache_->ListStaged();
  if (keys.empty()) return 0;
  std::lock_guard lock(mu_);
  if (stop_ || !StartLocked()) return 0;
  size_t added = 0;
  for (std::string& key : keys) {
    if (entries_.try_emplace(key).second) {
      ready_.push_back(std::move(key));
      ++added;
    }
  }
  wake_.notify_one();
  return added;
}

void Uploader::Schedule() {
  const int limit = std::max(options_.upload_concurrency, 1);
  std::unique_lock lock(mu_);
  while (!stop_) {
    const Clock::time_point now = Clock::now();
    while (!retry_.empty() && retry_.begin()->first <= now) {
      ready_.push_back(std::move(retry_.begin()->second));
      retry_.erase(retry_.begin());
    }
    while (active_ < limit && !ready_.empty()) {
      std::string key = std::move(ready_.front());
      ready_.pop_front();
      auto it = entries_.find(key);
      if (it == entries_.end() || it->second.uploading || it->second.unreadable) continue;
      it->second.uploading = true;
      ++active_;
      lock.unlock();
      if (!background_pool_.Submit([this, key] { UploadStaged(key); }, TaskPool::Priority::kLow)) {
        UploadStaged(key);
      }
      lock.lock();
    }
    if (stop_) break;
    if (retry_.empty()) {
      wake_.wait(lock);
    } else {
      wake_.wait_until(lock, retry_.begin()->first);
    }
  }
}

void Uploader::UploadStaged(const std::string& key) {
  bool stopping;
  {
    std::lock_guard lock(mu_);
    stopping = stop_;
  }
  Status st;
  bool unreadable = false;
  if (!stopping) {
    std::optional<std::string> data = cache_->Get(key);
    if (!data.has_value()) {
      unreadable = true;
      st = IoError("staged block " + key + " could not be read back from " + cache_->Describe() +
                   " (corrupt, or an I/O error); it stays staged and is not uploaded: check the " +
                   "cache's disk");
    } else {
      st = store_.Put(key, *data);
      if (st.ok()) {
        ++uploads_;
        uploaded_bytes_ += data->size();
        cache_->Uploaded(key);
      } else {
        ++upload_errors_;
        st = st.Annotate("uploading staged block " + key);
      }
    }
  }
  std::lock_guard lock(mu_);
  --active_;
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    Entry& e = it->second;
    e.uploading = false;
    if (stopping) {
      // Stays staged in the cache for the next start.
    } else if (st.ok() || e.forgotten) {
      entries_.erase(it);
    } else if (unreadable) {
      e.unreadable = true;
      e.last_error = st;
      spdlog::error("chunk: {}", st.ToString());
    } else {
      ++e.failures;
      e.last_error = st;
      std::chrono::milliseconds delay = Backoff(e.failures);
      spdlog::warn("chunk: {} (attempt {}; retrying in {} ms)", st.ToString(), e.failures,
                   delay.count());
      retry_.emplace(Clock::now() + delay, key);
    }
  }
  changed_.notify_all();
  wake_.notify_one();
}

std::chrono::milliseconds Uploader::Backoff(int failures) const {
  auto delay = std::max(options_.upload_retry_initial, std::chrono::milliseconds(1));
  for (int i = 1; i < failures && delay < options_.upload_retry_max; ++i) delay *= 2;
  return std::min(delay, std::max(options_.upload_retry_max, std::chrono::milliseconds(1)));
}

void Uploader::Forget(const std::string& key) {
  std::unique_lock lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  it->second.forgotten = true;
  changed_.wait(lock, [&] {
    auto e = entries_.find(key);
    return e == entries_.end() || !e->second.uploading;
  });
  entries_.erase(key);  // queued copies of the key are skipped when popped
  changed_.notify_all();
}

Status Uploader::Flush() {
  const int attempts = std::max(options_.flush_attempts, 1);
  std::unique_lock lock(mu_);
  // An explicit flush retries now, and counts its own attempts.
  for (auto& [key, e] : entries_) e.failures = 0;
  for (auto& [when, key] : retry_) ready_.push_back(std::move(key));
  retry_.clear();
  wake_.notify_one();
  auto settled = [&] {
    for (const auto& [key, e] : entries_) {
      if (!e.unreadable && e.failures < attempts) return false;
    }
    return true;
  };
  changed_.wait(lock, [&] { return stop_ || settled(); });
  if (entries_.empty()) return OkStatus();
  const Entry* worst = nullptr;
  const std::string* worst_key = nullptr;
  for (const auto& [key, e] : entries_) {
    if (worst == nullptr || (e.unreadable && !worst->unreadable)) {
      worst = &e;
      worst_key = &key;
    }
  }
  std::string why =
      worst->last_error.ok() ? "the block store is shutting down" : worst->last_error.ToString();
  return Status(worst->last_error.ok() ? Code::kUnavailable : worst->last_error.code(),
                std::to_string(entries_.size()) + " staged block(s) are not uploaded (e.g. " +
                    *worst_key + ": " + why +
                    "); they stay staged in the cache and are retried, also after a restart");
}

void Uploader::Stop() {
  std::thread scheduler;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    scheduler.swap(scheduler_);
  }
  wake_.notify_all();
  changed_.notify_all();
  if (scheduler.joinable()) scheduler.join();
}

void Uploader::FillStats(BlockStoreStats* s) const {
  s->uploads = uploads_;
  s->uploaded_bytes = uploaded_bytes_;
  s->upload_errors = upload_errors_;
  s->staged = staged_;
  s->stage_fallbacks = stage_fallbacks_;
  s->upload_deferrals = deferrals_;
  {
    std::lock_guard lock(budget_mu_);
    s->uploads_in_flight = in_flight_blocks_;
    s->upload_bytes_in_flight = in_flight_bytes_;
  }
  std::lock_guard lock(mu_);
  s->uploads_in_flight += static_cast<uint64_t>(active_);
  for (const auto& [key, e] : entries_) {
    if (e.unreadable) {
      ++s->staged_unreadable;
    } else {
      ++s->staged_pending;
    }
  }
}

}  // namespace shoal::chunk
