#include <algorithm>
#include <cstring>
#include <iterator>
#include <limits>

#include "chunk/chunk.h"

namespace shoal::chunk {

// Write keeps the invariant that extents neither overlap nor touch. It finds
// the extents that overlap or touch [off, end] and folds them, with the new
// bytes on top, into one extent. When the first of them starts at or before
// `off` its string is grown in place, so a sequential writer appending to the
// last extent pays amortized O(1) per byte and never copies the extent.
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
    target = extents_.emplace_hint(first, off, std::string());
  } else {
    absorb = std::next(first);
  }
  const uint64_t start = target->first;
  std::string& buf = target->second;

  uint64_t new_end = std::max<uint64_t>(end, start + buf.size());
  for (auto it = absorb; it != stop; ++it) {
    new_end = std::max<uint64_t>(new_end, it->first + it->second.size());
  }
  bytes_ -= buf.size();
  buf.resize(new_end - start);
  for (auto it = absorb; it != stop; ++it) {
    // Only the part past `end` survives; the rest is overwritten below.
    const uint64_t it_end = it->first + it->second.size();
    const uint64_t from = std::max<uint64_t>(it->first, end);
    if (it_end > from) {
      std::memcpy(buf.data() + (from - start), it->second.data() + (from - it->first),
                  it_end - from);
    }
    bytes_ -= it->second.size();
  }
  std::memcpy(buf.data() + (off - start), data.data(), data.size());
  bytes_ += buf.size();
  extents_.erase(absorb, stop);
}

void WriteBuffer::Overlay(uint64_t off, std::string* out) const {
  const uint64_t end = off + out->size();
  auto it = extents_.upper_bound(off);
  if (it != extents_.begin() && std::prev(it)->first + std::prev(it)->second.size() > off) --it;
  for (; it != extents_.end() && it->first < end; ++it) {
    const uint64_t a = std::max<uint64_t>(it->first, off);
    const uint64_t b = std::min<uint64_t>(it->first + it->second.size(), end);
    if (a < b) std::memcpy(out->data() + (a - off), it->second.data() + (a - it->first), b - a);
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
      extents_.emplace_hint(std::next(it), hi, it->second.substr(hi - s));
    }
    if (s < lo) {
      it->second.resize(lo - s);  // keep the head [s, lo)
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
  const auto& [start, buf] = *extents_.rbegin();
  return start + buf.size();
}

std::vector<WriteBuffer::Piece> WriteBuffer::Drain() {
  std::vector<Piece> pieces;
  for (auto& [start, buf] : extents_) {
    const uint64_t end = start + buf.size();
    const auto first_chunk = static_cast<uint32_t>(start / kChunkSize);
    const auto first_pos = static_cast<uint32_t>(start % kChunkSize);
    const uint64_t boundary = (uint64_t{first_chunk} + 1) * kChunkSize;
    if (end <= boundary) {
      pieces.push_back(Piece{first_chunk, first_pos, std::move(buf)});
      continue;
    }
    // The extent crosses chunk boundaries: copy out the later pieces, then
    // let the first piece keep the extent's string, cut short, unless that
    // would pin a much larger allocation than the piece needs.
    const size_t first_index = pieces.size();
    pieces.push_back(Piece{first_chunk, first_pos, {}});
    for (uint64_t at = boundary; at < end; at += kChunkSize) {
      pieces.push_back(Piece{static_cast<uint32_t>(at / kChunkSize), 0,
                             buf.substr(at - start, std::min<uint64_t>(kChunkSize, end - at))});
    }
    const size_t first_len = boundary - start;
    if (first_len * 2 >= buf.capacity()) {
      buf.resize(first_len);
      pieces[first_index].data = std::move(buf);
    } else {
      pieces[first_index].data = buf.substr(0, first_len);
    }
  }
  extents_.clear();
  bytes_ = 0;
  return pieces;
}

}  // namespace shoal::chunk
