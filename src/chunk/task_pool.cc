#include "chunk/task_pool.h"

#include <pthread.h>

#include <algorithm>
#include <system_error>
#include <utility>

namespace shoal::chunk {

TaskPool::TaskPool(std::string name, int threads)
    : name_(std::move(name)), max_threads_(std::max(threads, 1)) {}

TaskPool::~TaskPool() {
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    workers.swap(workers_);
  }
  wake_.notify_all();
  for (std::thread& t : workers) t.join();
}

bool TaskPool::Submit(std::function<void()> task, Priority priority) {
  std::unique_lock lock(mu_);
  (priority == Priority::kHigh ? high_ : low_).push_back(std::move(task));
  // Every queued task beyond the idle workers wants a thread of its own.
  const size_t queued = high_.size() + low_.size();
  if (queued > static_cast<size_t>(idle_) && workers_.size() < static_cast<size_t>(max_threads_)) {
    try {
      workers_.emplace_back([this] { Work(); });
      pthread_setname_np(workers_.back().native_handle(), name_.substr(0, 15).c_str());
    } catch (const std::system_error&) {
      if (workers_.empty()) {
        // Nobody would ever run it.
        (priority == Priority::kHigh ? high_ : low_).pop_back();
        return false;
      }
      // The workers there are will get to it.
    }
  }
  lock.unlock();
  wake_.notify_one();
  return true;
}

void TaskPool::Work() {
  std::unique_lock lock(mu_);
  while (true) {
    if (high_.empty() && low_.empty()) {
      if (stop_) return;
      ++idle_;
      wake_.wait(lock, [&] { return stop_ || !high_.empty() || !low_.empty(); });
      --idle_;
      continue;
    }
    std::deque<std::function<void()>>& from = high_.empty() ? low_ : high_;
    std::function<void()> task = std::move(from.front());
    from.pop_front();
    lock.unlock();
    task();
    task = nullptr;  // destroy what it captured before taking the lock again
    lock.lock();
  }
}

}  // namespace shoal::chunk
