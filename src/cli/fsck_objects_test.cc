// The object pass of fsck over a mem object store: blocks missing or of the
// wrong length, objects no slice refers to, and what --repair may delete.
#include "cli/fsck_objects.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <map>
#include <set>
#include <string>

#include "kv/mem_kv.h"
#include "meta/meta.h"
#include "object/mem_store.h"

namespace shoal::cli {
namespace {

constexpr uint32_t kBlock = 4096;

class FsckObjectsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    engine_ = std::make_shared<kv::MemEngine>();
    meta::VolumeConfig c;
    c.name = "t";
    c.storage = "file";
    c.block_size = kBlock;
    ASSERT_TRUE(meta::Meta::Format(*engine_, c).ok());
    auto m = meta::Meta::Open(engine_);
    ASSERT_TRUE(m.has_value()) << m.error().ToString();
    meta_ = std::move(*m);
    store_ = std::make_shared<object::MemStore>("fsck");
    blocks_ = std::make_unique<chunk::BlockStore>(store_, "t", kBlock);

    // /f: one slice of 10000 bytes (3 blocks) in chunk 0, one of 100 in chunk 1.
    auto f = meta_->Mknod(Context::Root(), meta::kRootIno, "f", S_IFREG | 0644, 0);
    ASSERT_TRUE(f.has_value());
    ino_ = f->ino;
    id1_ = *meta_->NewSliceId();
    id2_ = *meta_->NewSliceId();
    ASSERT_TRUE(blocks_->WriteSlice(id1_, std::string(10000, 'a')).ok());
    ASSERT_TRUE(blocks_->WriteSlice(id2_, std::string(100, 'b')).ok());
    ASSERT_TRUE(
        meta_
            ->WriteSlices(ino_,
                          {{0, Slice{id1_, 10000, 0, 10000, 0}}, {1, Slice{id2_, 100, 0, 100, 0}}},
                          kChunkSize + 100, meta::Now())
            .has_value());
    ASSERT_TRUE(meta_->FlushUsage().ok());
  }

  meta::FsckReport Check(ObjectCheckOptions options = {}, const StillReferenced& still = {}) {
    auto r = meta::Fsck(engine_, {});
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    if (!r) return {};
    Status s = CheckObjects(*blocks_, "t", options, still, *r, {});
    EXPECT_TRUE(s.ok()) << s.ToString();
    return std::move(*r);
  }

  std::set<std::string> Keys() {
    std::set<std::string> out;
    object::ListOptions o;
    o.limit = 100000;
    auto l = store_->List(o);
    EXPECT_TRUE(l.has_value());
    if (l) {
      for (const auto& x : l->objects) out.insert(x.key);
    }
    return out;
  }

  static std::string Describe(const meta::FsckReport& r) {
    std::string out;
    for (const auto& p : r.problems) {
      out += std::string(meta::FsckKindName(p.kind)) + " " + p.where + ": " + p.what + "\n";
    }
    return out;
  }

  std::shared_ptr<kv::MemEngine> engine_;
  std::unique_ptr<meta::Meta> meta_;
  std::shared_ptr<object::MemStore> store_;
  std::unique_ptr<chunk::BlockStore> blocks_;
  meta::Ino ino_ = 0;
  uint64_t id1_ = 0, id2_ = 0;
};

TEST_F(FsckObjectsTest, AllBlocksPresentIsClean) {
  meta::FsckReport r = Check();
  EXPECT_TRUE(r.Clean()) << Describe(r);
  EXPECT_EQ(r.counts.objects_checked, 4u);  // 3 blocks + 1
  EXPECT_EQ(r.counts.objects_listed, 4u);
}

TEST_F(FsckObjectsTest, MissingBlock) {
  std::string key = blocks_->BlockKey(id1_, 10000, 1);
  ASSERT_TRUE(store_->Delete(key).ok());
  meta::FsckReport r = Check();
  ASSERT_EQ(r.problems.size(), 1u) << Describe(r);
  EXPECT_EQ(r.problems[0].kind, meta::FsckKind::kMissingObject);
  EXPECT_EQ(r.problems[0].where, key);
  EXPECT_EQ(r.problems[0].ino, ino_);
  EXPECT_TRUE(r.HasOpenErrors());
  EXPECT_EQ(r.counts.objects_checked, 4u);

  // A slice freed after the snapshot is not a loss.
  meta::FsckReport again = Check({}, [](meta::Ino, uint32_t, uint64_t) { return false; });
  EXPECT_TRUE(again.Clean()) << Describe(again);
}

TEST_F(FsckObjectsTest, BlockOfTheWrongLength) {
  std::string key = blocks_->BlockKey(id1_, 10000, 2);  // 10000 - 2*4096 = 1808 bytes
  ASSERT_TRUE(store_->Put(key, "short").ok());
  meta::FsckReport r = Check();
  ASSERT_EQ(r.problems.size(), 1u) << Describe(r);
  EXPECT_EQ(r.problems[0].kind, meta::FsckKind::kDamagedObject);
  EXPECT_EQ(r.problems[0].where, key);
}

TEST_F(FsckObjectsTest, LeakedObjectsAreDeletedOnlyWhenOldAndAsked) {
  std::string leaked = blocks_->BlockKey(999, 10, 0);
  std::string stray = "t/chunks/zz/not-a-block";
  ASSERT_TRUE(store_->Put(leaked, std::string(10, 'x')).ok());
  ASSERT_TRUE(store_->Put(stray, "x").ok());
  ASSERT_TRUE(store_->Put("t/elsewhere/1_0_1", "x").ok());  // not under chunks/: not ours
  std::set<std::string> before = Keys();

  // Young: a warning, and left alone even with --repair.
  ObjectCheckOptions repair;
  repair.repair = true;
  meta::FsckReport r = Check(repair);
  EXPECT_EQ(r.tally(meta::FsckKind::kLeakedObject).warnings, 2u) << Describe(r);
  EXPECT_FALSE(r.HasOpenErrors());
  EXPECT_EQ(Keys(), before);

  // Old enough: an error; a check alone deletes nothing.
  ObjectCheckOptions old;
  old.leak_age_sec = 0;
  r = Check(old);
  EXPECT_EQ(r.tally(meta::FsckKind::kLeakedObject).errors, 2u) << Describe(r);
  EXPECT_TRUE(r.HasOpenErrors());
  EXPECT_EQ(Keys(), before);

  old.repair = true;
  r = Check(old);
  EXPECT_EQ(r.tally(meta::FsckKind::kLeakedObject).repaired, 2u) << Describe(r);
  EXPECT_FALSE(r.HasOpenErrors());
  std::set<std::string> after = Keys();
  EXPECT_FALSE(after.contains(leaked));
  EXPECT_FALSE(after.contains(stray));
  EXPECT_TRUE(after.contains("t/elsewhere/1_0_1"));
  EXPECT_TRUE(after.contains(blocks_->BlockKey(id1_, 10000, 0)));
  EXPECT_TRUE(Check(old).Clean());
}

TEST_F(FsckObjectsTest, ObjectsOfQueuedSlicesAreNotLeaked) {
  // Overwriting chunk 1 hides slice 2 and queues it for deletion; its
  // object stays until the background deleter gets to it.
  uint64_t id3 = *meta_->NewSliceId();
  ASSERT_TRUE(blocks_->WriteSlice(id3, std::string(100, 'c')).ok());
  ASSERT_TRUE(
      meta_->WriteSlices(ino_, {{1, Slice{id3, 100, 0, 100, 0}}}, kChunkSize + 100, meta::Now())
          .has_value());
  ObjectCheckOptions old;
  old.leak_age_sec = 0;
  meta::FsckReport r = Check(old);
  EXPECT_EQ(r.counts.pending_slices, 1u);
  EXPECT_TRUE(r.Clean()) << Describe(r);
  EXPECT_EQ(r.counts.objects_listed, 5u);
}

TEST(ParseBlockKeyTest, Forms) {
  uint64_t id = 0;
  uint32_t index = 0, length = 0;
  EXPECT_TRUE(ParseBlockKey("v/chunks/ab/0/123_4_4096", &id, &index, &length));
  EXPECT_EQ(id, 123u);
  EXPECT_EQ(index, 4u);
  EXPECT_EQ(length, 4096u);
  EXPECT_FALSE(ParseBlockKey("v/chunks/ab/0/123_4", &id, &index, &length));
  EXPECT_FALSE(ParseBlockKey("v/chunks/ab/0/123_4_x", &id, &index, &length));
  EXPECT_FALSE(ParseBlockKey("v/chunks/ab/0/_4_1", &id, &index, &length));
  EXPECT_FALSE(ParseBlockKey("v/chunks/ab/0/1_4_1_2", &id, &index, &length));
}

}  // namespace
}  // namespace shoal::cli
