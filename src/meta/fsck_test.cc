// fsck over a small volume on the mem engine: clean as built, then damaged
// one way at a time with raw KV writes. Each damage must be found as exactly
// its kind, must change nothing without repair, and must be gone after one.
#include "meta/fsck.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>

#include "kv/kv.h"
#include "kv/mem_kv.h"
#include "meta/codec.h"
#include "meta/internal.h"

namespace shoal::meta {
namespace {

using Dump = std::map<std::string, std::string>;

class FsckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    engine_ = std::make_shared<kv::MemEngine>();
    VolumeConfig c;
    c.name = "t";
    c.storage = "mem";
    ASSERT_TRUE(Meta::Format(*engine_, c).ok());
    auto m = Meta::Open(engine_);
    ASSERT_TRUE(m.has_value()) << m.error().ToString();
    meta_ = std::move(*m);

    // /a/b, /a/f1 (two chunks, an xattr), /a/b/f1link (a hard link), /s -> a/f1.
    Context root = Context::Root();
    a_ = Must(meta_->Mknod(root, kRootIno, "a", S_IFDIR | 0755, 0)).ino;
    b_ = Must(meta_->Mknod(root, a_, "b", S_IFDIR | 0755, 0)).ino;
    f1_ = Must(meta_->Mknod(root, a_, "f1", S_IFREG | 0644, 0)).ino;
    slice1_ = Must(meta_->NewSliceId());
    slice2_ = Must(meta_->NewSliceId());
    Must(meta_->WriteSlices(
        f1_, {{0, Slice{slice1_, 100, 0, 100, 0}}, {1, Slice{slice2_, 50, 0, 50, 0}}},
        kChunkSize + 50, Now()));
    ASSERT_TRUE(meta_->SetXattr(root, f1_, "user.k", "v", XattrFlags::kAny).ok());
    Must(meta_->Link(root, f1_, b_, "f1link"));
    s_ = Must(meta_->Symlink(root, kRootIno, "s", "a/f1")).ino;
    ASSERT_TRUE(meta_->FlushUsage().ok());
  }

  template <typename T>
  T Must(Result<T> r) {
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r.value_or(T{});
  }

  Dump DumpAll() {
    Dump out;
    Status s = engine_->View([&](kv::Txn& txn) {
      out.clear();
      return txn.Scan("", "", 0, false, [&](std::string_view k, std::string_view v) {
        out.emplace(k, v);
        return true;
      });
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  void Put(const std::string& k, const std::string& v) {
    ASSERT_TRUE(engine_
                    ->Txn([&](kv::Txn& txn) {
                      txn.Put(k, v);
                      return OkStatus();
                    })
                    .ok());
  }
  void Delete(const std::string& k) {
    ASSERT_TRUE(engine_
                    ->Txn([&](kv::Txn& txn) {
                      txn.Delete(k);
                      return OkStatus();
                    })
                    .ok());
  }
  Attr GetAttr(Ino ino) { return Must(meta_->GetAttr(ino)); }
  void PutAttr(Ino ino, const Attr& a) { Put(codec::AttrKey(ino), codec::EncodeAttr(a)); }
  uint64_t Counter(std::string_view name) {
    auto d = DumpAll();
    auto it = d.find(codec::CounterKey(name));
    if (it == d.end()) return 0;
    return codec::DecodeU64(it->second).value_or(0);
  }
  void AddToCounter(std::string_view name, int64_t delta) {
    Put(codec::CounterKey(name),
        codec::EncodeU64(static_cast<uint64_t>(static_cast<int64_t>(Counter(name)) + delta)));
  }

  FsckReport Check(bool repair, FsckOptions options = {}) {
    options.repair = repair;
    auto r = Fsck(engine_, options);
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r.value_or(FsckReport{});
  }

  // Kinds with at least one problem (error or warning).
  static std::set<std::string> Kinds(const FsckReport& r) {
    std::set<std::string> out;
    for (int k = 0; k < kFsckKinds; ++k) {
      const FsckTally& t = r.by_kind[k];
      if (t.errors + t.warnings > 0) out.emplace(FsckKindName(static_cast<FsckKind>(k)));
    }
    return out;
  }
  static std::string Describe(const FsckReport& r) {
    std::string out;
    for (const FsckProblem& p : r.problems) {
      out += std::string(FsckKindName(p.kind)) + " " + p.where + " " + p.path + ": " + p.what +
             " [" + p.repair + "]\n";
    }
    return out;
  }

  // The damage is found as exactly `kinds`, a check alone changes nothing,
  // a repair fixes all of it, and a check after the repair is clean.
  void ExpectFoundAndRepaired(const std::set<std::string>& kinds) {
    Dump before = DumpAll();
    FsckReport found = Check(false);
    EXPECT_EQ(Kinds(found), kinds) << Describe(found);
    EXPECT_FALSE(found.Clean()) << Describe(found);
    EXPECT_EQ(DumpAll(), before) << "a check without --repair changed the volume";

    FsckReport repaired = Check(true);
    EXPECT_EQ(Kinds(repaired), kinds) << Describe(repaired);
    EXPECT_FALSE(repaired.HasOpenErrors()) << Describe(repaired);
    for (const FsckProblem& p : repaired.problems) {
      EXPECT_TRUE(p.repaired) << FsckKindName(p.kind) << " " << p.where << ": " << p.repair;
    }
    FsckReport after = Check(false);
    EXPECT_TRUE(after.Clean()) << Describe(after);
  }

  std::shared_ptr<kv::MemEngine> engine_;
  std::unique_ptr<Meta> meta_;
  Ino a_ = 0, b_ = 0, f1_ = 0, s_ = 0;
  uint64_t slice1_ = 0, slice2_ = 0;
};

TEST_F(FsckTest, BuiltVolumeIsClean) {
  FsckReport r = Check(false);
  EXPECT_TRUE(r.Clean()) << Describe(r);
  EXPECT_FALSE(r.HasOpenErrors());
  EXPECT_EQ(r.counts.inodes, 5u);  // root, a, b, f1, s
  EXPECT_EQ(r.counts.dirs, 3u);
  EXPECT_EQ(r.counts.files, 1u);
  EXPECT_EQ(r.counts.symlinks, 1u);
  EXPECT_EQ(r.counts.entries, 5u);  // a, b, f1, f1link, s
  EXPECT_EQ(r.counts.chunks, 2u);
  EXPECT_EQ(r.counts.slices, 2u);
  EXPECT_EQ(r.counts.bytes, kChunkSize + 50);
  ASSERT_EQ(r.slices.size(), 2u);
  EXPECT_EQ(r.slices[0].id, slice1_);
  EXPECT_EQ(r.slices[0].size, 100u);
  EXPECT_EQ(r.slices[1].id, slice2_);
  EXPECT_EQ(r.slices[1].ino, f1_);
  EXPECT_EQ(r.slices[1].chunk, 1u);
  EXPECT_EQ(r.volume.name, "t");
}

TEST_F(FsckTest, DanglingEntry) {
  Put(codec::EntryKey(a_, "ghost"), codec::EncodeEntry(5000, FileType::kFile));
  ExpectFoundAndRepaired({"dangling_entry"});
  EXPECT_FALSE(DumpAll().contains(codec::EntryKey(a_, "ghost")));
}

TEST_F(FsckTest, WrongNlinkOfAFile) {
  Attr a = GetAttr(f1_);
  a.nlink = 5;
  PutAttr(f1_, a);
  FsckReport r = Check(false);
  ASSERT_EQ(r.problems.size(), 1u) << Describe(r);
  EXPECT_EQ(r.problems[0].ino, f1_);
  // One of its two paths.
  EXPECT_TRUE(r.problems[0].path == "/a/f1" || r.problems[0].path == "/a/b/f1link")
      << r.problems[0].path;
  ExpectFoundAndRepaired({"nlink"});
  EXPECT_EQ(GetAttr(f1_).nlink, 2u);
}

TEST_F(FsckTest, OrphanFileIsFreedAndItsSlicesQueued) {
  Ino orphan = 500;
  uint64_t slice = Must(meta_->NewSliceId());
  Attr a;
  a.type = FileType::kFile;
  a.mode = 0644;
  a.nlink = 1;
  a.length = 10;
  a.parent = a_;
  PutAttr(orphan, a);
  std::string chunk;
  AppendSlice(&chunk, Slice{slice, 10, 0, 10, 0});
  Put(codec::ChunkKey(orphan, 0), chunk);
  // As a client that crashed after counting it would have left the counters.
  AddToCounter(kUsedInodes, 1);
  AddToCounter(kUsedBytes, 10);
  ExpectFoundAndRepaired({"orphan"});
  Dump d = DumpAll();
  EXPECT_FALSE(d.contains(codec::AttrKey(orphan)));
  EXPECT_FALSE(d.contains(codec::ChunkKey(orphan, 0)));
  EXPECT_TRUE(d.contains(codec::DeletedSliceKey(slice, 10))) << "the orphan's slice was not queued";
}

TEST_F(FsckTest, OrphanDirectoryIsFreedWhenEmpty) {
  Attr a;
  a.type = FileType::kDir;
  a.mode = 0755;
  a.nlink = 2;
  a.length = 4096;
  a.parent = kRootIno;
  PutAttr(600, a);
  AddToCounter(kUsedInodes, 1);
  ExpectFoundAndRepaired({"orphan"});
}

TEST_F(FsckTest, OrphanDirectoryWithEntriesIsOnlyReported) {
  Attr a;
  a.type = FileType::kDir;
  a.mode = 0755;
  a.nlink = 2;
  a.length = 4096;
  a.parent = kRootIno;
  PutAttr(600, a);
  AddToCounter(kUsedInodes, 1);
  // It also names f1: f1 now has 3 entries.
  Put(codec::EntryKey(600, "x"), codec::EncodeEntry(f1_, FileType::kFile));
  FsckReport r = Check(true);
  EXPECT_EQ(Kinds(r), (std::set<std::string>{"orphan", "nlink"})) << Describe(r);
  EXPECT_TRUE(r.HasOpenErrors());
  EXPECT_TRUE(DumpAll().contains(codec::AttrKey(600)));
}

TEST_F(FsckTest, WrongNlinkOfADirectory) {
  Attr a = GetAttr(a_);
  ASSERT_EQ(a.nlink, 3u);
  a.nlink = 7;
  PutAttr(a_, a);
  ExpectFoundAndRepaired({"dir_nlink"});
  EXPECT_EQ(GetAttr(a_).nlink, 3u);
}

TEST_F(FsckTest, ParentLoopIsBrokenByFixingTheParentField) {
  Attr a = GetAttr(a_);
  a.parent = b_;  // a's entry is in the root, b's in a: a -> b -> a
  PutAttr(a_, a);
  ExpectFoundAndRepaired({"dir_parent", "dir_loop"});
  EXPECT_EQ(GetAttr(a_).parent, kRootIno);
}

TEST_F(FsckTest, EntryOfTheWrongType) {
  Put(codec::EntryKey(kRootIno, "s"), codec::EncodeEntry(s_, FileType::kFile));
  ExpectFoundAndRepaired({"entry_type"});
}

TEST_F(FsckTest, KeysOfAMissingInode) {
  Put(codec::XattrKey(4000, "user.x"), "v");
  std::string chunk;
  AppendSlice(&chunk, Slice{slice1_ + 100, 10, 0, 10, 0});
  Put(codec::ChunkKey(4000, 3), chunk);
  Put(codec::SymlinkKey(f1_), "target of a regular file");
  ExpectFoundAndRepaired({"dangling_key"});
  EXPECT_TRUE(DumpAll().contains(codec::DeletedSliceKey(slice1_ + 100, 10)));
}

TEST_F(FsckTest, SliceQueuedForDeletionWhileInUse) {
  Put(codec::DeletedSliceKey(slice1_, 100), "");
  ExpectFoundAndRepaired({"queued_in_use"});
  EXPECT_FALSE(DumpAll().contains(codec::DeletedSliceKey(slice1_, 100)));
}

TEST_F(FsckTest, StaleHolderOfAMissingSession) {
  Put(codec::HolderKey(f1_, 777), "");
  ExpectFoundAndRepaired({"stale_holder"});
  EXPECT_TRUE(DumpAll().contains(codec::AttrKey(f1_))) << "a linked file must survive";
}

TEST_F(FsckTest, UnlinkedFileOfADeadSessionIsFreed) {
  ASSERT_TRUE(meta_->StartSession({}).ok());
  Context root = Context::Root();
  Ino g = Must(meta_->Mknod(root, a_, "g", S_IFREG | 0644, 0)).ino;
  Must(meta_->Open(root, g, O_RDONLY));
  ASSERT_TRUE(meta_->Unlink(root, a_, "g").ok());
  ASSERT_TRUE(meta_->FlushUsage().ok());

  // Open and unlinked while its session lives: nothing wrong.
  FsckReport r = Check(false);
  EXPECT_TRUE(r.Clean()) << Describe(r);
  EXPECT_EQ(r.counts.open_unlinked, 1u);
  EXPECT_EQ(r.live_sessions, 1u);

  // The session vanishes without cleaning up (its record lost).
  auto sessions = Must(meta_->ListSessions());
  ASSERT_EQ(sessions.size(), 1u);
  Delete(codec::SessionKey(sessions[0].id));
  ExpectFoundAndRepaired({"stale_holder", "orphan"});
  EXPECT_FALSE(DumpAll().contains(codec::AttrKey(g)));
}

TEST_F(FsckTest, OrphanHeldOpenIsLeftToItsLastClose) {
  ASSERT_TRUE(meta_->StartSession({}).ok());
  Context root = Context::Root();
  Ino g = Must(meta_->Mknod(root, a_, "g", S_IFREG | 0644, 0)).ino;
  Must(meta_->Open(root, g, O_RDONLY));
  ASSERT_TRUE(meta_->FlushUsage().ok());
  Delete(codec::EntryKey(a_, "g"));  // lost its entry, still open

  FsckReport r = Check(true);
  EXPECT_EQ(Kinds(r), (std::set<std::string>{"orphan"})) << Describe(r);
  EXPECT_FALSE(r.HasOpenErrors()) << Describe(r);
  EXPECT_EQ(GetAttr(g).nlink, 0u) << "kept for its holder, with no link";
  r = Check(false);
  EXPECT_TRUE(r.Clean()) << Describe(r);
  EXPECT_EQ(r.counts.open_unlinked, 1u);

  ASSERT_TRUE(meta_->Close(g).ok());
  ASSERT_TRUE(meta_->FlushUsage().ok());
  EXPECT_FALSE(DumpAll().contains(codec::AttrKey(g))) << "the last close should free it";
  r = Check(false);
  EXPECT_TRUE(r.Clean()) << Describe(r);
}

TEST_F(FsckTest, StaleLockRecord) {
  Put(codec::FlockKey(f1_), codec::EncodeFlocks({{555, 1, LockType::kWrite}}));
  ExpectFoundAndRepaired({"stale_lock"});
  EXPECT_FALSE(DumpAll().contains(codec::FlockKey(f1_)));
}

TEST_F(FsckTest, CountersTooLow) {
  Put(codec::CounterKey(kNextInode), codec::EncodeU64(3));
  Put(codec::CounterKey(kNextSlice), codec::EncodeU64(1));
  ExpectFoundAndRepaired({"counter"});
  EXPECT_GT(Counter(kNextInode), s_);
  EXPECT_GT(Counter(kNextSlice), slice2_);
}

TEST_F(FsckTest, UsageMismatchIsAnErrorWithoutSessions) {
  AddToCounter(kUsedBytes, 12345);
  ExpectFoundAndRepaired({"usage"});
  EXPECT_EQ(Counter(kUsedBytes), kChunkSize + 50);
}

TEST_F(FsckTest, UsageMismatchWithALiveSessionIsAWarningAndLeftAlone) {
  ASSERT_TRUE(meta_->StartSession({}).ok());
  AddToCounter(kUsedInodes, 3);
  FsckReport r = Check(true);
  EXPECT_EQ(Kinds(r), (std::set<std::string>{"usage"})) << Describe(r);
  EXPECT_EQ(r.tally(FsckKind::kUsage).warnings, 1u);
  EXPECT_FALSE(r.HasOpenErrors());
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_FALSE(r.problems[0].repaired) << r.problems[0].repair;
  EXPECT_EQ(Counter(kUsedInodes), 5u + 3u);
}

TEST_F(FsckTest, StaleSessionIsAWarningAndRemovedByRepair) {
  SessionInfo s;
  s.id = 90;
  s.host = "gone";
  s.heartbeat_sec = Now().sec - 1000;
  Put(codec::SessionKey(90), codec::EncodeSession(s));
  Put(codec::CounterKey(kNextSession), codec::EncodeU64(91));
  Put(codec::HolderKey(f1_, 90), "");
  FsckReport r = Check(false);
  EXPECT_EQ(Kinds(r), (std::set<std::string>{"stale_session"})) << Describe(r);
  EXPECT_FALSE(r.HasOpenErrors());
  ASSERT_EQ(r.sessions.size(), 1u);
  EXPECT_TRUE(r.sessions[0].stale);
  EXPECT_EQ(r.live_sessions, 0u);

  FsckOptions lenient;
  lenient.stale_after_sec = 5000;
  EXPECT_TRUE(Check(false, lenient).Clean());

  ExpectFoundAndRepaired({"stale_session"});
  Dump d = DumpAll();
  EXPECT_FALSE(d.contains(codec::SessionKey(90)));
  EXPECT_FALSE(d.contains(codec::HolderKey(f1_, 90)));
}

// On an engine one process at a time can open, a session found is a client
// that crashed: its unflushed usage is expected (a warning), its open
// unlinked files are still held, and a repair cleans up as a mount would.
TEST(FsckExclusiveTest, CrashedClientOfAnExclusiveEngine) {
  char tmpl[] = "/tmp/shoal-fsck-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  {
    auto engine = kv::OpenKv("rocksdb://" + dir + "/meta", true);
    ASSERT_TRUE(engine.has_value()) << engine.error().ToString();
    ASSERT_TRUE((*engine)->Exclusive());
    VolumeConfig c;
    c.name = "t";
    c.storage = "mem";
    ASSERT_TRUE(Meta::Format(**engine, c).ok());
    auto meta = Meta::Open(*engine);
    ASSERT_TRUE(meta.has_value());
    ASSERT_TRUE((*meta)->StartSession({}).ok());
    Context root = Context::Root();
    auto g = (*meta)->Mknod(root, kRootIno, "g", S_IFREG | 0644, 0);
    ASSERT_TRUE(g.has_value());
    ASSERT_TRUE((*meta)->Open(root, g->ino, O_RDONLY).has_value());
    ASSERT_TRUE((*meta)->Unlink(root, kRootIno, "g").ok());
    auto h = (*meta)->Mknod(root, kRootIno, "h", S_IFREG | 0644, 0);  // never counted
    ASSERT_TRUE(h.has_value());
    // The client dies here: no EndSession, usage not flushed.
  }
  auto engine = kv::OpenKv("rocksdb://" + dir + "/meta", false);
  ASSERT_TRUE(engine.has_value()) << engine.error().ToString();
  auto r = Fsck(*engine, {});
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  std::set<std::string> kinds;
  for (int k = 0; k < kFsckKinds; ++k) {
    if (r->by_kind[k].errors + r->by_kind[k].warnings > 0) {
      kinds.emplace(FsckKindName(static_cast<FsckKind>(k)));
    }
  }
  EXPECT_EQ(kinds, (std::set<std::string>{"stale_session", "usage"}));
  EXPECT_FALSE(r->HasOpenErrors());
  EXPECT_EQ(r->counts.open_unlinked, 1u);
  ASSERT_EQ(r->sessions.size(), 1u);
  EXPECT_TRUE(r->sessions[0].stale);

  FsckOptions repair;
  repair.repair = true;
  r = Fsck(*engine, repair);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->Total().repaired, r->Total().warnings);  // all of them
  r = Fsck(*engine, {});
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_TRUE(r->Clean());
  EXPECT_EQ(r->counts.inodes, 2u);  // root and h: g was freed with its session
  engine->reset();
  std::filesystem::remove_all(dir);
}

TEST_F(FsckTest, UndecodableInodeIsReportedAndItsEntriesKept) {
  Put(codec::AttrKey(f1_), "garbage");
  FsckReport r = Check(true);
  EXPECT_TRUE(Kinds(r).contains("undecodable")) << Describe(r);
  EXPECT_FALSE(Kinds(r).contains("dangling_entry")) << Describe(r);
  EXPECT_TRUE(r.HasOpenErrors());
  Dump d = DumpAll();
  EXPECT_TRUE(d.contains(codec::EntryKey(a_, "f1")));
  EXPECT_TRUE(d.contains(codec::EntryKey(b_, "f1link")));
  EXPECT_TRUE(d.contains(codec::ChunkKey(f1_, 0)));
}

TEST_F(FsckTest, ProblemListIsCappedButCountsAreComplete) {
  for (int i = 0; i < 5; ++i) {
    Put(codec::EntryKey(a_, "ghost" + std::to_string(i)),
        codec::EncodeEntry(5000 + i, FileType::kFile));
  }
  FsckOptions options;
  options.max_problems = 2;
  FsckReport r = Check(false, options);
  EXPECT_EQ(r.problems.size(), 2u);
  EXPECT_EQ(r.problems_omitted, 3u);
  EXPECT_EQ(r.tally(FsckKind::kDanglingEntry).errors, 5u);
  // Repairs are not limited by the cap.
  r = Check(true, options);
  EXPECT_EQ(r.tally(FsckKind::kDanglingEntry).repaired, 5u);
  EXPECT_TRUE(Check(false).Clean());
}

TEST_F(FsckTest, PathsOfInodes) {
  auto paths = FsckPaths(*engine_, {kRootIno, b_, s_, 4242});
  ASSERT_TRUE(paths.has_value()) << paths.error().ToString();
  EXPECT_EQ((*paths)[kRootIno], "/");
  EXPECT_EQ((*paths)[b_], "/a/b");
  EXPECT_EQ((*paths)[s_], "/s");
  EXPECT_FALSE(paths->contains(4242));
}

TEST_F(FsckTest, NoVolumeIsAnError) {
  auto empty = std::make_shared<kv::MemEngine>();
  auto r = Fsck(empty, {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Code::kNotFound);
}

}  // namespace
}  // namespace shoal::meta
