#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "object/object_store.h"
#include "object/test_util.h"

namespace shoal::object {
namespace {

std::string OpenError(std::string_view url, Code code = Code::kInvalid) {
  Result<std::shared_ptr<ObjectStore>> store = OpenObjectStore(url);
  EXPECT_FALSE(store.has_value()) << url << " opened";
  if (store.has_value()) return "";
  EXPECT_EQ(store.error().code(), code) << store.error().ToString();
  return store.error().message();
}

TEST(OpenObjectStoreTest, MemIsFreshEachTime) {
  Result<std::shared_ptr<ObjectStore>> a = OpenObjectStore("mem://");
  Result<std::shared_ptr<ObjectStore>> b = OpenObjectStore("MEM://");
  ASSERT_TRUE(a.has_value() && b.has_value());
  ASSERT_TRUE((*a)->Put("k", "v").ok());
  EXPECT_EQ((*a)->Get("k").value_or(""), "v");
  EXPECT_EQ((*b)->Get("k").error().code(), Code::kNotFound);
  EXPECT_EQ((*a)->Describe(), "mem://");
}

TEST(OpenObjectStoreTest, FileCreatesTheDirectory) {
  testing::TempDir dir;
  std::string path = dir.path() + "/new/store";
  Result<std::shared_ptr<ObjectStore>> store = OpenObjectStore("file://" + path);
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  EXPECT_TRUE(std::filesystem::is_directory(path));
  EXPECT_EQ((*store)->Describe(), "file://" + path);
  ASSERT_TRUE((*store)->Put("a/b", "c").ok());
  EXPECT_TRUE(std::filesystem::exists(path + "/a/b"));
}

TEST(OpenObjectStoreTest, FilePathIsPercentDecoded) {
  testing::TempDir dir;
  Result<std::shared_ptr<ObjectStore>> store = OpenObjectStore("file://" + dir.path() + "/a%20b");
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  EXPECT_TRUE(std::filesystem::is_directory(dir.path() + "/a b"));
}

TEST(OpenObjectStoreTest, UnknownScheme) {
  std::string message = OpenError("ftp://host/dir");
  EXPECT_NE(message.find("unknown scheme 'ftp'"), std::string::npos) << message;
  EXPECT_NE(message.find("mem://"), std::string::npos) << message;
  EXPECT_NE(message.find("file:///"), std::string::npos) << message;
}

TEST(OpenObjectStoreTest, RelativeFilePaths) {
  std::string with_host = OpenError("file://relative/dir");
  EXPECT_NE(with_host.find("host 'relative'"), std::string::npos) << with_host;
  EXPECT_NE(with_host.find("file:///"), std::string::npos) << with_host;

  std::string bare = OpenError("relative/dir");
  EXPECT_NE(bare.find("'relative/dir' is not a URL"), std::string::npos) << bare;
  EXPECT_NE(bare.find("file:///absolute/directory"), std::string::npos) << bare;

  EXPECT_NE(OpenError("file:relative").find("is not a URL"), std::string::npos);
  EXPECT_NE(OpenError("file://").find("names no directory"), std::string::npos);
  EXPECT_NE(OpenError("file:///").find("names no directory"), std::string::npos);
}

TEST(OpenObjectStoreTest, FileRejectsOptions) {
  testing::TempDir dir;
  EXPECT_NE(OpenError("file://" + dir.path() + "?sync=1").find("no options"), std::string::npos);
  EXPECT_NE(OpenError("file://u:p@/" + dir.path()).find("no user"), std::string::npos);
}

TEST(OpenObjectStoreTest, MemRejectsPaths) {
  EXPECT_NE(OpenError("mem:///x").find("no path"), std::string::npos);
  EXPECT_NE(OpenError("mem://?a=b").find("no options"), std::string::npos);
}

TEST(OpenObjectStoreTest, S3UrlsOpenS3Stores) {
  // Opening does not touch the network, so no server is needed here.
  Result<std::shared_ptr<ObjectStore>> store =
      OpenObjectStore("s3://AKID:secret@127.0.0.1:9000/bucket/pre?tls=false");
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  EXPECT_EQ((*store)->Describe(),
            "s3://127.0.0.1:9000/bucket/pre?region=us-east-1&path_style=true&tls=false");
  std::string message = OpenError("s3://AKID:secret@127.0.0.1:9000");
  EXPECT_NE(message.find("no bucket"), std::string::npos) << message;
}

TEST(OpenObjectStoreTest, MessagesHideThePassword) {
  for (const char* url : {"ftp://u:hunter2@h/x", "file://u:hunter2@/x",
                          "s3://u:hunter2@h/b?bogus=1", "file://u:hunter2@h:0/x"}) {
    Result<std::shared_ptr<ObjectStore>> store = OpenObjectStore(url);
    ASSERT_FALSE(store.has_value()) << url;
    EXPECT_EQ(store.error().message().find("hunter2"), std::string::npos)
        << store.error().message();
  }
}

}  // namespace
}  // namespace shoal::object
