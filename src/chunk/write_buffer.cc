#include <algorithm>
#include <iterator>
#include <limits>

#include "chunk/chunk.h"

namespace shoal::chunk {

// Write keeps the invariant that extents neither overlap nor touch. It finds
// the extents that overlap or touch [off, end] and folds them, with the new
// bytes on top, into one extent. When the first of them starts at or before
// `off` it receives the bytes in place, so a sequential writer appending to
// the last extent never copies what it wrote before.
void WriteBuffer::Write(uint64_t off, std::string_view data) {
  if (data.empty()) return;
  const uint64_t end = off + data.size();

  // The first extent that overlaps or touches [off, end], if any.
  auto first = extents_.upper_bound(off);
  if (first != extents_.begin()) {
    auto prev = std::prev(first);
    if (prev->first + prev->second.size() >= off) first = prev;
  }
  // One past the last extent that overlaps or touches [off, end].
  auto stop = extents_.upper_bound(end);

  // The extent that receives the bytes: `first` if it starts at or before
  // off, else a new one at off. Extents in [absorb, stop) are folded into it.
  auto target = first;
  auto absorb = first;
  if (first == stop || first->first > off) {
    target = extents_.emplace_hint(first, off, Pages(pool_));
  } else {
    absorb = std::next(first);
  }
  const uint64_t start = target->first;
  Pages& pages = target->second;
  bytes_ -= pages.size();

  // The new bytes: over what the target holds, then appended.
  const uint64_t rel = off - start;
  const uint64_t over =
      pages.size() > rel ? std::min<uint64_t>(pages.size() - rel, data.size()) : 0;
  pages.Overwrite(rel, data.substr(0, over));
  pages.Append(data.substr(over));

  // The absorbed extents lie after the target's old end and start at or
  // before `end`; only the last of them can reach past `end`, and only that
  // tail survives.
  for (auto it = absorb; it != stop; ++it) bytes_ -= it->second.size();
  if (absorb != stop) {
    auto last = std::prev(stop);
    const uint64_t last_end = last->first + last->second.size();
    if (last_end > start + pages.size()) {
      const uint64_t from = start + pages.size() - last->first;
      pages.AppendRange(last->second, from, last->second.size() - from);
    }
  }
  bytes_ += pages.size();
  extents_.erase(absorb, stop);
}

void WriteBuffer::Overlay(uint64_t off, std::string* out) const {
  const uint64_t end = off + out->size();
  auto it = extents_.upper_bound(off);
  if (it != extents_.begin() && std::prev(it)->first + std::prev(it)->second.size() > off) --it;
  for (; it != extents_.end() && it->first < end; ++it) {
    const uint64_t a = std::max<uint64_t>(it->first, off);
    const uint64_t b = std::min<uint64_t>(it->first + it->second.size(), end);
    if (a < b) it->second.CopyOut(a - it->first, b - a, out->data() + (a - off));
  }
}

void WriteBuffer::Cut(uint64_t lo, uint64_t hi) {
  if (lo >= hi) return;
  auto it = extents_.upper_bound(lo);
  if (it != extents_.begin() && std::prev(it)->first + std::prev(it)->second.size() > lo) --it;
  while (it != extents_.end() && it->first < hi) {
    const uint64_t s = it->first;
    const uint64_t e = s + it->second.size();
    bytes_ -= std::min(e, hi) - std::max(s, lo);
    if (e > hi) {
      // Keep the tail [hi, e) as its own extent; the loop ends on it.
      extents_.emplace_hint(std::next(it), hi, it->second.Take(hi - s, e - s));
    }
    if (s < lo) {
      it->second.Shrink(lo - s);  // keep the head [s, lo)
      ++it;
    } else {
      it = extents_.erase(it);
    }
  }
}

void WriteBuffer::Truncate(uint64_t length) { Cut(length, std::numeric_limits<uint64_t>::max()); }

void WriteBuffer::Zero(uint64_t off, uint64_t len) {
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  Cut(off, len > max - off ? max : off + len);
}

uint64_t WriteBuffer::End() const {
  if (extents_.empty()) return 0;
  const auto& [start, pages] = *extents_.rbegin();
  return start + pages.size();
}

std::vector<WriteBuffer::Piece> WriteBuffer::Drain() {
  std::vector<Piece> pieces;
  for (auto& [start, pages] : extents_) {
    const uint64_t end = start + pages.size();
    // The extent's pieces, one per chunk it touches, taken from the last
    // back (Pages::Take moves whole pages when a piece starts on a page).
    std::vector<Piece> mine;
    for (uint64_t piece_end = end; piece_end > start;) {
      const uint64_t chunk_start = (piece_end - 1) / kChunkSize * kChunkSize;
      const uint64_t piece_start = std::max(start, chunk_start);
      mine.push_back(Piece{static_cast<uint32_t>(piece_start / kChunkSize),
                           static_cast<uint32_t>(piece_start % kChunkSize),
                           pages.Take(piece_start - start, piece_end - start)});
      piece_end = piece_start;
    }
    std::move(mine.rbegin(), mine.rend(), std::back_inserter(pieces));
  }
  extents_.clear();
  bytes_ = 0;
  return pieces;
}

}  // namespace shoal::chunk
