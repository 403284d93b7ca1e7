#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "chunk/chunk.h"

namespace shoal::chunk {
namespace {

uint64_t FileOffset(const WriteBuffer::Piece& p) {
  return uint64_t{p.chunk_index} * kChunkSize + p.pos;
}

TEST(WriteBuffer, StartsEmpty) {
  WriteBuffer buf;
  EXPECT_TRUE(buf.empty());
  EXPECT_EQ(buf.bytes(), 0u);
  EXPECT_EQ(buf.End(), 0u);
  EXPECT_TRUE(buf.Drain().empty());
}

TEST(WriteBuffer, EmptyWriteIsIgnored) {
  WriteBuffer buf;
  buf.Write(100, "");
  EXPECT_TRUE(buf.empty());
}

TEST(WriteBuffer, SequentialWritesBecomeOneExtent) {
  WriteBuffer buf;
  std::string want;
  for (int i = 0; i < 100; ++i) {
    std::string data(1000 + i, static_cast<char>('a' + i % 26));
    buf.Write(want.size(), data);
    want += data;
  }
  EXPECT_EQ(buf.bytes(), want.size());
  EXPECT_EQ(buf.End(), want.size());
  std::vector<WriteBuffer::Piece> pieces = buf.Drain();
  ASSERT_EQ(pieces.size(), 1u);
  EXPECT_EQ(pieces[0].chunk_index, 0u);
  EXPECT_EQ(pieces[0].pos, 0u);
  EXPECT_EQ(pieces[0].data.ToString(), want);
  EXPECT_TRUE(buf.empty());
  EXPECT_EQ(buf.bytes(), 0u);
}

// Appending must not copy the extent: a million one-byte appends would copy
// ~5e11 bytes if it did, and this test would not finish.
TEST(WriteBuffer, AppendIsAmortizedConstant) {
  WriteBuffer buf;
  constexpr uint64_t kCount = 1 << 20;
  const uint64_t base = 5 * kChunkSize - 100;  // also crosses a chunk boundary
  for (uint64_t i = 0; i < kCount; ++i) buf.Write(base + i, std::string_view("xyz" + i % 3, 1));
  EXPECT_EQ(buf.bytes(), kCount);
  std::vector<WriteBuffer::Piece> pieces = buf.Drain();
  ASSERT_EQ(pieces.size(), 2u);
  EXPECT_EQ(pieces[0].chunk_index, 4u);
  EXPECT_EQ(pieces[0].pos, kChunkSize - 100);
  EXPECT_EQ(pieces[0].data.size(), 100u);
  EXPECT_EQ(pieces[1].chunk_index, 5u);
  EXPECT_EQ(pieces[1].pos, 0u);
  EXPECT_EQ(pieces[1].data.size(), kCount - 100);
  EXPECT_EQ(pieces[1].data.ToString().substr(0, 3), "yzx");  // byte 100 is "xyz"[100 % 3]
}

TEST(WriteBuffer, OverlappingWritesNewestWins) {
  WriteBuffer buf;
  buf.Write(10, "aaaaaaaaaa");            // [10, 20)
  buf.Write(30, "cccccccccc");            // [30, 40)
  buf.Write(15, "bbbbbbbbbbbbbbbbbbbb");  // [15, 35) bridges both
  EXPECT_EQ(buf.bytes(), 30u);
  std::string out(50, '.');
  buf.Overlay(0, &out);
  EXPECT_EQ(out, "..........aaaaabbbbbbbbbbbbbbbbbbbbccccc..........");
  std::vector<WriteBuffer::Piece> pieces = buf.Drain();
  ASSERT_EQ(pieces.size(), 1u);
  EXPECT_EQ(pieces[0].pos, 10u);
}

TEST(WriteBuffer, WriteBeforeAnExtentAbsorbsIt) {
  WriteBuffer buf;
  buf.Write(10, "bbbb");
  buf.Write(6, "aaaa");  // touches [10, 14)
  EXPECT_EQ(buf.bytes(), 8u);
  std::vector<WriteBuffer::Piece> pieces = buf.Drain();
  ASSERT_EQ(pieces.size(), 1u);
  EXPECT_EQ(pieces[0].pos, 6u);
  EXPECT_EQ(pieces[0].data.ToString(), "aaaabbbb");
}

TEST(WriteBuffer, OverlayOnlyTouchesBufferedBytes) {
  WriteBuffer buf;
  buf.Write(5, "XY");
  buf.Write(20, "Z");
  std::string out = "0123456789";
  buf.Overlay(4, &out);  // file bytes [4, 14)
  EXPECT_EQ(out, "0XY3456789");
  // Ranges that start inside an extent, or in its last byte.
  out = "...";
  buf.Overlay(6, &out);
  EXPECT_EQ(out, "Y..");
  out = "...";
  buf.Overlay(20, &out);
  EXPECT_EQ(out, "Z..");
}

TEST(WriteBuffer, TruncateCutsAndDrops) {
  WriteBuffer buf;
  buf.Write(0, "aaaa");
  buf.Write(10, "bbbb");
  buf.Write(20, "cccc");
  buf.Truncate(12);
  EXPECT_EQ(buf.bytes(), 6u);
  EXPECT_EQ(buf.End(), 12u);
  buf.Truncate(0);
  EXPECT_TRUE(buf.empty());
  EXPECT_EQ(buf.bytes(), 0u);
}

TEST(WriteBuffer, ZeroForgetsTheRange) {
  WriteBuffer buf;
  buf.Write(0, "abcdefghij");
  buf.Zero(3, 4);
  EXPECT_EQ(buf.bytes(), 6u);
  std::string out(10, '.');
  buf.Overlay(0, &out);
  EXPECT_EQ(out, "abc....hij");
  std::vector<WriteBuffer::Piece> pieces = buf.Drain();
  ASSERT_EQ(pieces.size(), 2u);
  EXPECT_EQ(pieces[0].data.ToString(), "abc");
  EXPECT_EQ(pieces[1].pos, 7u);
  EXPECT_EQ(pieces[1].data.ToString(), "hij");
  // A huge length does not overflow.
  buf.Write(100, "x");
  buf.Zero(50, UINT64_MAX);
  EXPECT_TRUE(buf.empty());
}

TEST(WriteBuffer, DrainCutsAtEveryChunkBoundary) {
  WriteBuffer buf;
  std::string data(kChunkSize + 10, 'q');
  data[4] = 'A';               // last byte of chunk 0
  data[5] = 'B';               // first byte of chunk 1
  data[kChunkSize + 5] = 'C';  // first byte of chunk 2
  buf.Write(kChunkSize - 5, data);
  std::vector<WriteBuffer::Piece> pieces = buf.Drain();
  ASSERT_EQ(pieces.size(), 3u);
  EXPECT_EQ(pieces[0].chunk_index, 0u);
  EXPECT_EQ(pieces[0].pos, kChunkSize - 5);
  EXPECT_EQ(pieces[0].data.size(), 5u);
  EXPECT_EQ(pieces[0].data.ToString().back(), 'A');
  EXPECT_EQ(pieces[1].chunk_index, 1u);
  EXPECT_EQ(pieces[1].pos, 0u);
  EXPECT_EQ(pieces[1].data.size(), kChunkSize);
  EXPECT_EQ(pieces[1].data.ToString().front(), 'B');
  EXPECT_EQ(pieces[2].chunk_index, 2u);
  EXPECT_EQ(pieces[2].pos, 0u);
  EXPECT_EQ(pieces[2].data.ToString(), "Cqqqq");
}

// Random writes, truncates and zero ranges in a window around a chunk
// boundary, against a model that records each byte's buffered value (-1: not
// buffered). Half the ranges start at or next to an extent's edge, where
// off-by-one mistakes live. Overlay, bytes() and End() are checked after every
// step; now and then the buffer is drained and its pieces, written into a
// file image, must give back exactly the model.
void RunRandomOperations(WriteBuffer& buf) {
  constexpr uint64_t kWindow = 32 << 10;
  const uint64_t base = 3 * kChunkSize - kWindow / 2;
  std::mt19937_64 rng(1234);
  std::vector<int> model(kWindow, -1);
  std::vector<uint64_t> edges;  // where the model changes between buffered and not

  auto random_len = [&](uint64_t max) {
    switch (rng() % 4) {
      case 0:
        return rng() % max;
      case 1:
        return rng() % 4;
      default:
        return rng() % 4096;
    }
  };
  // A start for a range of `len` bytes: near an edge half the time.
  auto random_start = [&](uint64_t len) {
    uint64_t at = rng() % (kWindow - len + 1);
    if (!edges.empty() && rng() % 2 == 0) {
      at = edges[rng() % edges.size()] + rng() % 3;
      at = at == 0 ? 0 : at - 1;
      at = std::min(at, kWindow - len);
    }
    return at;
  };

  for (int step = 0; step < 3000; ++step) {
    int op = static_cast<int>(rng() % 100);
    if (op < 65) {
      uint64_t len = 1 + random_len(kWindow / 4);
      uint64_t at = random_start(len);
      std::string data(len, '\0');
      for (uint64_t i = 0; i < len; ++i) {
        data[i] = static_cast<char>(rng());
        model[at + i] = static_cast<unsigned char>(data[i]);
      }
      buf.Write(base + at, data);
    } else if (op < 70) {
      uint64_t at = random_start(0);
      buf.Truncate(base + at);
      for (uint64_t i = at; i < kWindow; ++i) model[i] = -1;
    } else if (op < 82) {
      uint64_t len = random_len(kWindow / 4);
      uint64_t at = random_start(len);
      buf.Zero(base + at, len);
      for (uint64_t i = at; i < at + len; ++i) model[i] = -1;
    } else if (op < 97) {
      uint64_t len = random_len(kWindow);
      uint64_t at = random_start(len);
      std::string out(len, '\0');
      for (char& c : out) c = static_cast<char>(rng());
      std::string want = out;
      for (uint64_t i = 0; i < len; ++i) {
        if (model[at + i] >= 0) want[i] = static_cast<char>(model[at + i]);
      }
      buf.Overlay(base + at, &out);
      ASSERT_EQ(out, want) << "step " << step << ": overlay of " << at << "+" << len;
    } else {
      std::vector<WriteBuffer::Piece> pieces = buf.Drain();
      ASSERT_TRUE(buf.empty());
      ASSERT_EQ(buf.bytes(), 0u);
      std::vector<int> image(kWindow, -1);
      uint64_t last_end = 0;
      for (const WriteBuffer::Piece& p : pieces) {
        ASSERT_FALSE(p.data.empty()) << "step " << step;
        ASSERT_LE(uint64_t{p.pos} + p.data.size(), kChunkSize) << "a piece must fit its chunk";
        uint64_t off = FileOffset(p);
        ASSERT_GE(off, base + last_end) << "pieces must be in file order and disjoint";
        if (last_end != 0 && off == base + last_end) {
          ASSERT_EQ(p.pos, 0u) << "touching extents must have been merged";
        }
        last_end = off + p.data.size() - base;
        ASSERT_LE(last_end, kWindow);
        const std::string bytes = p.data.ToString();
        for (size_t i = 0; i < bytes.size(); ++i) {
          image[off - base + i] = static_cast<unsigned char>(bytes[i]);
        }
      }
      ASSERT_EQ(image, model) << "step " << step << ": drained pieces differ from the model";
      model.assign(kWindow, -1);
    }

    uint64_t bytes = 0;
    uint64_t end = 0;
    edges.clear();
    for (uint64_t i = 0; i < kWindow; ++i) {
      if (model[i] >= 0) {
        ++bytes;
        end = base + i + 1;
      }
      bool was_buffered = i > 0 && model[i - 1] >= 0;
      if (was_buffered != (model[i] >= 0)) edges.push_back(i);
    }
    ASSERT_EQ(buf.bytes(), bytes) << "step " << step;
    ASSERT_EQ(buf.End(), end) << "step " << step;
    ASSERT_EQ(buf.empty(), bytes == 0) << "step " << step;
  }
}

TEST(WriteBuffer, RandomOperationsMatchByteModel) {
  WriteBuffer buf;
  RunRandomOperations(buf);
}

// The same with pages of 1 KiB from a pool (small strings up to 256 bytes):
// writes, cuts and drains cross page edges all the time, and drained pieces
// take whole pages when they start on one.
TEST(WriteBuffer, RandomOperationsWithSmallPagesMatchByteModel) {
  PagePool pool(8, 1024, 256);
  WriteBuffer buf(&pool);
  RunRandomOperations(buf);
  EXPECT_GT(pool.idle(), 0u) << "drained and cut pages must come back to the pool";
}

}  // namespace
}  // namespace shoal::chunk
