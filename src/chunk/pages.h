// Pages: written bytes held in fixed-size pages that are reused, so that a
// stream of large writes neither grows strings by copying nor faults in fresh
// memory for every chunk it buffers.
//
// Design note. A profile of a 1 GiB sequential write spent about half of the
// mount's CPU in page faults and zeroing of new anonymous memory, and in the
// copies of strings growing by doubling: each 64 MiB buffer was a new
// allocation (glibc serves it with mmap) and went back to the kernel after
// its upload. Pages of kPageSize come from a PagePool that keeps freed pages
// for the next writer; a buffer's bytes never move once written, and a page
// that lines up with a block of the store is uploaded from where it lies.
//
// Small files must not pay for a whole page: the first page of a Pages grows
// as an ordinary string until it passes kSmallBytes, and only then moves to a
// pooled page.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace shoal::chunk {

// The size of a page: a block of the store by default, so that the pages of
// a chunk-aligned buffer upload without a copy.
constexpr uint64_t kPageSize = 4ull << 20;

// A page's first bytes stay in an ordinary string up to this size.
constexpr uint64_t kSmallBytes = 256ull << 10;

// Thread-safe free list of page strings (capacity page_size() each).
class PagePool {
 public:
  // Keeps at most `max_idle` free pages; the rest go back to the allocator.
  // Tests use small pages to cross page edges with little data.
  explicit PagePool(size_t max_idle, uint64_t page_size = kPageSize,
                    uint64_t small_bytes = kSmallBytes)
      : max_idle_(max_idle), page_size_(page_size), small_bytes_(small_bytes) {}
  PagePool(const PagePool&) = delete;
  PagePool& operator=(const PagePool&) = delete;

  uint64_t page_size() const { return page_size_; }
  uint64_t small_bytes() const { return small_bytes_; }
  // An empty string with room for page_size() bytes.
  std::string Take();
  // Takes back a page (its contents are dropped). Strings that are not pages
  // are freed.
  void Give(std::string page);
  size_t idle() const;

 private:
  const size_t max_idle_;
  const uint64_t page_size_;
  const uint64_t small_bytes_;
  mutable std::mutex mu_;
  std::vector<std::string> free_;  // guarded by mu_
};

// Contiguous bytes [0, size()) in pages of P bytes (the pool's page size,
// else kPageSize): page i holds bytes [i*P, (i+1)*P); every page but the last
// is full. Move-only; its pages go back to the pool (may be null: plain
// allocations) when it is destroyed.
class Pages {
 public:
  explicit Pages(PagePool* pool = nullptr)
      : pool_(pool),
        page_size_(pool ? pool->page_size() : kPageSize),
        small_bytes_(pool ? pool->small_bytes() : kSmallBytes) {}
  Pages(Pages&& other) noexcept;
  Pages& operator=(Pages&& other) noexcept;
  Pages(const Pages&) = delete;
  Pages& operator=(const Pages&) = delete;
  ~Pages();

  uint64_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  void Append(std::string_view data);
  // Appends bytes [off, off + len) of `from` (another Pages), page by page.
  void AppendRange(const Pages& from, uint64_t off, uint64_t len);
  // Replaces bytes [off, off + data.size()), which must all exist.
  void Overwrite(uint64_t off, std::string_view data);
  // Copies bytes [off, off + len), which must all exist, to dst.
  void CopyOut(uint64_t off, uint64_t len, char* dst) const;
  // Bytes [off, off + len): a view into a page when they lie in one,
  // otherwise a copy into *scratch (then viewed).
  std::string_view View(uint64_t off, uint64_t len, std::string* scratch) const;
  // Drops the bytes at and past `len`.
  void Shrink(uint64_t len);
  // Bytes [from, to) as a Pages of their own. When `from` is on a page
  // boundary the pages move (no copy) and this Pages keeps only the bytes
  // before `from`; otherwise the bytes are copied and this Pages is unchanged.
  // Either way bytes past `to` may be lost: take ranges from the end back.
  Pages Take(uint64_t from, uint64_t to);
  std::string ToString() const;

 private:
  void Release();

  PagePool* pool_;
  uint64_t page_size_;
  uint64_t small_bytes_;
  std::vector<std::string> pages_;
  uint64_t size_ = 0;
};

}  // namespace shoal::chunk
