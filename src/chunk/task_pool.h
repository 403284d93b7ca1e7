// TaskPool: a bounded set of worker threads shared by many requests.
//
// The block store owns two, one for downloads and one for uploads, so that
// the number of concurrent requests to the object store is fixed by
// configuration, not by how many files are read or written at once.
//
// Two priorities: a worker always takes a queued kHigh task (a request that
// a caller waits for) before a kLow one (readahead, background uploads).
// Threads start on demand, when a task is queued and no worker is idle, up to
// the limit, so that a store that is never used costs no threads.
//
// Contract for tasks: a task must not wait for another task of the same pool
// (it could be queued behind it). The queue itself is not bounded here: every
// submitter bounds what it queues (see chunk.h for where the bounds live).
//
// Threading: Submit may be called from any thread, tasks included.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace shoal::chunk {

class TaskPool {
 public:
  enum class Priority { kHigh, kLow };

  // `name` (at most 15 characters) names the threads, for debuggers and top.
  // `threads` is clamped to at least 1.
  TaskPool(std::string name, int threads);
  // Runs every task still queued, then joins the workers. Nothing may Submit
  // once the destructor has started.
  ~TaskPool();

  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  // Queues `task`. False when the pool has no thread and none can be started
  // (the system is out of threads): the task was not queued and the caller
  // must run it itself or give up.
  bool Submit(std::function<void()> task, Priority priority);


 private:
  void Work();

  const std::string name_;
  const int max_threads_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> high_;  // guarded by mu_
  std::deque<std::function<void()>> low_;   // guarded by mu_
  std::vector<std::thread> workers_;        // guarded by mu_
  int idle_ = 0;                            // workers waiting for a task; guarded by mu_
  bool stop_ = false;                       // guarded by mu_
};

}  // namespace shoal::chunk
