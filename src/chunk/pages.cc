#include "chunk/pages.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <utility>

namespace shoal::chunk {

std::string PagePool::Take() {
  {
    std::lock_guard lock(mu_);
    if (!free_.empty()) {
      std::string page = std::move(free_.back());
      free_.pop_back();
      return page;
    }
  }
  std::string page;
  page.reserve(page_size_);
  return page;
}

void PagePool::Give(std::string page) {
  if (page.capacity() != page_size_) return;  // not a page: freed here
  page.clear();
  std::lock_guard lock(mu_);
  if (free_.size() < max_idle_) free_.push_back(std::move(page));
}

size_t PagePool::idle() const {
  std::lock_guard lock(mu_);
  return free_.size();
}

Pages::Pages(Pages&& other) noexcept
    : pool_(other.pool_),
      page_size_(other.page_size_),
      small_bytes_(other.small_bytes_),
      pages_(std::move(other.pages_)),
      size_(std::exchange(other.size_, 0)) {
  other.pages_.clear();
}

Pages& Pages::operator=(Pages&& other) noexcept {
  if (this != &other) {
    Release();
    pool_ = other.pool_;
    page_size_ = other.page_size_;
    small_bytes_ = other.small_bytes_;
    pages_ = std::move(other.pages_);
    other.pages_.clear();
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

Pages::~Pages() { Release(); }

void Pages::Release() {
  if (pool_ != nullptr) {
    for (std::string& page : pages_) pool_->Give(std::move(page));
  }
  pages_.clear();
  size_ = 0;
}

void Pages::Append(std::string_view data) {
  while (!data.empty()) {
    if (pages_.empty() || pages_.back().size() == page_size_) pages_.emplace_back();
    std::string& last = pages_.back();
    const size_t n = std::min<size_t>(page_size_ - last.size(), data.size());
    const size_t need = last.size() + n;
    if (need > last.capacity() && need > small_bytes_ && pool_ != nullptr) {
      // Past the small size: move to a page that never reallocates.
      std::string page = pool_->Take();
      page.append(last);
      std::swap(last, page);
    } else if (need > last.capacity() && need > small_bytes_) {
      last.reserve(page_size_);
    }
    last.append(data.data(), n);
    size_ += n;
    data.remove_prefix(n);
  }
}

void Pages::AppendRange(const Pages& from, uint64_t off, uint64_t len) {
  assert(off + len <= from.size_);
  while (len > 0) {
    const std::string& page = from.pages_[off / from.page_size_];
    const uint64_t in_page = off % from.page_size_;
    const uint64_t n = std::min<uint64_t>(from.page_size_ - in_page, len);
    Append(std::string_view(page).substr(in_page, n));
    off += n;
    len -= n;
  }
}

void Pages::Overwrite(uint64_t off, std::string_view data) {
  assert(off + data.size() <= size_);
  while (!data.empty()) {
    std::string& page = pages_[off / page_size_];
    const uint64_t in_page = off % page_size_;
    const size_t n = std::min<size_t>(page_size_ - in_page, data.size());
    std::memcpy(page.data() + in_page, data.data(), n);
    off += n;
    data.remove_prefix(n);
  }
}

void Pages::CopyOut(uint64_t off, uint64_t len, char* dst) const {
  assert(off + len <= size_);
  while (len > 0) {
    const std::string& page = pages_[off / page_size_];
    const uint64_t in_page = off % page_size_;
    const uint64_t n = std::min<uint64_t>(page_size_ - in_page, len);
    std::memcpy(dst, page.data() + in_page, n);
    dst += n;
    off += n;
    len -= n;
  }
}

std::string_view Pages::View(uint64_t off, uint64_t len, std::string* scratch) const {
  assert(off + len <= size_);
  if (len == 0) return {};
  if (off / page_size_ == (off + len - 1) / page_size_) {
    return std::string_view(pages_[off / page_size_]).substr(off % page_size_, len);
  }
  scratch->resize(len);
  CopyOut(off, len, scratch->data());
  return *scratch;
}

void Pages::Shrink(uint64_t len) {
  if (len >= size_) return;
  const size_t keep = (len + page_size_ - 1) / page_size_;
  while (pages_.size() > keep) {
    if (pool_ != nullptr) pool_->Give(std::move(pages_.back()));
    pages_.pop_back();
  }
  if (keep > 0) pages_.back().resize(len - (keep - 1) * page_size_);
  size_ = len;
}

Pages Pages::Take(uint64_t from, uint64_t to) {
  assert(from <= to && to <= size_);
  Pages out(pool_);
  if (from == to) return out;
  if (from % page_size_ != 0) {
    out.AppendRange(*this, from, to - from);
    return out;
  }
  const size_t first = from / page_size_;
  const size_t last = (to - 1) / page_size_;  // inclusive
  for (size_t i = first; i <= last; ++i) out.pages_.push_back(std::move(pages_[i]));
  out.pages_.back().resize(to - last * page_size_);
  out.size_ = to - from;
  // What is left is [0, from): the moved-from strings go.
  pages_.resize(first);
  size_ = from;
  return out;
}

std::string Pages::ToString() const {
  std::string s(size_, '\0');
  CopyOut(0, size_, s.data());
  return s;
}

}  // namespace shoal::chunk
