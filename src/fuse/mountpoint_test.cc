#include "fuse/mountpoint.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace shoal::fuse {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kMountInfo =
    "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
    "27 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "90 27 0:50 / /mnt/with\\040space rw,nosuid,nodev - fuse.shoal shoal:demo rw,user_id=0\n"
    "91 27 0:51 / /mnt/a rw - tmpfs tmpfs rw\n"
    "92 91 0:52 / /mnt/a rw master:3 unbindable - fuse.shoal shoal:top rw\n"
    "garbage line without separator\n";

TEST(ParseMountInfo, FieldsAndEscapes) {
  std::vector<MountEntry> t = ParseMountInfo(kMountInfo);
  ASSERT_EQ(t.size(), 5u);  // the garbage line is skipped
  EXPECT_EQ(t[0].mountpoint, "/proc");
  EXPECT_EQ(t[0].fstype, "proc");
  EXPECT_EQ(t[1].mountpoint, "/");
  EXPECT_EQ(t[1].source, "/dev/sda1");
  EXPECT_EQ(t[2].mountpoint, "/mnt/with space");
  EXPECT_EQ(t[2].fstype, kMountType);
  EXPECT_EQ(t[2].source, "shoal:demo");
  // Optional fields (master:3 unbindable) come before the separator.
  EXPECT_EQ(t[4].fstype, "fuse.shoal");
}

TEST(FindMount, TopmostWins) {
  std::vector<MountEntry> t = ParseMountInfo(kMountInfo);
  std::optional<MountEntry> m = FindMount(t, "/mnt/a");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->source, "shoal:top");
  EXPECT_FALSE(FindMount(t, "/mnt").has_value());
  EXPECT_FALSE(FindMount(t, "/mnt/a/").has_value());  // callers normalize first
}

TEST(AbsolutePath, NormalizesWithoutTouchingDisk) {
  EXPECT_EQ(AbsolutePath("/a/b/../c/./d/"), "/a/c/d");
  EXPECT_EQ(AbsolutePath("/"), "/");
  std::string cwd = fs::current_path().string();
  EXPECT_EQ(AbsolutePath("x/y"), (fs::path(cwd) / "x/y").lexically_normal().string());
}

class CheckMountpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("shoal-mountpoint-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(CheckMountpointTest, EmptyDirectoryIsFine) {
  Result<MountpointCheck> r = CheckMountpoint(dir_.string());
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_TRUE(r->empty);
  EXPECT_EQ(r->path, fs::canonical(dir_).string());
}

TEST_F(CheckMountpointTest, NonEmptyIsAllowedButReported) {
  std::ofstream(dir_ / "file") << "x";
  Result<MountpointCheck> r = CheckMountpoint(dir_.string());
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_FALSE(r->empty);
}

TEST_F(CheckMountpointTest, MissingSaysCreateIt) {
  std::string missing = (dir_ / "nope").string();
  Result<MountpointCheck> r = CheckMountpoint(missing);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Code::kNotFound);
  EXPECT_NE(r.error().message().find("mountpoint " + missing + " does not exist: create it first"),
            std::string::npos)
      << r.error().message();
}

TEST_F(CheckMountpointTest, FileIsNotADirectory) {
  std::ofstream(dir_ / "file") << "x";
  Result<MountpointCheck> r = CheckMountpoint((dir_ / "file").string());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Code::kNotDir);
  EXPECT_NE(r.error().message().find("is not a directory"), std::string::npos);
}

TEST_F(CheckMountpointTest, ExistingMountIsBusy) {
  // /proc is a mount in every namespace these tests run in.
  Result<MountpointCheck> r = CheckMountpoint("/proc");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Code::kBusy);
  EXPECT_NE(r.error().message().find("mountpoint /proc is busy: something is already mounted"),
            std::string::npos)
      << r.error().message();
  r = CheckMountpoint("/");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Code::kBusy);
}

TEST_F(CheckMountpointTest, SymlinkIsResolved) {
  fs::create_directories(dir_ / "real");
  fs::create_directory_symlink(dir_ / "real", dir_ / "link");
  Result<MountpointCheck> r = CheckMountpoint((dir_ / "link").string());
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->path, fs::canonical(dir_ / "real").string());
}

}  // namespace
}  // namespace shoal::fuse
