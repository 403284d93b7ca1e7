#include "cli/args.h"

#include <gtest/gtest.h>

namespace shoal::cli {
namespace {

TEST(ParseSize, UnitsArePowersOf1024) {
  EXPECT_EQ(*ParseSize("0", "--x"), 0u);
  EXPECT_EQ(*ParseSize("512", "--x"), 512u);
  EXPECT_EQ(*ParseSize("512B", "--x"), 512u);
  EXPECT_EQ(*ParseSize("64K", "--x"), 64u << 10);
  EXPECT_EQ(*ParseSize("64k", "--x"), 64u << 10);
  EXPECT_EQ(*ParseSize("64KiB", "--x"), 64u << 10);
  EXPECT_EQ(*ParseSize("4M", "--x"), 4u << 20);
  EXPECT_EQ(*ParseSize("4MB", "--x"), 4u << 20);
  EXPECT_EQ(*ParseSize("10G", "--x"), 10ull << 30);
  EXPECT_EQ(*ParseSize("2T", "--x"), 2ull << 40);
  EXPECT_EQ(*ParseSize("1P", "--x"), 1ull << 50);
}

TEST(ParseSize, RejectsWithAClearMessage) {
  for (const char* bad : {"", "M", "-4M", "4.5M", "4 M", "4X", "4MiBs", " 4M"}) {
    Result<uint64_t> r = ParseSize(bad, "--block-size");
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code(), Code::kInvalid);
    EXPECT_NE(r.error().message().find("--block-size '" + std::string(bad) + "'"),
              std::string::npos)
        << r.error().message();
    EXPECT_NE(r.error().message().find("e.g. 4M"), std::string::npos);
  }
}

TEST(ParseSize, RejectsOverflow) {
  EXPECT_FALSE(ParseSize("18446744073709551616", "--x").has_value());  // 2^64
  EXPECT_EQ(*ParseSize("18446744073709551615", "--x"), UINT64_MAX);
  EXPECT_FALSE(ParseSize("16384P", "--x").has_value());  // 2^64
  EXPECT_EQ(*ParseSize("16383P", "--x"), 16383ull << 50);
}

TEST(CheckVolumeName, AcceptsAndRejects) {
  EXPECT_TRUE(CheckVolumeName("demo").ok());
  EXPECT_TRUE(CheckVolumeName("Tenant_7.data-2").ok());
  EXPECT_TRUE(CheckVolumeName(std::string(64, 'a')).ok());
  EXPECT_FALSE(CheckVolumeName("").ok());
  EXPECT_FALSE(CheckVolumeName(std::string(65, 'a')).ok());
  EXPECT_FALSE(CheckVolumeName(".hidden").ok());
  EXPECT_FALSE(CheckVolumeName("-flag").ok());
  EXPECT_FALSE(CheckVolumeName("a/b").ok());
  EXPECT_FALSE(CheckVolumeName("a,b").ok());
  EXPECT_FALSE(CheckVolumeName("a b").ok());
  Status s = CheckVolumeName("a/b");
  EXPECT_NE(s.message().find("contains '/'"), std::string::npos) << s.message();
}

TEST(CheckBlockSize, PowersOfTwoWithinBounds) {
  EXPECT_TRUE(CheckBlockSize(64u << 10).ok());
  EXPECT_TRUE(CheckBlockSize(4u << 20).ok());
  EXPECT_TRUE(CheckBlockSize(64u << 20).ok());
  EXPECT_FALSE(CheckBlockSize(0).ok());
  EXPECT_FALSE(CheckBlockSize(32u << 10).ok());
  EXPECT_FALSE(CheckBlockSize(128u << 20).ok());
  EXPECT_FALSE(CheckBlockSize(3u << 20).ok());
}

TEST(CheckMetaUrl, NeedsAScheme) {
  EXPECT_TRUE(CheckMetaUrl("rocksdb:///var/lib/shoal/demo").ok());
  EXPECT_TRUE(CheckMetaUrl("redis://host:6379/1").ok());  // the engine factory judges schemes
  Status s = CheckMetaUrl("/var/lib/shoal/demo");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("rocksdb:///absolute/path"), std::string::npos) << s.message();
  EXPECT_FALSE(CheckMetaUrl("://x").ok());
}

TEST(FormatBytes, Readable) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(1023), "1023 B");
  EXPECT_EQ(FormatBytes(1024), "1 KiB");
  EXPECT_EQ(FormatBytes(4u << 20), "4 MiB");
  EXPECT_EQ(FormatBytes(3u << 19), "1.5 MiB");
  EXPECT_EQ(FormatBytes(1ull << 50), "1 PiB");
}

TEST(FormatAge, Units) {
  EXPECT_EQ(FormatAge(-5), "0 s");
  EXPECT_EQ(FormatAge(3), "3 s");
  EXPECT_EQ(FormatAge(300), "5 min");
  EXPECT_EQ(FormatAge(int64_t{3} * 3600), "3 h");
  EXPECT_EQ(FormatAge(int64_t{3} * 86400), "3 d");
}

}  // namespace
}  // namespace shoal::cli
