#include "meta/codec.h"

#include <gtest/gtest.h>

namespace shoal::meta::codec {
namespace {

TEST(CodecTest, AttrRoundTrip) {
  Attr a;
  a.type = FileType::kSymlink;
  a.mode = 04755;
  a.uid = 7;
  a.gid = 8;
  a.nlink = 3;
  a.length = 1ull << 40;
  a.rdev = 0x1234;
  a.atime = {-5, 999999999};
  a.mtime = {1700000000, 1};
  a.ctime = {1700000001, 2};
  a.parent = 42;
  auto b = DecodeAttr(EncodeAttr(a));
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(EncodeAttr(*b), EncodeAttr(a));
  EXPECT_EQ(b->atime, a.atime);
  EXPECT_EQ(b->type, FileType::kSymlink);
  EXPECT_EQ(DecodeAttr(EncodeAttr(a).substr(1)).error().code(), Code::kCorrupt);
}

TEST(CodecTest, KeysOfOneInodeSortTogetherInNumericOrder) {
  EXPECT_LT(ChunkKey(1, 2), ChunkKey(1, 256));
  EXPECT_LT(ChunkKey(1, 0xffffffff), ChunkKey(2, 0));
  EXPECT_LT(EntryKey(255, "zzz"), EntryKey(256, "a"));
  EXPECT_EQ(*ChunkIndex(ChunkKey(9, 77)), 77u);
  EXPECT_EQ(*EntryName(EntryKey(9, "name")), "name");
  EXPECT_EQ(*DecodeHolderKey(HolderKey(99, 3)), std::make_pair(Ino{99}, uint64_t{3}));
  auto d = DeletedSlice(DeletedSliceKey(5, 4096));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->first, 5u);
  EXPECT_EQ(d->second, 4096u);
}

TEST(CodecTest, VolumeRecordKeepsVersionEvenWhenOtherFieldsAreOdd) {
  VolumeConfig c;
  c.name = "v";
  c.format_version = 7;
  c.access_key = "AK";
  c.secret_key = "SK";
  c.region = "eu-west-1";
  auto d = DecodeVolume(EncodeVolume(c));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->format_version, 7u);
  EXPECT_EQ(d->access_key, "AK");
  EXPECT_EQ(d->secret_key, "SK");
  EXPECT_EQ(d->region, "eu-west-1");
  VolumeConfig bare;
  EXPECT_EQ(EncodeVolume(bare).find("secret"), std::string::npos);
  EXPECT_EQ(DecodeVolume("{\"name\":\"x\"}").error().code(), Code::kCorrupt);
  EXPECT_EQ(DecodeVolume("not json").error().code(), Code::kCorrupt);
}

TEST(CodecTest, LockRecordsRoundTrip) {
  std::vector<PlockRecord> p = {{1, 2, {LockType::kWrite, 0, UINT64_MAX, 9}}};
  auto q = DecodePlocks(EncodePlocks(p));
  ASSERT_TRUE(q.has_value());
  ASSERT_EQ(q->size(), 1u);
  EXPECT_EQ((*q)[0].lock.end, UINT64_MAX);
  EXPECT_EQ((*q)[0].lock.pid, 9u);
  EXPECT_FALSE(DecodeFlocks("abc").has_value());
}

}  // namespace
}  // namespace shoal::meta::codec
