// Helpers shared by the chunk layer's tests.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>

#include "cache/test_util.h"
#include "common/status.h"
#include "object/object_store.h"

namespace shoal::chunk::testing {

// Wraps a store (a MemStore in tests) and records what it was asked: GETs
// per key, the ranges read, how many PUTs and how many bytes of PUTs ran at
// once. It can slow calls down, hold GETs back until released, and fail
// chosen PUTs.
class RecordingStore : public object::ObjectStore {
 public:
  explicit RecordingStore(std::shared_ptr<object::ObjectStore> base) : base_(std::move(base)) {}

  std::string Describe() const override { return "recording(" + base_->Describe() + ")"; }

  Status Put(std::string_view key, std::string_view data) override {
    std::chrono::milliseconds delay;
    {
      std::unique_lock lock(mu_);
      auto fail = fail_puts_.find(std::string(key));
      if (fail != fail_puts_.end() && fail->second != 0) {
        if (fail->second > 0) --fail->second;
        ++failed_puts_;
        return IoError("put of " + std::string(key) + " failed on purpose");
      }
      if (fail_all_puts_) {
        ++failed_puts_;
        return Unavailable("the store is down on purpose; put of " + std::string(key));
      }
      ++puts_in_flight_;
      put_bytes_in_flight_ += data.size();
      max_puts_in_flight_ = std::max(max_puts_in_flight_, puts_in_flight_);
      max_put_bytes_in_flight_ = std::max(max_put_bytes_in_flight_, put_bytes_in_flight_);
      changed_.notify_all();
      changed_.wait(lock, [&] { return !hold_puts_; });
      delay = put_delay_;
    }
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    Status st = base_->Put(key, data);
    std::lock_guard lock(mu_);
    --puts_in_flight_;
    put_bytes_in_flight_ -= data.size();
    if (st.ok()) ++puts_;
    changed_.notify_all();
    return st;
  }

  Result<std::string> Get(std::string_view key, uint64_t offset, uint64_t length) override {
    std::chrono::milliseconds delay;
    {
      std::unique_lock lock(mu_);
      ++gets_;
      ++gets_of_[std::string(key)];
      ++gets_in_flight_;
      max_gets_in_flight_ = std::max(max_gets_in_flight_, gets_in_flight_);
      changed_.notify_all();
      changed_.wait(lock, [&] { return !hold_gets_; });
      delay = get_delay_;
    }
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    Result<std::string> got = base_->Get(key, offset, length);
    std::lock_guard lock(mu_);
    --gets_in_flight_;
    if (got.has_value()) bytes_read_ += got->size();
    changed_.notify_all();
    return got;
  }

  Result<object::ObjectInfo> Head(std::string_view key) override { return base_->Head(key); }
  Status Delete(std::string_view key) override { return base_->Delete(key); }
  Result<object::ListResult> List(const object::ListOptions& options) override {
    return base_->List(options);
  }

  // PUTs of `key` fail `times` times (-1: always).
  void FailPutOf(std::string key, int times = -1) {
    std::lock_guard lock(mu_);
    fail_puts_[std::move(key)] = times;
  }
  void FailAllPuts(bool fail) {
    std::lock_guard lock(mu_);
    fail_all_puts_ = fail;
  }
  void SetPutDelay(std::chrono::milliseconds d) {
    std::lock_guard lock(mu_);
    put_delay_ = d;
  }
  void SetGetDelay(std::chrono::milliseconds d) {
    std::lock_guard lock(mu_);
    get_delay_ = d;
  }
  // While held, GETs wait (counted as started) until released.
  void HoldGets(bool hold) {
    std::lock_guard lock(mu_);
    hold_gets_ = hold;
    changed_.notify_all();
  }
  // While held, PUTs wait (counted as in flight) until released.
  void HoldPuts(bool hold) {
    std::lock_guard lock(mu_);
    hold_puts_ = hold;
    changed_.notify_all();
  }
  // Waits until `n` PUTs are in flight at once; false after 10 s.
  bool WaitForPutsInFlight(int n) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, std::chrono::seconds(10), [&] { return puts_in_flight_ >= n; });
  }
  // Waits until `n` GETs have started in total; false after 10 s.
  bool WaitForGets(int n) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, std::chrono::seconds(10), [&] { return gets_ >= n; });
  }
  // Waits until no GET runs; false after 10 s.
  bool WaitForGetsIdle() {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, std::chrono::seconds(10), [&] { return gets_in_flight_ == 0; });
  }
  // Waits until `n` PUTs succeeded in total; false after 10 s.
  bool WaitForPuts(int n) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, std::chrono::seconds(10), [&] { return puts_ >= n; });
  }

  uint64_t bytes_read() const {
    std::lock_guard lock(mu_);
    return bytes_read_;
  }
  int gets() const {
    std::lock_guard lock(mu_);
    return gets_;
  }
  int gets_of(const std::string& key) const {
    std::lock_guard lock(mu_);
    auto it = gets_of_.find(key);
    return it == gets_of_.end() ? 0 : it->second;
  }
  int puts() const {
    std::lock_guard lock(mu_);
    return puts_;
  }
  int failed_puts() const {
    std::lock_guard lock(mu_);
    return failed_puts_;
  }
  int max_puts_in_flight() const {
    std::lock_guard lock(mu_);
    return max_puts_in_flight_;
  }
  uint64_t max_put_bytes_in_flight() const {
    std::lock_guard lock(mu_);
    return max_put_bytes_in_flight_;
  }
  int max_gets_in_flight() const {
    std::lock_guard lock(mu_);
    return max_gets_in_flight_;
  }

 private:
  const std::shared_ptr<object::ObjectStore> base_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::string, int> fail_puts_;
  bool fail_all_puts_ = false;
  bool hold_gets_ = false;
  bool hold_puts_ = false;
  std::chrono::milliseconds put_delay_{0};
  std::chrono::milliseconds get_delay_{0};
  uint64_t bytes_read_ = 0;
  int gets_ = 0;
  std::map<std::string, int> gets_of_;
  int gets_in_flight_ = 0;
  int max_gets_in_flight_ = 0;
  int puts_ = 0;
  int failed_puts_ = 0;
  int puts_in_flight_ = 0;
  int max_puts_in_flight_ = 0;
  uint64_t put_bytes_in_flight_ = 0;
  uint64_t max_put_bytes_in_flight_ = 0;
};

// Polls `done` every millisecond until it holds; false after 10 s.
template <typename F>
bool WaitUntil(F done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Every key in the store, with the object's size.
inline std::map<std::string, uint64_t> AllObjects(object::ObjectStore& store) {
  std::map<std::string, uint64_t> all;
  object::ListOptions options;
  for (;;) {
    Result<object::ListResult> page = store.List(options);
    EXPECT_TRUE(page.has_value()) << page.error().ToString();
    if (!page.has_value()) break;
    for (const object::ObjectInfo& info : page->objects) all[info.key] = info.size;
    if (!page->truncated) break;
    options.start_after = page->next_start_after;
  }
  return all;
}

inline std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

using cache::testing::TempDir;

}  // namespace shoal::chunk::testing
