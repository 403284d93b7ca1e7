#include "cache/block_file.h"

#include <gtest/gtest.h>

#include "cache/test_util.h"

namespace shoal::cache {
namespace {

// A whole block file: meta then data.
std::string FileOf(std::string_view key, std::string_view data) {
  return EncodeBlockMeta(key, data) + std::string(data);
}

TEST(BlockFileTest, DecodesWhatWasEncoded) {
  const std::string data = testing::BlockData("k", 3 * kSegmentSize + 17);
  const std::string file = FileOf("vol/chunks/0a/0/7_0_196625", data);
  ASSERT_EQ(EncodeBlockMeta("vol/chunks/0a/0/7_0_196625", data).size(),
            BlockMetaSize(26, data.size()));
  Result<uint64_t> meta_size = PeekMetaSize(file);
  ASSERT_TRUE(meta_size.has_value()) << meta_size.error().ToString();
  EXPECT_EQ(*meta_size, kFixedHeaderSize + 26 + 4 * sizeof(uint64_t));
  Result<BlockMeta> meta = DecodeBlockMeta(file, file.size());
  ASSERT_TRUE(meta.has_value()) << meta.error().ToString();
  EXPECT_EQ(meta->key, "vol/chunks/0a/0/7_0_196625");
  EXPECT_EQ(meta->data_size, data.size());
  EXPECT_EQ(meta->meta_size, *meta_size);
  EXPECT_TRUE(VerifySegments(*meta, 0, file.substr(meta->meta_size)).ok());
  // A tail of segments verifies on its own.
  EXPECT_TRUE(VerifySegments(*meta, 2, file.substr(meta->meta_size + 2 * kSegmentSize)).ok());
}

TEST(BlockFileTest, EveryFlippedHeaderByteIsCaught) {
  const std::string data = testing::BlockData("k", 1000);
  const std::string file = FileOf("some/key", data);
  const size_t meta_size = BlockMetaSize(8, data.size());
  for (size_t i = 0; i < meta_size; ++i) {
    std::string bad = file;
    bad[i] ^= 0x20;
    Result<BlockMeta> meta = DecodeBlockMeta(bad, bad.size());
    EXPECT_FALSE(meta.has_value()) << "byte " << i;
    if (!meta.has_value()) {
      EXPECT_EQ(meta.error().code(), Code::kCorrupt);
    }
  }
}

TEST(BlockFileTest, FlippedDataByteFailsItsSegmentOnly) {
  const std::string data = testing::BlockData("k", 2 * kSegmentSize);
  std::string file = FileOf("key", data);
  Result<BlockMeta> meta = DecodeBlockMeta(file, file.size());
  ASSERT_TRUE(meta.has_value());
  file[meta->meta_size + kSegmentSize + 5] ^= 1;  // in segment 1
  std::string_view body = std::string_view(file).substr(meta->meta_size);
  Status st = VerifySegments(*meta, 0, body);
  EXPECT_EQ(st.code(), Code::kCorrupt);
  EXPECT_NE(st.message().find("segment 1"), std::string::npos) << st.message();
  EXPECT_TRUE(VerifySegments(*meta, 0, body.substr(0, kSegmentSize)).ok());
}

TEST(BlockFileTest, WrongFileSizeOrShortSegmentIsCorrupt) {
  const std::string data = testing::BlockData("k", kSegmentSize + 10);
  const std::string file = FileOf("key", data);
  EXPECT_FALSE(DecodeBlockMeta(file, file.size() - 1).has_value());
  EXPECT_FALSE(DecodeBlockMeta(file, file.size() + 1).has_value());
  Result<BlockMeta> meta = DecodeBlockMeta(file, file.size());
  ASSERT_TRUE(meta.has_value());
  std::string_view body = std::string_view(file).substr(meta->meta_size);
  EXPECT_EQ(VerifySegments(*meta, 0, body.substr(0, body.size() - 1)).code(), Code::kCorrupt);
  // Short of even a header.
  EXPECT_EQ(PeekMetaSize(file.substr(0, 20)).error().code(), Code::kCorrupt);
  EXPECT_EQ(PeekMetaSize(std::string(64, '\0')).error().code(), Code::kCorrupt);
}

TEST(BlockFileTest, EmptyBlockHasNoSegments) {
  const std::string file = FileOf("key", "");
  Result<BlockMeta> meta = DecodeBlockMeta(file, file.size());
  ASSERT_TRUE(meta.has_value());
  EXPECT_EQ(meta->data_size, 0u);
  EXPECT_EQ(meta->meta_size, kFixedHeaderSize + 3);
}

}  // namespace
}  // namespace shoal::cache
