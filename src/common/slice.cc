#include "common/slice.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <string>

namespace shoal {
namespace {

// The parts of a chunk already claimed by newer slices while slices are
// visited newest first. Ranges are half-open, disjoint and never touch (touching
// ranges are merged), so each Add costs O(log n) plus the ranges it swallows,
// and a whole chunk resolves in O(n log n) for n slices.
class Coverage {
 public:
  // Calls emit(lo', hi') for each maximal part of [lo, hi) not yet covered, in
  // order, then marks all of [lo, hi) covered.
  template <typename Emit>
  void Add(uint64_t lo, uint64_t hi, Emit&& emit) {
    if (lo >= hi) return;
    auto it = ranges_.upper_bound(lo);
    if (it != ranges_.begin() && std::prev(it)->second >= lo) --it;
    uint64_t merged_lo = lo;
    uint64_t merged_hi = hi;
    uint64_t cursor = lo;
    while (it != ranges_.end() && it->first <= hi) {
      if (it->first > cursor) emit(cursor, it->first);
      cursor = std::max(cursor, it->second);
      merged_lo = std::min(merged_lo, it->first);
      merged_hi = std::max(merged_hi, it->second);
      it = ranges_.erase(it);
    }
    if (cursor < hi) emit(cursor, hi);
    ranges_.emplace(merged_lo, merged_hi);
  }

  // True when [lo, hi) is entirely covered.
  bool Covers(uint64_t lo, uint64_t hi) const {
    auto it = ranges_.upper_bound(lo);
    if (it == ranges_.begin()) return false;
    --it;
    return it->first <= lo && it->second >= hi;
  }

 private:
  std::map<uint64_t, uint64_t> ranges_;  // start -> end
};

// The segment of slice `s` that shows chunk bytes [lo, hi). Holes carry no
// size or offset: their bytes are zeros wherever they sit.
Segment SegmentOf(const Slice& s, uint64_t lo, uint64_t hi) {
  Segment seg;
  seg.id = s.id;
  seg.pos = static_cast<uint32_t>(lo);
  seg.len = static_cast<uint32_t>(hi - lo);
  if (s.id != 0) {
    seg.size = s.size;
    seg.off = static_cast<uint32_t>(s.off + (lo - s.pos));
  }
  return seg;
}

// Sorts segments by pos and joins neighbours that read on from each other
// (two records of the same slice, or adjacent zeros), so callers issue fewer reads.
std::vector<Segment> SortAndJoin(std::vector<Segment> segs) {
  std::sort(segs.begin(), segs.end(),
            [](const Segment& a, const Segment& b) { return a.pos < b.pos; });
  std::vector<Segment> out;
  out.reserve(segs.size());
  for (const Segment& s : segs) {
    if (!out.empty()) {
      Segment& last = out.back();
      bool adjacent = uint64_t{last.pos} + last.len == s.pos;
      bool continues = s.id == 0 || (s.size == last.size && uint64_t{last.off} + last.len == s.off);
      if (adjacent && last.id == s.id && continues) {
        last.len += s.len;
        continue;
      }
    }
    out.push_back(s);
  }
  return out;
}

// Visits slices newest first, clipped to [lo, hi), and returns the visible
// segments unsorted. When `visible` is given, (*visible)[i] says whether slice i
// shows at least one byte; otherwise the walk stops early once [lo, hi) is covered.
std::vector<Segment> Resolve(const std::vector<Slice>& slices, uint64_t lo, uint64_t hi,
                             std::vector<bool>* visible) {
  std::vector<Segment> segs;
  Coverage covered;
  if (visible != nullptr) visible->assign(slices.size(), false);
  for (size_t i = slices.size(); i-- > 0;) {
    const Slice& s = slices[i];
    uint64_t a = std::max<uint64_t>(s.pos, lo);
    uint64_t b = std::min<uint64_t>(s.End(), hi);
    if (a >= b) continue;
    covered.Add(a, b, [&](uint64_t x, uint64_t y) {
      segs.push_back(SegmentOf(s, x, y));
      if (visible != nullptr) (*visible)[i] = true;
    });
    if (visible == nullptr && covered.Covers(lo, hi)) break;
  }
  return segs;
}

void PutFixed32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void PutFixed64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t GetFixed(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return v;
}

std::string Describe(const Slice& s) {
  return "id " + std::to_string(s.id) + ", size " + std::to_string(s.size) + ", off " +
         std::to_string(s.off) + ", len " + std::to_string(s.len) + ", pos " +
         std::to_string(s.pos);
}

}  // namespace

std::vector<Segment> ResolveSlices(const std::vector<Slice>& slices) {
  return SortAndJoin(Resolve(slices, 0, kChunkSize, nullptr));
}

std::vector<Segment> ResolveRange(const std::vector<Slice>& slices, uint32_t pos, uint32_t len) {
  uint64_t end = uint64_t{pos} + len;
  std::vector<Segment> segs = SortAndJoin(Resolve(slices, pos, end, nullptr));
  // Make the gaps explicit as zeros so that the result tiles [pos, end).
  std::vector<Segment> gaps;
  uint64_t cursor = pos;
  for (const Segment& s : segs) {
    if (s.pos > cursor) gaps.push_back(SegmentOf(Slice{}, cursor, s.pos));
    cursor = uint64_t{s.pos} + s.len;
  }
  if (cursor < end) gaps.push_back(SegmentOf(Slice{}, cursor, end));
  if (gaps.empty()) return segs;
  segs.insert(segs.end(), gaps.begin(), gaps.end());
  return SortAndJoin(std::move(segs));
}

std::vector<Slice> DropHidden(const std::vector<Slice>& slices, std::vector<Slice>* hidden) {
  std::vector<bool> visible;
  Resolve(slices, 0, kChunkSize, &visible);
  std::vector<Slice> kept;
  for (size_t i = 0; i < slices.size(); ++i) {
    if (visible[i]) {
      kept.push_back(slices[i]);
    } else if (hidden != nullptr) {
      hidden->push_back(slices[i]);
    }
  }
  return kept;
}

void AppendSlice(std::string* out, const Slice& s) {
  PutFixed64(out, s.id);
  PutFixed32(out, s.size);
  PutFixed32(out, s.off);
  PutFixed32(out, s.len);
  PutFixed32(out, s.pos);
}

Result<std::vector<Slice>> DecodeSlices(std::string_view data) {
  if (data.size() % kSliceRecordSize != 0) {
    return Corrupt("a chunk's slice list is " + std::to_string(data.size()) +
                   " bytes, not a multiple of " + std::to_string(kSliceRecordSize) +
                   ": the metadata is damaged; run fsck on the volume");
  }
  std::vector<Slice> slices;
  slices.reserve(data.size() / kSliceRecordSize);
  for (size_t at = 0; at < data.size(); at += kSliceRecordSize) {
    const char* p = data.data() + at;
    Slice s;
    s.id = GetFixed(p, 8);
    s.size = static_cast<uint32_t>(GetFixed(p + 8, 4));
    s.off = static_cast<uint32_t>(GetFixed(p + 12, 4));
    s.len = static_cast<uint32_t>(GetFixed(p + 16, 4));
    s.pos = static_cast<uint32_t>(GetFixed(p + 20, 4));
    const char* wrong = nullptr;
    if (s.End() > kChunkSize) {
      wrong = "it reaches past the end of the chunk";
    } else if (s.id != 0 && s.size > kChunkSize) {
      wrong = "its size is larger than a chunk";
    } else if (s.id != 0 && uint64_t{s.off} + s.len > s.size) {
      wrong = "its visible part reaches past the end of the slice";
    }
    if (wrong != nullptr) {
      return Corrupt("slice record " + std::to_string(at / kSliceRecordSize) + " (" + Describe(s) +
                     ") is impossible: " + wrong +
                     "; the metadata is damaged, run fsck on the volume");
    }
    slices.push_back(s);
  }
  return slices;
}

}  // namespace shoal
