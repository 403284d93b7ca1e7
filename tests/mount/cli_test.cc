// The command line on bad input: each mistake gets a non-zero exit, a
// message that names the problem, and no change to anything. And the fields
// that `shoal status` and `shoal info` report.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "mount_fixture.h"
#include "nlohmann/json.hpp"

#ifndef SHOAL_FORMAT_VERSION_TOOL
#define SHOAL_FORMAT_VERSION_TOOL ""
#endif

namespace shoal::testing {
namespace {

namespace fs = std::filesystem;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The command failed cleanly (no crash, no hang) and its stderr mentions one
// of `words` (case-insensitive).
::testing::AssertionResult FailedSaying(const CommandResult& r,
                                        std::initializer_list<std::string_view> words) {
  if (r.timed_out) return ::testing::AssertionFailure() << "timed out";
  if (r.exit_code == 0) {
    return ::testing::AssertionFailure() << "exited 0; stdout: " << r.out << " stderr: " << r.err;
  }
  if (r.exit_code >= 128) {
    return ::testing::AssertionFailure()
           << "killed by signal " << r.exit_code - 128 << "; stderr: " << r.err;
  }
  std::string err = Lower(r.err);
  for (std::string_view word : words) {
    if (err.find(Lower(std::string(word))) != std::string::npos) {
      return ::testing::AssertionSuccess();
    }
  }
  std::string wanted;
  for (std::string_view word : words) wanted += " '" + std::string(word) + "'";
  return ::testing::AssertionFailure() << "stderr names none of" << wanted << ": " << r.err;
}

// All values in a JSON document (depth first), with the key they sit under.
void Walk(const nlohmann::json& j, const std::string& key,
          const std::function<void(const std::string&, const nlohmann::json&)>& fn) {
  fn(key, j);
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) Walk(it.value(), it.key(), fn);
  } else if (j.is_array()) {
    for (const auto& v : j) Walk(v, key, fn);
  }
}

bool HasString(const nlohmann::json& j, const std::string& key, const std::string& value) {
  bool found = false;
  Walk(j, "", [&](const std::string& k, const nlohmann::json& v) {
    if ((key.empty() || k == key) && v.is_string() && v.get<std::string>() == value) found = true;
  });
  return found;
}

bool HasNumber(const nlohmann::json& j, uint64_t value) {
  bool found = false;
  Walk(j, "", [&](const std::string&, const nlohmann::json& v) {
    if (v.is_number_unsigned() && v.get<uint64_t>() == value) found = true;
    if (v.is_number_integer() && v.get<int64_t>() >= 0 &&
        static_cast<uint64_t>(v.get<int64_t>()) == value) {
      found = true;
    }
  });
  return found;
}

// Hashes of every file under dir: to check that a failed command changed nothing.
std::map<std::string, uint64_t> FileHashes(const std::string& dir) {
  std::map<std::string, uint64_t> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->is_regular_file(ec)) out[it->path().string()] = Fnv1a(ReadFile(it->path().string()));
  }
  return out;
}

class CliTest : public ScratchTest {
 protected:
  void SetUp() override {
    ScratchTest::SetUp();
    if (IsSkipped() || HasFailure() || tmp().empty()) return;
    vol_ = std::make_unique<Volume>(tmp() + "/a", "vol", TestStorage::kFile);
  }

  // The mountpoint is not mounted and no daemon serves it.
  void ExpectNothingMounted(const std::string& mountpoint) {
    EXPECT_FALSE(IsMountPoint(mountpoint)) << mountpoint << " was mounted by a failed command";
    EXPECT_TRUE(FindProcesses(mountpoint, true).empty()) << "a daemon is left for " << mountpoint;
  }

  std::unique_ptr<Volume> vol_;
};

TEST_F(CliTest, MountWithoutMetadataIsRefused) {
  std::string missing = "rocksdb://" + tmp() + "/no-such-meta";
  auto r = vol_->Shoal({"mount", missing, vol_->mountpoint(), "--background"});
  EXPECT_TRUE(FailedSaying(r, {"format", "not found", "no volume", "does not exist"}));
  EXPECT_FALSE(fs::exists(tmp() + "/no-such-meta")) << "mount created the metadata path";
  ExpectNothingMounted(vol_->mountpoint());

  r = vol_->Shoal({"status", missing});
  EXPECT_TRUE(FailedSaying(r, {"format", "not found", "no volume", "does not exist"}));
  EXPECT_FALSE(fs::exists(tmp() + "/no-such-meta")) << "status created the metadata path";
}

TEST_F(CliTest, MountOfCorruptMetadataIsRefused) {
  std::string garbage = tmp() + "/garbage";
  ASSERT_SYS(mkdir(garbage.c_str(), 0755));
  ASSERT_TRUE(WriteFile(garbage + "/CURRENT", "MANIFEST-000042 but not really\n\x01\x02"));
  ASSERT_TRUE(WriteFile(garbage + "/MANIFEST-000042", Pattern(5000, 1)));
  ASSERT_TRUE(WriteFile(garbage + "/000043.sst", Pattern(20000, 2)));
  ASSERT_TRUE(WriteFile(garbage + "/notes.txt", "not a database\n"));
  auto before = FileHashes(garbage);

  auto r = vol_->Shoal({"mount", "rocksdb://" + garbage, vol_->mountpoint(), "--background"});
  EXPECT_TRUE(FailedSaying(r, {garbage, "corrupt"}));
  ExpectNothingMounted(vol_->mountpoint());
  // The engine may add its own log files; ours must be untouched.
  auto after = FileHashes(garbage);
  for (const auto& [path, hash] : before) {
    EXPECT_TRUE(after.contains(path) && after[path] == hash) << path << " was changed";
  }
}

TEST_F(CliTest, FormatOfExistingVolumeIsRefused) {
  ASSERT_TRUE(vol_->Format());
  ASSERT_TRUE(vol_->Mount());
  ASSERT_TRUE(WriteFile(vol_->mountpoint() + "/keep", "precious"));
  ASSERT_TRUE(vol_->Unmount());
  auto data_before = FileHashes(vol_->bucket());

  auto r = vol_->Shoal(
      {"format", vol_->meta_url(), "other", "--storage", "file", "--bucket", tmp() + "/data2"});
  EXPECT_TRUE(FailedSaying(r, {"exist", "already"}));
  r = vol_->Shoal(
      {"format", vol_->meta_url(), "vol", "--storage", "file", "--bucket", vol_->bucket()});
  EXPECT_TRUE(FailedSaying(r, {"exist", "already"}));
  EXPECT_EQ(FileHashes(vol_->bucket()), data_before);

  ASSERT_TRUE(vol_->Mount());
  EXPECT_EQ(ReadFile(vol_->mountpoint() + "/keep"), "precious");
  // While mounted, the embedded engine is the mount's alone: ask the mount.
  auto status = vol_->Shoal({"status", vol_->mountpoint(), "--json"});
  ASSERT_TRUE(status.ok()) << status.err;
  auto j = nlohmann::json::parse(status.out, nullptr, false);
  EXPECT_TRUE(HasString(j, "name", "vol")) << "the volume's name changed: " << status.out;
}

TEST_F(CliTest, MountOnMissingDirectoryIsRefused) {
  ASSERT_TRUE(vol_->Format());
  std::string nowhere = tmp() + "/no-such-dir";
  auto r = vol_->Shoal({"mount", vol_->meta_url(), nowhere, "--background"});
  EXPECT_TRUE(FailedSaying(r, {nowhere, "does not exist", "no such", "not found"}));
  EXPECT_FALSE(fs::exists(nowhere)) << "mount created the mountpoint";
  ExpectNothingMounted(nowhere);
  // A file is no mountpoint either.
  ASSERT_TRUE(WriteFile(tmp() + "/a-file", "x"));
  r = vol_->Shoal({"mount", vol_->meta_url(), tmp() + "/a-file", "--background"});
  EXPECT_TRUE(FailedSaying(r, {"director", "not a dir"}));
  ExpectNothingMounted(tmp() + "/a-file");
  // The volume is unharmed.
  ASSERT_TRUE(vol_->Mount());
  EXPECT_TRUE(WriteFile(vol_->mountpoint() + "/f", "ok"));
}

TEST_F(CliTest, MountOnBusyMountpointIsRefused) {
  ASSERT_TRUE(vol_->Format());
  ASSERT_TRUE(vol_->Mount());
  ASSERT_TRUE(WriteFile(vol_->mountpoint() + "/first", "1"));
  Volume second(tmp() + "/b", "second");
  ASSERT_TRUE(second.Format());
  auto r = second.Shoal({"mount", second.meta_url(), vol_->mountpoint(), "--background"});
  EXPECT_TRUE(FailedSaying(r, {"already mounted", "busy", "in use", "mounted"}));
  EXPECT_EQ(MountPointsUnder(vol_->mountpoint()).size(), 1u) << "a second mount was stacked";
  EXPECT_EQ(ReadFile(vol_->mountpoint() + "/first"), "1");
  EXPECT_TRUE(FindProcesses(second.meta_url(), true).empty());
}

TEST_F(CliTest, SameVolumeMountedTwiceIsRefused) {
  ASSERT_TRUE(vol_->Format());
  ASSERT_TRUE(vol_->Mount());
  std::string other = tmp() + "/other-mnt";
  ASSERT_SYS(mkdir(other.c_str(), 0755));
  // The embedded engine serves one process; the message must say so, not
  // just "IO error".
  auto r = vol_->Shoal({"mount", vol_->meta_url(), other, "--background"});
  EXPECT_TRUE(FailedSaying(r, {"lock", "in use", "already", "busy", "another"}));
  ExpectNothingMounted(other);
  EXPECT_TRUE(WriteFile(vol_->mountpoint() + "/still-works", "yes"));
}

TEST_F(CliTest, UnknownUrlSchemeIsRefused) {
  std::string url = "nosuchdb://" + tmp() + "/meta";
  auto r = vol_->Shoal({"format", url, "vol", "--storage", "file", "--bucket", vol_->bucket()});
  EXPECT_TRUE(FailedSaying(r, {"nosuchdb", "scheme"}));
  r = vol_->Shoal({"mount", url, vol_->mountpoint(), "--background"});
  EXPECT_TRUE(FailedSaying(r, {"nosuchdb", "scheme"}));
  ExpectNothingMounted(vol_->mountpoint());
  r = vol_->Shoal({"status", url});
  EXPECT_TRUE(FailedSaying(r, {"nosuchdb", "scheme"}));
  r = vol_->Shoal(
      {"format", "not a url at all", "vol", "--storage", "file", "--bucket", vol_->bucket()});
  EXPECT_TRUE(FailedSaying(r, {"url", "scheme", "invalid"}));
  r = vol_->Shoal(
      {"format", vol_->meta_url(), "vol", "--storage", "nosuchstore", "--bucket", vol_->bucket()});
  EXPECT_TRUE(FailedSaying(r, {"nosuchstore", "storage"}));
  // Nothing was created by any of them.
  EXPECT_FALSE(fs::exists(tmp() + "/meta"));
  EXPECT_FALSE(fs::exists(tmp() + "/a/meta"));
  EXPECT_FALSE(fs::exists(vol_->bucket()));
}

TEST_F(CliTest, OtherFormatVersionIsRefused) {
  std::string tool = SHOAL_FORMAT_VERSION_TOOL;
  if (tool.empty()) GTEST_SKIP() << "shoal_format_version_tool was not built (no shoal_meta yet)";
  auto made = RunCommand({tool, vol_->meta_url(), vol_->bucket(), "999"});
  if (made.exit_code == 77) GTEST_SKIP() << made.err;
  ASSERT_TRUE(made.ok()) << made.Describe({tool});
  auto r = vol_->Shoal({"mount", vol_->meta_url(), vol_->mountpoint(), "--background"});
  EXPECT_TRUE(FailedSaying(r, {"version"}));
  EXPECT_TRUE(r.err.find("999") != std::string::npos) << "should name the version: " << r.err;
  ExpectNothingMounted(vol_->mountpoint());
  // Format must not overwrite it either.
  r = vol_->Shoal(
      {"format", vol_->meta_url(), "vol", "--storage", "file", "--bucket", vol_->bucket()});
  EXPECT_TRUE(FailedSaying(r, {"exist", "already", "version"}));
}

TEST_F(CliTest, UmountOfNonMountIsRefused) {
  std::string dir = tmp() + "/plain";
  ASSERT_SYS(mkdir(dir.c_str(), 0755));
  auto r = vol_->Shoal({"umount", dir});
  EXPECT_TRUE(FailedSaying(r, {"not mounted", "not a shoal", "not a mount"}));
  r = vol_->Shoal({"umount", tmp() + "/missing"});
  EXPECT_TRUE(FailedSaying(r, {"not mounted", "no such", "does not exist", "not found"}));
}

TEST_F(CliTest, StatusReportsVolumeAndSessions) {
  ASSERT_TRUE(vol_->Format());
  auto r = vol_->Shoal({"status", vol_->meta_url()});
  ASSERT_TRUE(r.ok()) << r.err;
  EXPECT_NE(r.out.find("vol"), std::string::npos) << r.out;

  ASSERT_TRUE(vol_->Mount());
  ASSERT_TRUE(WriteFile(vol_->mountpoint() + "/f", Pattern(1 << 20, 1)));
  // The embedded engine serves one process: asking by URL while mounted
  // either works or says to ask the mountpoint.
  r = vol_->Shoal({"status", vol_->meta_url()});
  if (!r.ok()) {
    EXPECT_TRUE(FailedSaying(r, {"mountpoint"}));
  }
  r = vol_->Shoal({"status", vol_->mountpoint()});
  ASSERT_TRUE(r.ok()) << r.err;
  EXPECT_NE(r.out.find(vol_->mountpoint()), std::string::npos)
      << "text status should list the session's mountpoint: " << r.out;

  r = vol_->Shoal({"status", vol_->mountpoint(), "--json"});
  ASSERT_TRUE(r.ok()) << r.err;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << "not JSON: " << r.out;
  EXPECT_TRUE(HasString(j, "name", "vol")) << r.out;
  EXPECT_TRUE(HasString(j, "", vol_->bucket())) << "the bucket should be shown: " << r.out;
  bool has_sessions = false;
  Walk(j, "", [&](const std::string& k, const nlohmann::json& v) {
    if (k == "sessions" && v.is_array() && !v.empty()) has_sessions = true;
  });
  EXPECT_TRUE(has_sessions) << "a non-empty \"sessions\" array while mounted: " << r.out;
  EXPECT_TRUE(HasString(j, "mountpoint", vol_->mountpoint())) << r.out;
  auto daemons = vol_->DaemonPids();
  ASSERT_EQ(daemons.size(), 1u);
  EXPECT_TRUE(HasNumber(j, static_cast<uint64_t>(daemons[0])))
      << "the session's pid " << daemons[0] << " should be shown: " << r.out;

  // The mount's cache counters: a file read back from the cache counts hits.
  ASSERT_EQ(ReadFile(vol_->mountpoint() + "/f").size(), 1u << 20);
  r = vol_->Shoal({"status", vol_->mountpoint(), "--json"});
  ASSERT_TRUE(r.ok()) << r.err;
  j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.contains("data_path")) << r.out;
  EXPECT_GT(j["data_path"]["reads"].value("hits", uint64_t{0}), 0u) << r.out;
  EXPECT_GT(j["data_path"]["cache"].value("limit_bytes", uint64_t{0}), 0u) << r.out;
  r = vol_->Shoal({"status", vol_->mountpoint()});
  ASSERT_TRUE(r.ok()) << r.err;
  EXPECT_NE(r.out.find("hits"), std::string::npos) << r.out;

  // After umount the session is gone.
  ASSERT_TRUE(vol_->Unmount());
  r = vol_->Shoal({"status", vol_->meta_url(), "--json"});
  ASSERT_TRUE(r.ok()) << r.err;
  j = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_FALSE(HasString(j, "mountpoint", vol_->mountpoint())) << "stale session: " << r.out;
}

TEST_F(CliTest, InfoReportsFileLayout) {
  ASSERT_TRUE(vol_->Format());
  ASSERT_TRUE(vol_->Mount());
  std::string file = vol_->mountpoint() + "/data.bin";
  constexpr uint64_t kSize = (5 << 20) + 17;
  ASSERT_TRUE(WriteFile(file, Pattern(kSize, 3)));
  struct stat st;
  ASSERT_SYS(stat(file.c_str(), &st));

  auto r = vol_->Shoal({"info", file, "--json"});
  ASSERT_TRUE(r.ok()) << r.err;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << "not JSON: " << r.out;
  EXPECT_TRUE(HasNumber(j, st.st_ino)) << "inode " << st.st_ino << " not shown: " << r.out;
  EXPECT_TRUE(HasNumber(j, kSize)) << "size not shown: " << r.out;

  r = vol_->Shoal({"info", file});
  ASSERT_TRUE(r.ok()) << r.err;
  EXPECT_NE(r.out.find(std::to_string(st.st_ino)), std::string::npos) << r.out;

  r = vol_->Shoal({"info", vol_->mountpoint() + "/missing"});
  EXPECT_TRUE(FailedSaying(r, {"no such", "not found", "does not exist"}));
  r = vol_->Shoal({"info", tmp()});
  EXPECT_TRUE(FailedSaying(r, {"not a shoal", "not on a shoal", "not in a shoal",
                               "not inside a shoal", "not part of a shoal"}));
}

TEST_F(CliTest, FsckFindsAndRepairsDamage) {
  ASSERT_TRUE(vol_->Format());
  ASSERT_TRUE(vol_->Mount());
  ASSERT_TRUE(WriteFile(vol_->mountpoint() + "/a", Pattern((5 << 20) + 3, 4)));
  ASSERT_TRUE(WriteFile(vol_->mountpoint() + "/b", Pattern(100, 5)));
  ASSERT_TRUE(vol_->Unmount());

  auto r = vol_->Shoal({"fsck", vol_->meta_url()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("no problems"), std::string::npos) << r.out;

  // One block of /a lost, and an object that nothing refers to, an hour old.
  std::vector<std::string> blocks;
  for (const auto& e : fs::recursive_directory_iterator(vol_->bucket() + "/vol/chunks")) {
    if (e.is_regular_file()) blocks.push_back(e.path().string());
  }
  ASSERT_EQ(blocks.size(), 3u);  // /a: 4 MiB + 1 MiB blocks; /b: one
  std::sort(blocks.begin(), blocks.end());
  std::string lost;
  for (const std::string& b : blocks) {
    if (b.ends_with("_1_1048579")) lost = b;
  }
  ASSERT_FALSE(lost.empty()) << "no second block of /a among the objects";
  ASSERT_EQ(::unlink(lost.c_str()), 0);
  std::string leaked = fs::path(lost).parent_path().string() + "/987654_0_4";
  ASSERT_TRUE(WriteFile(leaked, "leak"));
  auto old = fs::file_time_type::clock::now() - std::chrono::hours(2);
  fs::last_write_time(leaked, old);

  r = vol_->Shoal({"fsck", vol_->meta_url(), "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << "not JSON: " << r.out;
  EXPECT_TRUE(HasString(j, "kind", "missing_object")) << r.out;
  EXPECT_TRUE(HasString(j, "kind", "leaked_object")) << r.out;
  EXPECT_TRUE(HasString(j, "path", "/a")) << "the damaged file should be named: " << r.out;
  EXPECT_TRUE(fs::exists(leaked)) << "fsck without --repair deleted an object";

  // The leak is repaired; the lost block cannot be, so the status stays 1.
  r = vol_->Shoal({"fsck", vol_->meta_url(), "--repair"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_FALSE(fs::exists(leaked)) << r.out;
  r = vol_->Shoal({"fsck", vol_->meta_url(), "--skip-objects"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;

  r = vol_->Shoal({"fsck", "rocksdb://" + tmp() + "/no-such-meta"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_TRUE(FailedSaying(r, {"no volume", "format"}));
}

// ---------------------------------------------------------------------------
// S3 volumes and objbench. The tests that talk to a server use the one
// scripts/test.sh starts (s3rver: it checks the access key id, not the
// signature, so any secret is accepted with the key S3RVER).

#define SHOAL_REQUIRE_S3()                                                            \
  do {                                                                                \
    if (std::string reason = S3SkipReason(); !reason.empty()) GTEST_SKIP() << reason; \
  } while (0)

// A TCP port on 127.0.0.1 that nothing listens on (bound, then released).
int ClosedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// The message is one line, as the CLI promises.
::testing::AssertionResult OneLine(const CommandResult& r) {
  std::string err = r.err;
  while (!err.empty() && err.back() == '\n') err.pop_back();
  if (err.find('\n') != std::string::npos) {
    return ::testing::AssertionFailure() << "stderr has more than one line: " << r.err;
  }
  return ::testing::AssertionSuccess();
}

// Removes the AWS_* variables for the rest of this test process, so that the
// commands it runs see only the credentials a test gives them.
void ClearAwsEnvironment() {
  for (const char* name : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                           "AWS_REGION", "AWS_DEFAULT_REGION"}) {
    unsetenv(name);
  }
}

class S3CliTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    ClearAwsEnvironment();
  }

  std::string Bucket() const { return S3FromEnv().endpoint + "/" + UniqueBucketName(); }
  std::string MetaUrl(std::string_view name) const {
    return "rocksdb://" + tmp() + "/" + std::string(name);
  }
};

TEST_F(S3CliTest, FormatWithUnknownAccessKeyIsRefused) {
  SHOAL_REQUIRE_S3();
  std::string bucket = Bucket();
  auto r = vol_->Shoal({"format", MetaUrl("meta"), "vol", "--storage", "s3", "--bucket", bucket,
                        "--access-key", "NOSUCHKEY", "--secret-key", "whatever-secret"});
  EXPECT_TRUE(FailedSaying(r, {"access key", "credentials", "InvalidAccessKeyId"}));
  EXPECT_TRUE(OneLine(r));
  EXPECT_EQ(r.err.find("whatever-secret"), std::string::npos) << "the secret was printed";
  EXPECT_FALSE(fs::exists(tmp() + "/meta")) << "format left a metadata directory";
  // The refused key created nothing: the bucket is still free for a volume.
  S3Server s3 = S3FromEnv();
  r = vol_->Shoal({"format", MetaUrl("meta"), "vol", "--storage", "s3", "--bucket", bucket,
                   "--access-key", s3.access_key, "--secret-key", s3.secret_key});
  EXPECT_TRUE(r.ok()) << r.err;
}

TEST_F(S3CliTest, FormatOnUnreachableEndpointIsRefused) {
  std::string bucket = "http://127.0.0.1:" + std::to_string(ClosedPort()) + "/nothing-here";
  auto start = std::chrono::steady_clock::now();
  auto r = vol_->Shoal({"format", MetaUrl("meta"), "vol", "--storage", "s3", "--bucket", bucket,
                        "--access-key", "KEY", "--secret-key", "whatever-secret"});
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(FailedSaying(r, {"endpoint", "connect", "reach"}));
  EXPECT_TRUE(OneLine(r));
  EXPECT_NE(r.err.find(bucket.substr(7, bucket.find('/', 7) - 7)), std::string::npos)
      << "the message should name the endpoint: " << r.err;
  EXPECT_LT(took, std::chrono::seconds(60)) << "a closed port should fail fast";
  EXPECT_FALSE(fs::exists(tmp() + "/meta")) << "format left a metadata directory";
}

TEST_F(S3CliTest, FormatNeedsCredentialsAndAUsableBucketUrl) {
  std::string meta = MetaUrl("meta");
  auto r = vol_->Shoal(
      {"format", meta, "vol", "--storage", "s3", "--bucket", "http://127.0.0.1:9/bucket"});
  EXPECT_TRUE(FailedSaying(r, {"AWS_ACCESS_KEY_ID"}));
  r = vol_->Shoal({"format", meta, "vol", "--storage", "s3", "--bucket",
                   "http://127.0.0.1:9/bucket", "--access-key", "KEY"});
  EXPECT_TRUE(FailedSaying(r, {"--secret-key"}));
  r = vol_->Shoal({"format", meta, "vol", "--storage", "s3", "--bucket",
                   "http://KEY:hidden-secret@127.0.0.1:9/bucket"});
  EXPECT_TRUE(FailedSaying(r, {"credentials"}));
  EXPECT_EQ(r.err.find("hidden-secret"), std::string::npos) << r.err;
  r = vol_->Shoal(
      {"format", meta, "vol", "--storage", "s3", "--access-key", "KEY", "--secret-key", "s"});
  EXPECT_TRUE(FailedSaying(r, {"--bucket"}));
  r = vol_->Shoal({"format", meta, "vol", "--storage", "s3", "--bucket", "just-a-name",
                   "--access-key", "KEY", "--secret-key", "s"});
  EXPECT_TRUE(FailedSaying(r, {"not a URL"}));
  r = vol_->Shoal({"format", meta, "vol", "--storage", "file", "--bucket", tmp() + "/data",
                   "--access-key", "KEY", "--secret-key", "s"});
  EXPECT_TRUE(FailedSaying(r, {"s3 only"}));
  EXPECT_FALSE(fs::exists(tmp() + "/meta"));
  EXPECT_FALSE(fs::exists(tmp() + "/data"));
}

TEST_F(S3CliTest, StoredSecretIsNeverShown) {
  SHOAL_REQUIRE_S3();
  S3Server s3 = S3FromEnv();
  const std::string secret = "never-show-this-" + UniqueBucketName();
  Volume vol(tmp() + "/s3", "vol", TestStorage::kS3);
  auto r = vol.Shoal({"format", vol.meta_url(), "vol", "--storage", "s3", "--bucket", vol.bucket(),
                      "--access-key", s3.access_key, "--secret-key", secret});
  ASSERT_TRUE(r.ok()) << r.err;
  std::string seen = r.out + r.err;
  r = vol.Shoal({"status", vol.meta_url()});
  ASSERT_TRUE(r.ok()) << r.err;
  seen += r.out + r.err;
  EXPECT_NE(r.out.find(vol.bucket()), std::string::npos) << r.out;
  r = vol.Shoal({"status", vol.meta_url(), "--json"});
  ASSERT_TRUE(r.ok()) << r.err;
  seen += r.out + r.err;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_TRUE(HasString(j, "bucket", vol.bucket())) << r.out;
  EXPECT_EQ(j["volume"].value("secrets_stored", false), true) << r.out;

  ASSERT_TRUE(vol.Mount());
  ASSERT_TRUE(WriteFile(vol.mountpoint() + "/f", Pattern(300000, 5)));
  EXPECT_TRUE(ReadFile(vol.mountpoint() + "/f") == Pattern(300000, 5));
  r = vol.Shoal({"status", vol.mountpoint(), "--json"});
  ASSERT_TRUE(r.ok()) << r.err;
  seen += r.out + r.err;
  ASSERT_TRUE(vol.Unmount());
  seen += vol.LogTail();
  EXPECT_EQ(seen.find(secret), std::string::npos) << "the secret was printed: " << seen;
  EXPECT_EQ(seen.find(s3.access_key), std::string::npos)
      << "the access key id should be shown redacted only: " << seen;
}

TEST_F(S3CliTest, VolumeWithoutStoredSecretsTakesThemAtMount) {
  SHOAL_REQUIRE_S3();
  S3Server s3 = S3FromEnv();
  Volume vol(tmp() + "/s3", "vol", TestStorage::kS3);
  std::vector<std::string> args = {"format", vol.meta_url(), "vol"};
  for (const std::string& a : vol.StorageArgs()) args.push_back(a);
  args.push_back("--no-store-secrets");
  auto r = vol.Shoal(args);
  ASSERT_TRUE(r.ok()) << r.err;
  r = vol.Shoal({"status", vol.meta_url(), "--json"});
  ASSERT_TRUE(r.ok()) << r.err;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_EQ(j["volume"].value("secrets_stored", true), false) << r.out;

  r = vol.Shoal({"mount", vol.meta_url(), vol.mountpoint(), "--background"});
  EXPECT_TRUE(FailedSaying(r, {"AWS_ACCESS_KEY_ID"}));
  EXPECT_TRUE(OneLine(r));
  ExpectNothingMounted(vol.mountpoint());
  r = vol.Shoal({"mount", vol.meta_url(), vol.mountpoint(), "--background", "--access-key",
                 "NOSUCHKEY", "--secret-key", "x"});
  EXPECT_TRUE(FailedSaying(r, {"access key", "credentials", "InvalidAccessKeyId"}));
  ExpectNothingMounted(vol.mountpoint());

  std::vector<std::string> keys = {"--access-key", s3.access_key, "--secret-key", s3.secret_key};
  ASSERT_TRUE(vol.Mount(keys));
  ASSERT_TRUE(WriteFile(vol.mountpoint() + "/kept", "across mounts"));
  ASSERT_TRUE(vol.Unmount());
  ASSERT_TRUE(vol.Mount(keys));
  EXPECT_EQ(ReadFile(vol.mountpoint() + "/kept"), "across mounts");
}

TEST_F(S3CliTest, SecondVolumeOfTheSameNameInABucketIsRefused) {
  SHOAL_REQUIRE_S3();
  Volume first(tmp() + "/one", "vol", TestStorage::kS3);
  ASSERT_TRUE(first.Format());
  ASSERT_TRUE(first.Mount());
  ASSERT_TRUE(WriteFile(first.mountpoint() + "/f", Pattern(100000, 1)));
  ASSERT_TRUE(first.Unmount());
  // Same bucket, same name, new metadata: its slice ids would overwrite the
  // first volume's objects.
  std::vector<std::string> args = {"format", MetaUrl("other-meta"), "vol"};
  for (const std::string& a : first.StorageArgs()) args.push_back(a);
  auto r = vol_->Shoal(args);
  EXPECT_TRUE(FailedSaying(r, {"already holds objects"}));
  EXPECT_FALSE(fs::exists(tmp() + "/other-meta"));
  // Another name in the same bucket is fine.
  args[2] = "vol2";
  r = vol_->Shoal(args);
  EXPECT_TRUE(r.ok()) << r.err;
}

class ObjbenchTest : public CliTest {};

// The ops of the JSON results, in order.
std::vector<std::string> Ops(const nlohmann::json& j) {
  std::vector<std::string> ops;
  for (const auto& r : j.value("results", nlohmann::json::array())) {
    ops.push_back(r.value("op", "?") + "/" + std::to_string(r.value("object_size", 0)));
  }
  return ops;
}

::testing::AssertionResult BenchJsonIsComplete(const CommandResult& r, uint64_t small,
                                               uint64_t large) {
  if (!r.ok()) return ::testing::AssertionFailure() << "objbench failed: " << r.err;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (j.is_discarded()) return ::testing::AssertionFailure() << "not JSON: " << r.out;
  std::vector<std::string> want = {"put/4096",     "head/4096",   "get/4096",
                                   "list/0",       "delete/4096", "put/1048576",
                                   "head/1048576", "get/1048576", "delete/1048576"};
  if (Ops(j) != want) return ::testing::AssertionFailure() << "unexpected phases: " << r.out;
  for (const auto& p : j["results"]) {
    uint64_t want_objects = p.value("object_size", 0) == 1048576 ? large : small;
    if (p.value("objects", 0ull) != want_objects || p.value("requests", 0ull) == 0 ||
        !(p.value("ops_per_sec", 0.0) > 0) || !p.contains("latency_ms") ||
        !(p["latency_ms"].value("p99", -1.0) >= p["latency_ms"].value("p50", -1.0))) {
      return ::testing::AssertionFailure() << "bad phase " << p.dump() << " in " << r.out;
    }
  }
  return ::testing::AssertionSuccess();
}

TEST_F(ObjbenchTest, MeasuresAFileStoreAndLeavesNothing) {
  std::string dir = tmp() + "/bench";
  auto r = vol_->Shoal({"objbench", "--storage", "file", "--bucket", dir, "--small-count", "30",
                        "--large-count", "3", "--large-size", "1M", "--threads", "3", "--json"});
  EXPECT_TRUE(BenchJsonIsComplete(r, 30, 3));
  EXPECT_TRUE(FileHashes(dir).empty()) << "objbench left objects in " << dir;

  r = vol_->Shoal({"objbench", "--storage", "file", "--bucket", dir, "--small-count", "10",
                   "--large-count", "1", "--large-size", "1M"});
  ASSERT_TRUE(r.ok()) << r.err;
  for (const char* word :
       {"MiB/s", "ops/s", "p50", "p99", "put", "get", "head", "list", "delete"}) {
    EXPECT_NE(r.out.find(word), std::string::npos) << word << " missing from the table: " << r.out;
  }
}

TEST_F(ObjbenchTest, MeasuresAnS3Bucket) {
  SHOAL_REQUIRE_S3();
  ClearAwsEnvironment();
  S3Server s3 = S3FromEnv();
  std::string bucket = s3.endpoint + "/" + UniqueBucketName();
  auto r = vol_->Shoal({"objbench", "--storage", "s3", "--bucket", bucket, "--access-key",
                        s3.access_key, "--secret-key", s3.secret_key, "--small-count", "30",
                        "--large-count", "3", "--large-size", "1M", "--threads", "4", "--json"});
  EXPECT_TRUE(BenchJsonIsComplete(r, 30, 3));
  r = vol_->Shoal({"objbench", "--storage", "s3", "--bucket", bucket, "--access-key", "NOSUCHKEY",
                   "--secret-key", "x", "--small-count", "1", "--large-count", "0"});
  EXPECT_TRUE(FailedSaying(r, {"access key", "credentials", "InvalidAccessKeyId"}));
}

TEST_F(ObjbenchTest, RefusesBadInput) {
  std::string dir = tmp() + "/bench";
  auto r = vol_->Shoal({"objbench", "--storage", "file", "--bucket", dir, "--threads", "0"});
  EXPECT_TRUE(FailedSaying(r, {"--threads"}));
  r = vol_->Shoal({"objbench", "--storage", "tape", "--bucket", dir});
  EXPECT_TRUE(FailedSaying(r, {"tape"}));
  r = vol_->Shoal({"objbench", "--storage", "file", "--bucket", dir, "--small-count", "0",
                   "--large-count", "0"});
  EXPECT_TRUE(FailedSaying(r, {"nothing to measure"}));
  r = vol_->Shoal({"objbench", "--storage", "file", "--bucket", dir, "--large-size", "2G"});
  EXPECT_TRUE(FailedSaying(r, {"--large-size"}));
  r = vol_->Shoal({"objbench", "--storage", "file"});
  EXPECT_TRUE(FailedSaying(r, {"--bucket"}));
  EXPECT_FALSE(fs::exists(dir)) << "a refused objbench created " << dir;
}

}  // namespace
}  // namespace shoal::testing
