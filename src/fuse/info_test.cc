#include "fuse/info.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <memory>
#include <string>

#include "kv/kv.h"
#include "meta/meta.h"
#include "object/object_store.h"
#include "vfs/vfs.h"

namespace shoal::fuse {
namespace {

using nlohmann::json;

TEST(InfoNames, FirstChunk) {
  EXPECT_EQ(InfoFirstChunk("user.shoal.info"), 0u);
  EXPECT_EQ(InfoFirstChunk("user.shoal.info@17"), 17u);
  EXPECT_FALSE(InfoFirstChunk("user.shoal.info@").has_value());
  EXPECT_FALSE(InfoFirstChunk("user.shoal.info@x").has_value());
  EXPECT_FALSE(InfoFirstChunk("user.shoal.info@1x").has_value());
  EXPECT_FALSE(InfoFirstChunk("user.shoal.infox").has_value());
  EXPECT_FALSE(InfoFirstChunk("user.shoal.status").has_value());
  EXPECT_FALSE(InfoFirstChunk("user.other").has_value());
}

TEST(InfoNames, Reserved) {
  EXPECT_TRUE(IsReservedXattr("user.shoal.info"));
  EXPECT_TRUE(IsReservedXattr("user.shoal.info@3"));
  EXPECT_TRUE(IsReservedXattr("user.shoal.status"));
  EXPECT_FALSE(IsReservedXattr("user.shoal"));
  EXPECT_FALSE(IsReservedXattr("user.mime_type"));
  EXPECT_FALSE(IsReservedXattr("trusted.shoal.info"));
}

TEST(DumpJson, NeverThrowsOnBadUtf8) {
  json j = {{"name", std::string("a\xff"
                                 "b")}};
  std::string s = DumpJson(j);
  EXPECT_NE(s.find("\"name\""), std::string::npos);
  EXPECT_EQ(s.find('\xff'), std::string::npos);
}

// A volume in memory, served by a Vfs without background threads.
class InfoTest : public ::testing::Test {
 protected:
  static constexpr uint32_t kBlock = 64u << 10;

  void SetUp() override {
    auto engine = kv::OpenKv("mem://", true);
    ASSERT_TRUE(engine.has_value()) << engine.error().ToString();
    meta::VolumeConfig config;
    config.name = "infotest";
    config.storage = "mem";
    config.block_size = kBlock;
    ASSERT_TRUE(meta::Meta::Format(**engine, config).ok());
    auto m = meta::Meta::Open(*engine);
    ASSERT_TRUE(m.has_value()) << m.error().ToString();
    meta::SessionInfo session;
    session.host = "test";
    session.pid = 1;
    session.mountpoint = "/test";
    session.version = "test";
    ASSERT_TRUE((*m)->StartSession(session).ok());
    auto store = object::OpenObjectStore("mem://");
    ASSERT_TRUE(store.has_value());
    vfs::Options options;
    options.background = false;
    auto v = vfs::Vfs::Create(std::move(*m), *store, options);
    ASSERT_TRUE(v.has_value()) << v.error().ToString();
    vfs_ = std::move(*v);
  }

  void TearDown() override {
    if (vfs_) {
      EXPECT_TRUE(vfs_->Shutdown().ok());
    }
  }

  // Writes `data` at `off` of a new or existing handle and commits it.
  void WriteAt(meta::Ino ino, uint64_t fh, uint64_t off, size_t len) {
    std::string data(len, 'x');
    auto n = vfs_->Write(ctx_, ino, fh, off, data);
    ASSERT_TRUE(n.has_value()) << n.error().ToString();
    ASSERT_TRUE(vfs_->Fsync(ctx_, ino, fh, false).ok());
  }

  Context ctx_ = Context::Root();
  std::unique_ptr<vfs::Vfs> vfs_;
};

TEST_F(InfoTest, FileLayoutWithObjects) {
  auto created = vfs_->Create(ctx_, meta::kRootIno, "f", S_IFREG | 0644, O_RDWR);
  ASSERT_TRUE(created.has_value()) << created.error().ToString();
  meta::Ino ino = created->entry.ino;
  WriteAt(ino, created->fh, 0, 100 << 10);            // chunk 0: two 64 KiB blocks
  WriteAt(ino, created->fh, 2 * kChunkSize + 5, 10);  // chunk 2 only

  auto info = FileInfo(*vfs_, ctx_, ino, 0, kMaxAnswerBytes);
  ASSERT_TRUE(info.has_value()) << info.error().ToString();
  const json& j = *info;
  EXPECT_EQ(j["ino"], ino);
  EXPECT_EQ(j["type"], "file");
  EXPECT_EQ(j["size"], 2 * kChunkSize + 15);
  EXPECT_EQ(j["volume"], "infotest");
  EXPECT_EQ(j["block_size"], kBlock);
  EXPECT_FALSE(j.contains("next_chunk"));
  ASSERT_EQ(j["chunks"].size(), 2u);
  EXPECT_EQ(j["chunks"][0]["index"], 0);
  EXPECT_EQ(j["chunks"][1]["index"], 2);

  const json& slice = j["chunks"][0]["slices"][0];
  EXPECT_EQ(slice["size"], 100u << 10);
  EXPECT_EQ(slice["len"], 100u << 10);
  EXPECT_EQ(slice["pos"], 0);
  std::vector<std::string> keys =
      vfs_->blocks().SliceKeys(slice["id"].get<uint64_t>(), slice["size"].get<uint32_t>());
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(slice["objects"], json(keys));
  // The objects named are the ones stored.
  for (const std::string& k : keys) {
    EXPECT_TRUE(vfs_->blocks().store().Head(k).has_value()) << k;
  }
  ASSERT_TRUE(vfs_->Release(ino, created->fh).ok());
}

TEST_F(InfoTest, PagesFollowNextChunk) {
  auto created = vfs_->Create(ctx_, meta::kRootIno, "g", S_IFREG | 0644, O_RDWR);
  ASSERT_TRUE(created.has_value()) << created.error().ToString();
  meta::Ino ino = created->entry.ino;
  WriteAt(ino, created->fh, 0, 10);
  WriteAt(ino, created->fh, kChunkSize, 10);
  WriteAt(ino, created->fh, 3 * kChunkSize, 10);

  // Room for one chunk per page only.
  auto first = FileInfo(*vfs_, ctx_, ino, 0, 300);
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  ASSERT_EQ((*first)["chunks"].size(), 1u);
  ASSERT_TRUE(first->contains("next_chunk"));
  EXPECT_EQ((*first)["next_chunk"], 1);

  auto last = FileInfo(*vfs_, ctx_, ino, 3, 300);
  ASSERT_TRUE(last.has_value());
  ASSERT_EQ((*last)["chunks"].size(), 1u);
  EXPECT_EQ((*last)["chunks"][0]["index"], 3);
  EXPECT_FALSE(last->contains("next_chunk"));

  // A page too small for even one chunk still makes progress, without keys.
  auto tiny = FileInfo(*vfs_, ctx_, ino, 0, 10);
  ASSERT_TRUE(tiny.has_value());
  ASSERT_EQ((*tiny)["chunks"].size(), 1u);
  EXPECT_TRUE((*tiny)["chunks"][0]["objects_omitted"].get<bool>());
  EXPECT_FALSE((*tiny)["chunks"][0]["slices"][0].contains("objects"));
  EXPECT_EQ((*tiny)["next_chunk"], 1);
  ASSERT_TRUE(vfs_->Release(ino, created->fh).ok());
}

TEST_F(InfoTest, DirectoryHasNoChunks) {
  auto info = FileInfo(*vfs_, ctx_, meta::kRootIno, 0, kMaxAnswerBytes);
  ASSERT_TRUE(info.has_value()) << info.error().ToString();
  EXPECT_EQ((*info)["type"], "dir");
  EXPECT_TRUE((*info)["chunks"].empty());
}

TEST_F(InfoTest, MissingInodeIsNotFound) {
  auto info = FileInfo(*vfs_, ctx_, 987654, 0, kMaxAnswerBytes);
  ASSERT_FALSE(info.has_value());
  EXPECT_EQ(info.error().code(), Code::kNotFound);
}

TEST_F(InfoTest, VolumeStatusShowsConfigAndSession) {
  auto status = VolumeStatus(vfs_->meta());
  ASSERT_TRUE(status.has_value()) << status.error().ToString();
  EXPECT_EQ((*status)["volume"]["name"], "infotest");
  EXPECT_EQ((*status)["volume"]["storage"], "mem");
  EXPECT_EQ((*status)["volume"]["block_size"], kBlock);
  EXPECT_FALSE((*status)["volume"]["uuid"].get<std::string>().empty());
  ASSERT_EQ((*status)["sessions"].size(), 1u);
  EXPECT_EQ((*status)["sessions"][0]["mountpoint"], "/test");
  EXPECT_TRUE((*status)["usage"].contains("used_bytes"));
}

}  // namespace
}  // namespace shoal::fuse
