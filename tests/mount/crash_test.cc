// kill -9 of the mount daemon: what was fsynced, and what was closed, must
// be there after the volume is mounted again, and the volume must stay
// usable.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "mount_fixture.h"

namespace shoal::testing {
namespace {

class CrashTest : public MountTest {
 protected:
  // Walks the whole volume and checks that every file reads without error.
  void ExpectVolumeHealthy() {
    std::string error;
    auto digest = TreeDigest(root(), false, &error);
    EXPECT_EQ(error, "") << "walking the volume after the crash";
    // New writes work and read back.
    std::string probe = Pattern(123457, 77);
    ASSERT_TRUE(WriteFile(Path("after-crash"), probe));
    EXPECT_TRUE(ReadFile(Path("after-crash")) == probe);
    ASSERT_SYS(mkdir(Path("after-crash-dir").c_str(), 0755));
    ASSERT_SYS(rename(Path("after-crash").c_str(), Path("after-crash-dir/moved").c_str()));
    EXPECT_TRUE(ReadFile(Path("after-crash-dir/moved")) == probe);
  }
};

TEST_F(CrashTest, FsyncedDataSurvivesKill9) {
  SHOAL_REQUIRE_MOUNT();
  std::string big = Pattern((9 << 20) + 4321, 1);  // spans three 4 MiB blocks
  std::string small = Pattern(1000, 2);
  ASSERT_SYS(mkdir(Path("dir").c_str(), 0755));
  ASSERT_TRUE(WriteFile(Path("dir/big"), big, /*fsync_it=*/true));
  ASSERT_TRUE(WriteFile(Path("dir/small"), small, /*fsync_it=*/true));
  // An overwrite in place, fsynced through a descriptor kept open at the kill.
  ScopedFd fd(open(Path("dir/big").c_str(), O_RDWR));
  ASSERT_TRUE(fd.ok());
  std::string patch = Pattern(70000, 3);
  ASSERT_EQ(pwrite(fd.get(), patch.data(), patch.size(), 5000000), 70000);
  ASSERT_SYS(fsync(fd.get()));
  big.replace(5000000, patch.size(), patch);

  ASSERT_TRUE(volume().KillDaemon());
  fd.reset();  // the dead mount's descriptor; closing it must not hang
  ASSERT_TRUE(volume().Mount());

  EXPECT_TRUE(ReadFile(Path("dir/big")) == big) << "fsynced data of dir/big lost or damaged";
  EXPECT_EQ(ReadFile(Path("dir/small")), small);
  struct stat st;
  ASSERT_SYS(stat(Path("dir/big").c_str(), &st));
  EXPECT_EQ(st.st_size, static_cast<off_t>(big.size()));
  ExpectVolumeHealthy();
}

TEST_F(CrashTest, ClosedFilesSurviveKill9) {
  SHOAL_REQUIRE_MOUNT();
  // Close returns only after the data is stored (close-to-open): no fsync.
  std::vector<std::string> contents;
  for (int i = 0; i < 20; ++i) {
    contents.push_back(Pattern(static_cast<size_t>(i) * 50000 + 1, 100 + i));
    ASSERT_TRUE(WriteFile(Path("closed-" + std::to_string(i)), contents.back()));
  }
  ASSERT_SYS(symlink("closed-0", Path("link").c_str()));
  ASSERT_SYS(rename(Path("closed-19").c_str(), Path("renamed").c_str()));
  ASSERT_SYS(unlink(Path("closed-18").c_str()));

  ASSERT_TRUE(volume().CrashAndRemount());

  for (int i = 0; i < 18; ++i) {
    EXPECT_TRUE(ReadFile(Path("closed-" + std::to_string(i))) == contents[i])
        << "closed-" << i << " lost or damaged";
  }
  EXPECT_TRUE(ReadFile(Path("renamed")) == contents[19]);
  struct stat st;
  EXPECT_ERRNO(ENOENT, stat(Path("closed-18").c_str(), &st));
  EXPECT_ERRNO(ENOENT, stat(Path("closed-19").c_str(), &st));
  EXPECT_TRUE(ReadFile(Path("link")) == contents[0]);
  ExpectVolumeHealthy();
}

// With --writeback, close returns once the blocks are staged on the cache
// disk; the uploads may still be running when the daemon is killed. The next
// mount uploads what was staged: nothing closed is lost.
class WritebackCrashTest : public CrashTest {
 protected:
  std::vector<std::string> MountArgs() const override { return {"--writeback"}; }
};

TEST_F(WritebackCrashTest, ClosedFilesSurviveKill9WithWriteback) {
  SHOAL_REQUIRE_MOUNT();
  std::vector<std::string> contents;
  for (int i = 0; i < 12; ++i) {
    contents.push_back(Pattern(static_cast<size_t>(i) * 700000 + 1, 300 + i));
    ASSERT_TRUE(WriteFile(Path("wb-" + std::to_string(i)), contents.back()));
  }
  ASSERT_TRUE(volume().KillDaemon());
  ASSERT_TRUE(volume().Mount({"--writeback"}));
  for (int i = 0; i < 12; ++i) {
    EXPECT_TRUE(ReadFile(Path("wb-" + std::to_string(i))) == contents[i])
        << "wb-" << i << " lost or damaged";
  }
  // Unmounted cleanly, every staged block is in the store: a mount without
  // the cache reads everything.
  ASSERT_TRUE(volume().Unmount());
  ASSERT_TRUE(volume().Mount({"--cache-size", "0"}));
  for (int i = 0; i < 12; ++i) {
    EXPECT_TRUE(ReadFile(Path("wb-" + std::to_string(i))) == contents[i])
        << "wb-" << i << " not in the object store after a clean unmount";
  }
  ExpectVolumeHealthy();
}

TEST_F(CrashTest, UnsyncedWriteAtKillLeavesUsableVolume) {
  SHOAL_REQUIRE_MOUNT();
  ASSERT_TRUE(WriteFile(Path("stable"), "stable", /*fsync_it=*/true));
  // Killed in the middle of writing: no promise about these bytes, but the
  // file must exist (its creation returned), read without error, and be no
  // longer than what was written.
  std::string data = Pattern(6 << 20, 9);
  ScopedFd fd(open(Path("in-flight").c_str(), O_WRONLY | O_CREAT, 0644));
  ASSERT_TRUE(fd.ok());
  ASSERT_EQ(write(fd.get(), data.data(), data.size()), static_cast<ssize_t>(data.size()));
  ASSERT_TRUE(volume().KillDaemon());
  fd.reset();
  ASSERT_TRUE(volume().Mount());

  std::string error;
  std::string got = ReadFile(Path("in-flight"), &error);
  EXPECT_EQ(error, "");
  EXPECT_LE(got.size(), data.size());
  EXPECT_EQ(ReadFile(Path("stable")), "stable");
  ExpectVolumeHealthy();
  // And the volume survives a second crash right after recovering.
  ASSERT_TRUE(volume().CrashAndRemount());
  EXPECT_EQ(ReadFile(Path("stable")), "stable");
  EXPECT_TRUE(ReadFile(Path("after-crash-dir/moved")) == Pattern(123457, 77));
}

}  // namespace
}  // namespace shoal::testing
