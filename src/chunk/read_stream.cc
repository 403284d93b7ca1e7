// ReadStream: readahead for one open file (the policy is described in
// chunk.h). The stream only decides which blocks to prefetch; fetching,
// single flight and the readahead budget are the Fetcher's (fetcher.h).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "chunk/chunk.h"
#include "chunk/fetcher.h"

namespace shoal::chunk {
namespace {

// A read that starts within a few read lengths (at most this many bytes) of
// where the last one ended still counts as sequential: the kernel issues
// readahead reads in parallel, and they may arrive slightly out of order.
constexpr uint64_t kSequentialSlack = 1 << 20;
constexpr uint64_t kSlackReads = 4;
// Once a stream is sequential, it stays so with a wider slack: the kernel
// keeps its whole readahead window (4 MiB and more, in 1 MiB requests) in
// flight, and the mount's threads serve those in any order. With the narrow
// slack a cold sequential read looked random every few blocks, and its
// window collapsed.
constexpr uint64_t kStreamSlack = 16 << 20;
constexpr uint64_t kStreamSlackReads = 8;

uint64_t RoundUp(uint64_t x, uint64_t unit) { return (x + unit - 1) / unit * unit; }

}  // namespace

ReadStream::ReadStream(BlockStore& blocks, BlockStore::SliceLister lister)
    : blocks_(blocks), lister_(std::move(lister)) {}

ReadStream::~ReadStream() {
  std::lock_guard lock(mu_);
  DropPrefetchedLocked();
}

uint64_t ReadStream::window() const {
  std::lock_guard lock(mu_);
  return window_;
}

Status ReadStream::Read(uint32_t chunk_index, const std::vector<Slice>& slices, uint32_t pos,
                        uint32_t len, std::string* out) {
  RETURN_IF_ERROR(blocks_.CheckRead(pos, len));
  ASSIGN_OR_RETURN(std::vector<Piece> pieces, blocks_.PiecesOf(slices, pos, len));
  const uint64_t max_window = blocks_.options_.readahead_max_window;
  if (len > 0 && max_window > 0 && blocks_.fetcher_->caching()) {
    std::lock_guard lock(mu_);
    for (const Piece& p : pieces) {
      if (prefetched_.erase(p.key) > 0) ++blocks_.readahead_used_;
    }
    const uint64_t block = blocks_.block_size_;
    const uint64_t off = uint64_t{chunk_index} * kChunkSize + pos;
    const uint64_t end = off + len;
    const uint64_t slack = window_ > 0 ? std::min(kStreamSlack, kStreamSlackReads * len)
                                       : std::min(kSequentialSlack, kSlackReads * len);
    const bool sequential =
        started_ ? off + slack + len >= next_ && off <= next_ + slack : off == 0;
    started_ = true;
    if (sequential) {
      // The window counts from the end of the block being read.
      const uint64_t block_end = RoundUp(end, block);
      if (window_ == 0) {
        window_ = std::min(block, max_window);
      } else if (block_end + window_ > ra_end_) {
        window_ = std::min(window_ * 2, max_window);  // moved into a new block: grow
      }
      const uint64_t from = std::max(ra_end_, block_end);
      const uint64_t to = block_end + window_;
      if (to > from) ra_end_ = PrefetchLocked(chunk_index, slices, from, to, pieces);
      next_ = std::max(next_, end);
    } else {
      window_ /= 2;
      if (window_ < std::min(block, max_window)) window_ = 0;
      DropPrefetchedLocked();
      ra_end_ = 0;
      next_ = end;
    }
    // Blocks prefetched but skipped over by the reader would pile up.
    if (prefetched_.size() > 4 * (max_window / block + 1)) DropPrefetchedLocked();
  }
  return blocks_.ReadPieces(pieces, len, out);
}

uint64_t ReadStream::PrefetchLocked(uint32_t chunk_index, const std::vector<Slice>& slices,
                                    uint64_t from, uint64_t to, const std::vector<Piece>& current) {
  Fetcher& fetcher = *blocks_.fetcher_;
  std::string last;  // the key prefetched last: consecutive pieces often share a block
  for (uint64_t at = from; at < to;) {
    const auto index = static_cast<uint32_t>(at / kChunkSize);
    const uint64_t chunk_start = uint64_t{index} * kChunkSize;
    const uint64_t stop = std::min(to, chunk_start + kChunkSize);
    const std::vector<Slice>* list = SlicesLocked(index, chunk_index, slices);
    if (list == nullptr) return at;  // cannot see that far
    Result<std::vector<Piece>> pieces = blocks_.PiecesOf(
        *list, static_cast<uint32_t>(at - chunk_start), static_cast<uint32_t>(stop - at));
    if (!pieces.has_value()) return at;  // the reader will hear of it
    for (const Piece& p : *pieces) {
      if (p.key == last) continue;
      if (std::any_of(current.begin(), current.end(),
                      [&](const Piece& c) { return c.key == p.key; })) {
        continue;  // the read in progress fetches it
      }
      last = p.key;
      switch (fetcher.Prefetch(p.key, p.slice_id, p.index, p.block_len)) {
        case Fetcher::PrefetchResult::kIssued:
          prefetched_.insert(p.key);
          break;
        case Fetcher::PrefetchResult::kPresent:
          break;
        case Fetcher::PrefetchResult::kNoBudget:
          return at + p.dst;  // try again from here on a later read
      }
    }
    at = stop;
  }
  return to;
}

const std::vector<Slice>* ReadStream::SlicesLocked(uint32_t index, uint32_t chunk_index,
                                                   const std::vector<Slice>& slices) {
  if (index == chunk_index) return &slices;
  if (!lister_ || index != chunk_index + 1) return nullptr;
  if (!ahead_valid_ || ahead_index_ != index) {
    Result<std::vector<Slice>> listed = lister_(index);
    if (listed.has_value()) {
      ahead_slices_ = std::move(*listed);
    } else {
      // Readahead is a hint: the reader gets the error if it reads there.
      spdlog::debug("chunk: no readahead into chunk {}: {}", index, listed.error().ToString());
      ahead_slices_.clear();
    }
    ahead_index_ = index;
    ahead_valid_ = true;
  }
  return &ahead_slices_;
}

void ReadStream::DropPrefetchedLocked() {
  blocks_.readahead_wasted_ += prefetched_.size();
  prefetched_.clear();
}

}  // namespace shoal::chunk
