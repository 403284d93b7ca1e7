// Helpers shared by the cache's tests.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <string_view>

namespace shoal::cache::testing {

// A fresh directory, removed with its contents when this goes away.
class TempDir {
 public:
  TempDir() {
    std::string pattern = ::testing::TempDir() + "shoal-cache-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp " << pattern << " failed";
    path_ = pattern;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The bytes of a test block: `size` pseudo-random bytes that depend on the
// key, so that any block's expected content can be recomputed from its key.
inline std::string BlockData(std::string_view key, size_t size) {
  std::mt19937_64 rng(std::hash<std::string_view>()(key));
  std::string data(size, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  return data;
}

// A block key shaped like the block store's.
inline std::string TestKey(int n, uint32_t length = 1000) {
  return "vol/chunks/" + std::to_string(n % 256) + "/0/" + std::to_string(n) + "_0_" +
         std::to_string(length);
}

// Regular files under `dir`, recursively.
inline size_t CountFiles(const std::string& dir) {
  size_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file()) ++n;
  }
  return n;
}

}  // namespace shoal::cache::testing
