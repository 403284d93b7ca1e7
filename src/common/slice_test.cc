#include "common/slice.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

namespace shoal {
namespace {

// What one byte of a chunk reads as: zeros (id 0) or byte `off` of slice `id`.
struct Source {
  uint64_t id = 0;
  uint64_t off = 0;
  bool operator==(const Source&) const = default;
};

// Expands segments into one Source per byte of [pos, pos+len), checking that
// they tile the range exactly, in order.
std::vector<Source> Expand(const std::vector<Segment>& segs, uint32_t pos, uint32_t len) {
  std::vector<Source> bytes;
  uint64_t cursor = pos;
  for (const Segment& s : segs) {
    EXPECT_EQ(s.pos, cursor) << "segments must tile the range in order";
    EXPECT_GT(s.len, 0u) << "no empty segments";
    for (uint32_t k = 0; k < s.len; ++k) {
      bytes.push_back(s.id == 0 ? Source{} : Source{s.id, uint64_t{s.off} + k});
    }
    cursor = uint64_t{s.pos} + s.len;
  }
  EXPECT_EQ(cursor, uint64_t{pos} + len) << "segments must end at the end of the range";
  return bytes;
}

// The brute-force model: a window of the chunk as an array of "which slice
// wrote this byte last" (-1: none), filled by applying slices oldest first.
class Model {
 public:
  explicit Model(size_t window) : last_(window, -1) {}

  void Apply(const std::vector<Slice>& slices) {
    for (size_t i = 0; i < slices.size(); ++i) {
      for (uint64_t b = slices[i].pos; b < slices[i].End(); ++b) last_[b] = static_cast<int>(i);
    }
    slices_ = slices;
    visible_.assign(slices.size(), false);
    for (int v : last_)
      if (v >= 0) visible_[v] = true;
  }

  Source At(uint64_t b) const {
    if (last_[b] < 0) return {};
    const Slice& s = slices_[last_[b]];
    if (s.id == 0) return {};
    return {s.id, s.off + (b - s.pos)};
  }
  std::vector<Source> Range(uint64_t pos, uint64_t len) const {
    std::vector<Source> out;
    out.reserve(len);
    for (uint64_t b = pos; b < pos + len; ++b) out.push_back(At(b));
    return out;
  }
  bool Covered(uint64_t b) const { return last_[b] >= 0; }
  bool Visible(size_t i) const { return visible_[i]; }

 private:
  std::vector<int> last_;
  std::vector<Slice> slices_;
  std::vector<bool> visible_;  // by slice index: shows at least one byte
};

Slice MakeSlice(uint64_t id, uint32_t pos, uint32_t len, uint32_t off = 0, uint32_t size = 0) {
  if (id != 0 && size == 0) size = off + len;
  return Slice{id, id == 0 ? 0 : size, off, len, pos};
}

TEST(ResolveSlices, EmptyListHasNoSegments) { EXPECT_TRUE(ResolveSlices({}).empty()); }

TEST(ResolveSlices, NewestSliceWins) {
  // Slice 1 covers [0, 100); slice 2 overwrites [40, 60).
  std::vector<Segment> segs = ResolveSlices({MakeSlice(1, 0, 100), MakeSlice(2, 40, 20)});
  ASSERT_EQ(segs.size(), 3u);
  EXPECT_EQ(segs[0].id, 1u);
  EXPECT_EQ(segs[0].pos, 0u);
  EXPECT_EQ(segs[0].len, 40u);
  EXPECT_EQ(segs[1].id, 2u);
  EXPECT_EQ(segs[1].pos, 40u);
  EXPECT_EQ(segs[1].off, 0u);
  EXPECT_EQ(segs[1].len, 20u);
  EXPECT_EQ(segs[2].id, 1u);
  EXPECT_EQ(segs[2].pos, 60u);
  EXPECT_EQ(segs[2].off, 60u);
  EXPECT_EQ(segs[2].len, 40u);
  EXPECT_EQ(segs[2].size, 100u);
}

TEST(ResolveSlices, OlderSliceUnderNewerIsHidden) {
  std::vector<Segment> segs = ResolveSlices({MakeSlice(1, 10, 10), MakeSlice(2, 0, 50)});
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].id, 2u);
  EXPECT_EQ(segs[0].len, 50u);
}

TEST(ResolveSlices, LeavesGapsOut) {
  std::vector<Segment> segs = ResolveSlices({MakeSlice(1, 0, 10), MakeSlice(2, 20, 10)});
  ASSERT_EQ(segs.size(), 2u);
  EXPECT_EQ(segs[0].pos, 0u);
  EXPECT_EQ(segs[1].pos, 20u);
}

TEST(ResolveSlices, JoinsRecordsThatContinueTheSameSlice) {
  // Two records of slice 7 that read on from each other become one segment.
  std::vector<Segment> segs =
      ResolveSlices({MakeSlice(7, 0, 10, 0, 20), MakeSlice(7, 10, 10, 10, 20)});
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].len, 20u);
  EXPECT_EQ(segs[0].off, 0u);
}

TEST(ResolveSlices, KeepsRecordsOfTheSameSliceApartWhenTheyDoNotContinue) {
  // Adjacent in the chunk, but the second shows bytes from elsewhere in the slice.
  std::vector<Segment> segs =
      ResolveSlices({MakeSlice(7, 0, 10, 0, 100), MakeSlice(7, 10, 10, 50, 100)});
  ASSERT_EQ(segs.size(), 2u);
  EXPECT_EQ(segs[1].off, 50u);
}

TEST(ResolveSlices, HoleHidesOlderData) {
  std::vector<Segment> segs = ResolveSlices({MakeSlice(1, 0, 100), MakeSlice(0, 10, 80)});
  ASSERT_EQ(segs.size(), 3u);
  EXPECT_EQ(segs[1].id, 0u);
  EXPECT_EQ(segs[1].pos, 10u);
  EXPECT_EQ(segs[1].len, 80u);
}

TEST(ResolveRange, FillsGapsWithZeroSegments) {
  std::vector<Segment> segs = ResolveRange({MakeSlice(1, 10, 10)}, 0, 30);
  ASSERT_EQ(segs.size(), 3u);
  EXPECT_EQ(segs[0].id, 0u);
  EXPECT_EQ(segs[0].pos, 0u);
  EXPECT_EQ(segs[0].len, 10u);
  EXPECT_EQ(segs[1].id, 1u);
  EXPECT_EQ(segs[2].id, 0u);
  EXPECT_EQ(segs[2].pos, 20u);
  EXPECT_EQ(segs[2].len, 10u);
}

TEST(ResolveRange, ClipsSlicesToTheRange) {
  std::vector<Segment> segs = ResolveRange({MakeSlice(3, 0, 100, 5, 200)}, 40, 10);
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].id, 3u);
  EXPECT_EQ(segs[0].pos, 40u);
  EXPECT_EQ(segs[0].off, 45u);
  EXPECT_EQ(segs[0].len, 10u);
  EXPECT_EQ(segs[0].size, 200u);
}

TEST(ResolveRange, EmptyRangeHasNoSegments) {
  EXPECT_TRUE(ResolveRange({MakeSlice(1, 0, 10)}, 5, 0).empty());
}

TEST(ResolveRange, JoinsHolesWithGaps) {
  // A hole slice next to a gap is one zero segment, not two.
  std::vector<Segment> segs = ResolveRange({MakeSlice(0, 10, 10)}, 0, 30);
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].id, 0u);
  EXPECT_EQ(segs[0].len, 30u);
}

TEST(ResolveRange, WholeChunk) {
  std::vector<Segment> segs = ResolveRange({MakeSlice(1, 0, static_cast<uint32_t>(kChunkSize))}, 0,
                                           static_cast<uint32_t>(kChunkSize));
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].len, kChunkSize);
}

TEST(DropHidden, KeepsVisibleInOrderAndReportsHidden) {
  std::vector<Slice> slices = {MakeSlice(1, 0, 10), MakeSlice(2, 20, 10), MakeSlice(3, 0, 15),
                               MakeSlice(4, 25, 1)};
  std::vector<Slice> hidden;
  std::vector<Slice> kept = DropHidden(slices, &hidden);
  ASSERT_EQ(kept.size(), 3u);
  EXPECT_EQ(kept[0].id, 2u);
  EXPECT_EQ(kept[1].id, 3u);
  EXPECT_EQ(kept[2].id, 4u);
  ASSERT_EQ(hidden.size(), 1u);
  EXPECT_EQ(hidden[0].id, 1u);
}

TEST(DropHidden, EmptySliceIsHidden) {
  std::vector<Slice> hidden;
  std::vector<Slice> kept = DropHidden({MakeSlice(1, 0, 0)}, &hidden);
  EXPECT_TRUE(kept.empty());
  EXPECT_EQ(hidden.size(), 1u);
}

// Random slice lists over a 64 KiB window, checked byte by byte against the model.
TEST(ResolveRandom, MatchesBruteForceModel) {
  constexpr uint32_t kWindow = 64 << 10;
  std::mt19937_64 rng(20240601);
  for (int round = 0; round < 60; ++round) {
    int count = 1 + static_cast<int>(rng() % (round < 30 ? 8 : 200));
    std::vector<Slice> slices;
    for (int i = 0; i < count; ++i) {
      // Mostly short slices so that many overlap partially; a few long ones.
      uint32_t max_len = (rng() % 8 == 0) ? kWindow : 4096;
      uint32_t len = 1 + static_cast<uint32_t>(rng() % max_len);
      uint32_t pos = static_cast<uint32_t>(rng() % (kWindow - len + 1));
      // Few ids, each with one size as in a real volume, so that records of
      // the same slice often meet.
      uint64_t id = (rng() % 10 == 0) ? 0 : static_cast<uint64_t>(rng() % 8 + 1);
      uint32_t size = kWindow + static_cast<uint32_t>(id);
      uint32_t off = (rng() % 2 == 0) ? pos : static_cast<uint32_t>(rng() % (size - len + 1));
      slices.push_back(MakeSlice(id, pos, len, off, size));
    }
    Model model(kWindow);
    model.Apply(slices);

    // The whole window, then random ranges.
    std::vector<std::pair<uint32_t, uint32_t>> ranges = {{0, kWindow}};
    for (int q = 0; q < 10; ++q) {
      uint32_t len = static_cast<uint32_t>(rng() % (kWindow + 1));
      uint32_t pos = static_cast<uint32_t>(rng() % (kWindow - len + 1));
      ranges.emplace_back(pos, len);
    }
    for (auto [pos, len] : ranges) {
      std::vector<Source> got = Expand(ResolveRange(slices, pos, len), pos, len);
      ASSERT_EQ(got.size(), len);
      std::vector<Source> want = model.Range(pos, len);
      if (got != want) {
        size_t k = std::mismatch(got.begin(), got.end(), want.begin()).first - got.begin();
        FAIL() << "round " << round << ", byte " << pos + k << " of range " << pos << "+" << len
               << ": got slice " << got[k].id << " offset " << got[k].off << ", want slice "
               << want[k].id << " offset " << want[k].off;
      }
    }

    // ResolveSlices: sorted, disjoint, and exactly the covered bytes.
    std::vector<Segment> segs = ResolveSlices(slices);
    std::vector<bool> seen(kWindow, false);
    uint64_t last_end = 0;
    for (const Segment& s : segs) {
      ASSERT_GE(s.pos, last_end) << "segments must be sorted and disjoint";
      last_end = uint64_t{s.pos} + s.len;
      ASSERT_LE(last_end, kWindow);
      for (uint32_t k = 0; k < s.len; ++k) {
        Source got = s.id == 0 ? Source{} : Source{s.id, uint64_t{s.off} + k};
        if (got != model.At(s.pos + k)) FAIL() << "round " << round << ", byte " << s.pos + k;
        seen[s.pos + k] = true;
      }
    }
    for (uint32_t b = 0; b < kWindow; ++b) {
      if (seen[b] != model.Covered(b)) FAIL() << "round " << round << ", coverage of byte " << b;
    }

    std::vector<Slice> hidden;
    std::vector<Slice> kept = DropHidden(slices, &hidden);
    EXPECT_EQ(kept.size() + hidden.size(), slices.size());
    std::vector<Slice> want_kept;
    for (size_t i = 0; i < slices.size(); ++i)
      if (model.Visible(i)) want_kept.push_back(slices[i]);
    EXPECT_EQ(kept, want_kept) << "round " << round;
    // Dropping hidden slices never changes what the chunk reads as.
    std::vector<Source> before = Expand(ResolveRange(slices, 0, kWindow), 0, kWindow);
    std::vector<Source> after = Expand(ResolveRange(kept, 0, kWindow), 0, kWindow);
    EXPECT_EQ(before, after) << "round " << round;
  }
}

// A fragmented chunk of thousands of slices resolves correctly (and, being
// O(n log n), quickly: this runs in milliseconds).
TEST(ResolveRandom, ThousandsOfSlices) {
  constexpr uint32_t kWindow = 64 << 10;
  std::mt19937_64 rng(7);
  std::vector<Slice> slices;
  for (uint64_t i = 0; i < 4000; ++i) {
    uint32_t len = 1 + static_cast<uint32_t>(rng() % 64);
    uint32_t pos = static_cast<uint32_t>(rng() % (kWindow - len + 1));
    slices.push_back(MakeSlice(i + 1, pos, len));
  }
  Model model(kWindow);
  model.Apply(slices);
  EXPECT_TRUE(Expand(ResolveRange(slices, 0, kWindow), 0, kWindow) == model.Range(0, kWindow));
}

TEST(SliceEncoding, RoundTrips) {
  std::vector<Slice> slices = {MakeSlice(1, 0, 10), MakeSlice(0, 5, 3),
                               Slice{0x0102030405060708ull, 0xfffff, 7, 9, 1234567}};
  std::string data;
  for (const Slice& s : slices) AppendSlice(&data, s);
  ASSERT_EQ(data.size(), slices.size() * kSliceRecordSize);
  Result<std::vector<Slice>> back = DecodeSlices(data);
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(*back, slices);
}

TEST(SliceEncoding, IsLittleEndianInFieldOrder) {
  std::string data;
  AppendSlice(&data, Slice{0x0807060504030201ull, 0x0c0b0a09, 0x100f0e0d, 0x14131211, 0x18171615});
  ASSERT_EQ(data.size(), 24u);
  for (int i = 0; i < 24; ++i) EXPECT_EQ(static_cast<int>(data[i]), i + 1) << "byte " << i;
}

TEST(SliceEncoding, EmptyListDecodes) {
  Result<std::vector<Slice>> r = DecodeSlices("");
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->empty());
}

TEST(SliceEncoding, RejectsTruncatedList) {
  std::string data;
  AppendSlice(&data, MakeSlice(1, 0, 10));
  data.pop_back();
  Result<std::vector<Slice>> r = DecodeSlices(data);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Code::kCorrupt);
  EXPECT_NE(r.error().message().find("multiple of 24"), std::string::npos) << r.error().message();
}

TEST(SliceEncoding, RejectsImpossibleRecords) {
  const Slice bad[] = {
      Slice{1, 10, 5, 6, 0},                                     // off+len > size
      Slice{0, 0, 0, 2, static_cast<uint32_t>(kChunkSize - 1)},  // past the chunk's end
      Slice{1, static_cast<uint32_t>(kChunkSize + 1), 0, 1, 0},  // larger than a chunk
  };
  for (const Slice& s : bad) {
    std::string data;
    AppendSlice(&data, MakeSlice(1, 0, 10));
    AppendSlice(&data, s);
    Result<std::vector<Slice>> r = DecodeSlices(data);
    ASSERT_FALSE(r.has_value()) << "id " << s.id << " off " << s.off << " len " << s.len;
    EXPECT_EQ(r.error().code(), Code::kCorrupt);
    EXPECT_NE(r.error().message().find("record 1"), std::string::npos) << r.error().message();
  }
}

TEST(SliceEncoding, AcceptsHoleWithoutSize) {
  // A hole stores nothing, so its size need not cover off+len.
  std::string data;
  AppendSlice(&data, Slice{0, 0, 0, 100, 0});
  EXPECT_TRUE(DecodeSlices(data).has_value());
}

}  // namespace
}  // namespace shoal
