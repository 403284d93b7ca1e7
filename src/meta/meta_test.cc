// Meta over every KV engine: the same suite on mem, rocksdb and (when
// SHOAL_TEST_REDIS_URL names a server; skipped otherwise) redis.
#include "meta/meta.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "kv/kv.h"
#include "kv/redis_testing.h"

namespace shoal::meta {
namespace {

struct MemKv {
  static Result<std::shared_ptr<kv::Engine>> Open(const std::string&) {
    return kv::OpenKv("mem://", true);
  }
};
struct RocksKv {
  static Result<std::shared_ptr<kv::Engine>> Open(const std::string& dir) {
    return kv::OpenKv("rocksdb://" + dir + "/meta", true);
  }
};

// Under a fresh prefix of the test server, deleted afterwards.
struct RedisKv {
  static std::string SkipReason() { return kv::testing::RedisSkipReason(); }
  static Result<std::shared_ptr<kv::Engine>> Open(const std::string&) {
    ASSIGN_OR_RETURN(std::shared_ptr<kv::Engine> engine, kv::testing::OpenTestRedis());
    return engine;
  }
};

template <typename K>
class MetaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if constexpr (requires { K::SkipReason(); }) {
      if (std::string reason = K::SkipReason(); !reason.empty()) GTEST_SKIP() << reason;
    }
    char tmpl[] = "/tmp/shoal-meta-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto engine = K::Open(dir_);
    ASSERT_TRUE(engine.has_value()) << engine.error().ToString();
    engine_ = *engine;
    VolumeConfig c;
    c.name = "test";
    c.storage = "mem";
    ASSERT_TRUE(Meta::Format(*engine_, c).ok());
    auto m = Meta::Open(engine_);
    ASSERT_TRUE(m.has_value()) << m.error().ToString();
    meta_ = std::move(*m);
    ASSERT_TRUE(meta_->StartSession({}).ok());
  }
  void TearDown() override {
    meta_.reset();
    engine_.reset();
    std::filesystem::remove_all(dir_);
  }

  Entry MustCreate(Ino parent, const std::string& name, mode_t mode = S_IFREG | 0644,
                   const Context& ctx = Context::Root()) {
    auto e = meta_->Mknod(ctx, parent, name, mode, 0);
    EXPECT_TRUE(e.has_value()) << name << ": " << e.error().ToString();
    return e.value_or(Entry{});
  }
  Code CodeOf(const Status& s) { return s.code(); }
  template <typename T>
  Code CodeOf(const Result<T>& r) {
    return r.has_value() ? Code::kOk : r.error().code();
  }

  std::string dir_;
  std::shared_ptr<kv::Engine> engine_;
  std::unique_ptr<Meta> meta_;
  Context root_ = Context::Root();
};

using Engines = ::testing::Types<MemKv, RocksKv, RedisKv>;
TYPED_TEST_SUITE(MetaTest, Engines);

TYPED_TEST(MetaTest, FormatTwiceIsRefusedAndKeepsTheVolume) {
  VolumeConfig c;
  c.name = "other";
  Status s = Meta::Format(*this->engine_, c);
  EXPECT_EQ(s.code(), Code::kExists);
  EXPECT_NE(s.message().find("'test'"), std::string::npos) << s.message();
  auto loaded = Meta::Load(*this->engine_);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->name, "test");
}

TYPED_TEST(MetaTest, UnknownFormatVersionIsRefused) {
  auto engine = kv::OpenKv("mem://", true);
  ASSERT_TRUE(engine.has_value());
  VolumeConfig c;
  c.name = "future";
  c.format_version = kFormatVersion + 1;
  ASSERT_TRUE(Meta::Format(**engine, c).ok());
  auto m = Meta::Open(*engine);
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.error().code(), Code::kVersion);
  EXPECT_NE(m.error().message().find(std::to_string(kFormatVersion + 1)), std::string::npos);
}

TYPED_TEST(MetaTest, CreateLookupAndLinkCounts) {
  auto& m = *this->meta_;
  Entry d = this->MustCreate(kRootIno, "d", S_IFDIR | 0755);
  Entry f = this->MustCreate(d.ino, "f");
  auto root = m.GetAttr(kRootIno);
  ASSERT_TRUE(root.has_value());
  EXPECT_EQ(root->nlink, 3u);
  auto l = m.Lookup(this->root_, d.ino, "f");
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->ino, f.ino);
  EXPECT_EQ(this->CodeOf(m.Lookup(this->root_, d.ino, "g")), Code::kNotFound);
  EXPECT_EQ(this->CodeOf(m.Mknod(this->root_, d.ino, "f", S_IFREG | 0644, 0)), Code::kExists);
  EXPECT_EQ(this->CodeOf(m.Lookup(this->root_, f.ino, "x")), Code::kNotDir);
  EXPECT_EQ(this->CodeOf(m.Mknod(this->root_, kRootIno, std::string(256, 'a'), S_IFREG, 0)),
            Code::kNameTooLong);
  EXPECT_TRUE(m.Mknod(this->root_, kRootIno, std::string(255, 'a'), S_IFREG, 0).has_value());
  auto link = m.Link(this->root_, f.ino, kRootIno, "hard");
  ASSERT_TRUE(link.has_value());
  EXPECT_EQ(link->attr.nlink, 2u);
  EXPECT_EQ(this->CodeOf(m.Link(this->root_, d.ino, kRootIno, "dirlink")), Code::kNotPermitted);
  EXPECT_TRUE(m.Unlink(this->root_, d.ino, "f").ok());
  EXPECT_EQ(m.GetAttr(f.ino)->nlink, 1u);
  EXPECT_EQ(this->CodeOf(m.Rmdir(this->root_, kRootIno, "hard")), Code::kNotDir);
  EXPECT_EQ(this->CodeOf(m.Unlink(this->root_, kRootIno, "d")), Code::kIsDir);
  EXPECT_TRUE(m.Rmdir(this->root_, kRootIno, "d").ok());
  EXPECT_EQ(m.GetAttr(kRootIno)->nlink, 2u);
  EXPECT_EQ(this->CodeOf(m.GetAttr(d.ino)), Code::kNotFound);
}

TYPED_TEST(MetaTest, RmdirOfNonEmptyDirFails) {
  auto& m = *this->meta_;
  Entry d = this->MustCreate(kRootIno, "d", S_IFDIR | 0755);
  this->MustCreate(d.ino, "f");
  EXPECT_EQ(this->CodeOf(m.Rmdir(this->root_, kRootIno, "d")), Code::kNotEmpty);
  EXPECT_TRUE(m.Unlink(this->root_, d.ino, "f").ok());
  EXPECT_TRUE(m.Rmdir(this->root_, kRootIno, "d").ok());
}

TYPED_TEST(MetaTest, RenameRules) {
  auto& m = *this->meta_;
  const Context& ctx = this->root_;
  Entry a = this->MustCreate(kRootIno, "a", S_IFDIR | 0755);
  Entry b = this->MustCreate(a.ino, "b", S_IFDIR | 0755);
  Entry f = this->MustCreate(kRootIno, "f");
  Entry g = this->MustCreate(kRootIno, "g");
  // A directory into its own subtree.
  EXPECT_EQ(this->CodeOf(m.Rename(ctx, kRootIno, "a", b.ino, "x", RenameFlags::kNone)),
            Code::kInvalid);
  // File over file replaces it and frees the old one.
  EXPECT_TRUE(m.Rename(ctx, kRootIno, "f", kRootIno, "g", RenameFlags::kNone).ok());
  EXPECT_EQ(m.Lookup(ctx, kRootIno, "g")->ino, f.ino);
  EXPECT_EQ(this->CodeOf(m.GetAttr(g.ino)), Code::kNotFound);
  // No-replace and exchange.
  Entry h = this->MustCreate(kRootIno, "h");
  EXPECT_EQ(this->CodeOf(m.Rename(ctx, kRootIno, "g", kRootIno, "h", RenameFlags::kNoReplace)),
            Code::kExists);
  EXPECT_EQ(this->CodeOf(m.Rename(ctx, kRootIno, "g", kRootIno, "g", RenameFlags::kNoReplace)),
            Code::kExists);  // as renameat2(2): the target exists, even if it is the source
  EXPECT_TRUE(m.Rename(ctx, kRootIno, "g", kRootIno, "h", RenameFlags::kExchange).ok());
  EXPECT_EQ(m.Lookup(ctx, kRootIno, "h")->ino, f.ino);
  EXPECT_EQ(m.Lookup(ctx, kRootIno, "g")->ino, h.ino);
  // Exchange a file and a directory across parents keeps link counts right.
  EXPECT_TRUE(m.Rename(ctx, kRootIno, "g", a.ino, "b", RenameFlags::kExchange).ok());
  EXPECT_EQ(m.Lookup(ctx, kRootIno, "g")->ino, b.ino);
  EXPECT_EQ(m.GetAttr(b.ino)->parent, kRootIno);
  EXPECT_EQ(m.GetAttr(a.ino)->nlink, 2u);
  EXPECT_EQ(m.GetAttr(kRootIno)->nlink, 4u);
  // Dir over file, file over dir, dir over non-empty dir.
  EXPECT_EQ(this->CodeOf(m.Rename(ctx, kRootIno, "g", kRootIno, "h", RenameFlags::kNone)),
            Code::kNotDir);
  EXPECT_EQ(this->CodeOf(m.Rename(ctx, kRootIno, "h", kRootIno, "g", RenameFlags::kNone)),
            Code::kIsDir);
  this->MustCreate(a.ino, "inner");
  EXPECT_EQ(this->CodeOf(m.Rename(ctx, kRootIno, "g", kRootIno, "a", RenameFlags::kNone)),
            Code::kNotEmpty);
  // Dir over empty dir.
  EXPECT_TRUE(m.Unlink(ctx, a.ino, "inner").ok());
  EXPECT_TRUE(m.Unlink(ctx, a.ino, "b").ok());  // the file h, exchanged in above
  EXPECT_TRUE(m.Rename(ctx, kRootIno, "g", kRootIno, "a", RenameFlags::kNone).ok());
  EXPECT_EQ(m.GetAttr(kRootIno)->nlink, 3u);
  EXPECT_EQ(this->CodeOf(m.GetAttr(a.ino)), Code::kNotFound);
}

TYPED_TEST(MetaTest, PermissionsStickyAndSetgid) {
  auto& m = *this->meta_;
  Context alice(1000, 1000, 1), bob(1001, 1001, 2);
  Entry tmp = this->MustCreate(kRootIno, "tmp", S_IFDIR | 01777);
  Entry af = this->MustCreate(tmp.ino, "af", S_IFREG | 0644, alice);
  EXPECT_EQ(m.GetAttr(af.ino)->uid, 1000u);
  EXPECT_EQ(this->CodeOf(m.Unlink(bob, tmp.ino, "af")), Code::kNotPermitted);
  EXPECT_EQ(this->CodeOf(m.Rename(bob, tmp.ino, "af", tmp.ino, "bf", RenameFlags::kNone)),
            Code::kNotPermitted);
  // Root-owned 0755 dir: alice cannot create in it.
  Entry ro = this->MustCreate(kRootIno, "ro", S_IFDIR | 0755);
  EXPECT_EQ(this->CodeOf(m.Mknod(alice, ro.ino, "x", S_IFREG | 0644, 0)), Code::kAccess);
  EXPECT_EQ(this->CodeOf(m.Open(bob, af.ino, O_WRONLY)), Code::kAccess);
  EXPECT_TRUE(m.Open(bob, af.ino, O_RDONLY).has_value());
  ASSERT_TRUE(m.Close(af.ino).ok());
  // Another user may only clear set-id bits (the kernel does so on their write).
  Entry suid = this->MustCreate(tmp.ino, "suid", S_IFREG | 06777, alice);
  SetAttrRequest clear;
  clear.mask = kSetMode;
  clear.mode = 0777;
  SetAttrRequest widen = clear;
  widen.mode = 06775;
  EXPECT_EQ(this->CodeOf(m.SetAttr(bob, suid.ino, widen)), Code::kNotPermitted);
  auto cleared = m.SetAttr(bob, suid.ino, clear);
  ASSERT_TRUE(cleared.has_value()) << cleared.error().ToString();
  EXPECT_EQ(cleared->mode, 0777u);
  EXPECT_EQ(this->CodeOf(m.SetAttr(bob, suid.ino, clear)), Code::kNotPermitted);
  // chmod only by the owner; chown only by root.
  SetAttrRequest chmod;
  chmod.mask = kSetMode;
  chmod.mode = 0600;
  EXPECT_EQ(this->CodeOf(m.SetAttr(bob, af.ino, chmod)), Code::kNotPermitted);
  EXPECT_TRUE(m.SetAttr(alice, af.ino, chmod).has_value());
  SetAttrRequest chown;
  chown.mask = kSetUid;
  chown.uid = 1001;
  EXPECT_EQ(this->CodeOf(m.SetAttr(alice, af.ino, chown)), Code::kNotPermitted);
  EXPECT_TRUE(m.SetAttr(this->root_, af.ino, chown).has_value());
  // A setgid directory hands down its group, and its bit to subdirectories.
  Entry sg = this->MustCreate(kRootIno, "sg", S_IFDIR | 02777);
  SetAttrRequest grp;
  grp.mask = kSetGid;
  grp.gid = 500;
  ASSERT_TRUE(m.SetAttr(this->root_, sg.ino, grp).has_value());
  Entry child = this->MustCreate(sg.ino, "c", S_IFREG | 0644, alice);
  EXPECT_EQ(m.GetAttr(child.ino)->gid, 500u);
  Entry sub = this->MustCreate(sg.ino, "s", S_IFDIR | 0755, alice);
  EXPECT_TRUE(m.GetAttr(sub.ino)->mode & S_ISGID);
  // chmod by a non-member drops setgid.
  SetAttrRequest setgid;
  setgid.mask = kSetMode;
  setgid.mode = 02755;
  auto after = m.SetAttr(alice, child.ino, setgid);
  ASSERT_TRUE(after.has_value());
  EXPECT_FALSE(after->mode & S_ISGID);
}

TYPED_TEST(MetaTest, TimesAndUtimeNow) {
  auto& m = *this->meta_;
  Context alice(1000, 1000, 1), bob(1001, 1001, 2);
  Entry pub = this->MustCreate(kRootIno, "pub", S_IFDIR | 0777);
  Entry f = this->MustCreate(pub.ino, "f", S_IFREG | 0666, alice);
  SetAttrRequest t;
  t.mask = kSetAtime | kSetMtime;
  t.atime = {100, 5};
  t.mtime = {200, 7};
  EXPECT_EQ(this->CodeOf(m.SetAttr(bob, f.ino, t)), Code::kNotPermitted);
  auto a = m.SetAttr(alice, f.ino, t);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->atime, (Timespec{100, 5}));
  EXPECT_EQ(a->mtime, (Timespec{200, 7}));
  // Anyone with write access may set the times to now.
  SetAttrRequest now;
  now.mask = kSetAtimeNow | kSetMtimeNow;
  auto b = m.SetAttr(bob, f.ino, now);
  ASSERT_TRUE(b.has_value()) << b.error().ToString();
  EXPECT_GT(b->mtime.sec, 200);
}

TYPED_TEST(MetaTest, SlicesTruncateAndDeletion) {
  auto& m = *this->meta_;
  Entry f = this->MustCreate(kRootIno, "f");
  auto id1 = m.NewSliceId(), id2 = m.NewSliceId();
  ASSERT_TRUE(id1.has_value() && id2.has_value());
  EXPECT_NE(*id1, *id2);
  Slice s1{*id1, 1000, 0, 1000, 0};
  Slice s2{*id2, 1000, 0, 1000, 0};  // fully over s1
  ASSERT_TRUE(m.WriteSlices(f.ino, {{0, s1}}, 1000, Now()).has_value());
  auto attr = m.WriteSlices(f.ino, {{0, s2}}, 1000, Now());
  ASSERT_TRUE(attr.has_value());
  EXPECT_EQ(attr->length, 1000u);
  auto chunk = m.ReadChunk(f.ino, 0);
  ASSERT_TRUE(chunk.has_value());
  ASSERT_EQ(chunk->size(), 1u);  // s1 was hidden and dropped
  EXPECT_EQ((*chunk)[0].id, *id2);
  auto pending = m.PendingSliceDeletes(10);
  ASSERT_TRUE(pending.has_value());
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].id, *id1);
  ASSERT_TRUE(m.ForgetSliceDelete((*pending)[0]).ok());
  // A slice in the second chunk, then truncate into the first chunk.
  auto id3 = m.NewSliceId();
  ASSERT_TRUE(
      m.WriteSlices(f.ino, {{1, Slice{*id3, 10, 0, 10, 0}}}, kChunkSize + 10, Now()).has_value());
  auto t = m.Truncate(this->root_, f.ino, 500, false);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->length, 500u);
  auto chunks = m.ListChunks(f.ino);
  ASSERT_TRUE(chunks.has_value());
  EXPECT_EQ(chunks->count(1), 0u);
  auto resolved = ResolveRange((*chunks)[0], 0, 1000);
  ASSERT_FALSE(resolved.empty());
  // Bytes past 500 now read as zeros.
  for (const auto& seg : resolved) {
    if (seg.pos >= 500) {
      EXPECT_EQ(seg.id, 0u);
    }
  }
  // Punch a hole, then unlink: every slice is queued for deletion.
  ASSERT_TRUE(m.Fallocate(f.ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 100).has_value());
  ASSERT_TRUE(m.Unlink(this->root_, kRootIno, "f").ok());
  pending = m.PendingSliceDeletes(10);
  ASSERT_TRUE(pending.has_value());
  std::set<uint64_t> ids;
  for (auto& s : *pending) ids.insert(s.id);
  EXPECT_TRUE(ids.count(*id2));
  EXPECT_TRUE(ids.count(*id3));
}

TYPED_TEST(MetaTest, UnlinkedOpenFileLivesUntilClose) {
  auto& m = *this->meta_;
  Entry f = this->MustCreate(kRootIno, "f");
  ASSERT_TRUE(m.Open(this->root_, f.ino, O_RDWR).has_value());
  ASSERT_TRUE(m.Unlink(this->root_, kRootIno, "f").ok());
  auto a = m.GetAttr(f.ino);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->nlink, 0u);
  ASSERT_TRUE(m.Close(f.ino).ok());
  EXPECT_EQ(this->CodeOf(m.GetAttr(f.ino)), Code::kNotFound);
}

TYPED_TEST(MetaTest, SessionEndFreesSustainedInodes) {
  auto& m = *this->meta_;
  Entry f = this->MustCreate(kRootIno, "f");
  ASSERT_TRUE(m.Open(this->root_, f.ino, O_RDWR).has_value());
  ASSERT_TRUE(m.Unlink(this->root_, kRootIno, "f").ok());
  auto sessions = m.ListSessions();
  ASSERT_TRUE(sessions.has_value());
  EXPECT_EQ(sessions->size(), 1u);
  ASSERT_TRUE(m.EndSession().ok());
  EXPECT_EQ(this->CodeOf(m.GetAttr(f.ino)), Code::kNotFound);
  EXPECT_TRUE(m.ListSessions()->empty());
}

TYPED_TEST(MetaTest, XattrFlagsAndLimits) {
  auto& m = *this->meta_;
  Entry f = this->MustCreate(kRootIno, "f");
  EXPECT_EQ(this->CodeOf(m.GetXattr(this->root_, f.ino, "user.a")), Code::kNoData);
  EXPECT_EQ(m.SetXattr(this->root_, f.ino, "user.a", "1", XattrFlags::kReplace).code(),
            Code::kNoData);
  EXPECT_TRUE(m.SetXattr(this->root_, f.ino, "user.a", "1", XattrFlags::kCreate).ok());
  EXPECT_EQ(m.SetXattr(this->root_, f.ino, "user.a", "2", XattrFlags::kCreate).code(),
            Code::kExists);
  EXPECT_TRUE(
      m.SetXattr(this->root_, f.ino, "user.a", std::string("\0x", 2), XattrFlags::kReplace).ok());
  EXPECT_EQ(*m.GetXattr(this->root_, f.ino, "user.a"), std::string("\0x", 2));
  EXPECT_TRUE(m.SetXattr(this->root_, f.ino, "user.b", "", XattrFlags::kAny).ok());
  auto names = m.ListXattr(this->root_, f.ino);
  ASSERT_TRUE(names.has_value());
  EXPECT_EQ(*names, (std::vector<std::string>{"user.a", "user.b"}));
  EXPECT_TRUE(m.RemoveXattr(this->root_, f.ino, "user.a").ok());
  EXPECT_EQ(m.RemoveXattr(this->root_, f.ino, "user.a").code(), Code::kNoData);
  Context bob(1001, 1001, 2);
  EXPECT_EQ(m.SetXattr(bob, f.ino, "user.c", "x", XattrFlags::kAny).code(), Code::kAccess);
  EXPECT_EQ(m.SetXattr(bob, f.ino, "trusted.c", "x", XattrFlags::kAny).code(), Code::kNotPermitted);
  EXPECT_EQ(m.SetXattr(this->root_, f.ino, "system.posix_acl_access", "x", XattrFlags::kAny).code(),
            Code::kUnsupported);
  EXPECT_EQ(this->CodeOf(m.GetXattr(this->root_, f.ino, "system.posix_acl_default")),
            Code::kUnsupported);
}

TYPED_TEST(MetaTest, FlockAndPosixLocks) {
  auto& m = *this->meta_;
  Entry f = this->MustCreate(kRootIno, "f");
  EXPECT_TRUE(m.Flock(f.ino, 1, LockType::kRead).ok());
  EXPECT_TRUE(m.Flock(f.ino, 2, LockType::kRead).ok());
  EXPECT_EQ(m.Flock(f.ino, 3, LockType::kWrite).code(), Code::kWouldBlock);
  EXPECT_TRUE(m.Flock(f.ino, 1, LockType::kUnlock).ok());
  EXPECT_TRUE(m.ReleaseLocks(f.ino, 2, true).ok());
  EXPECT_TRUE(m.Flock(f.ino, 3, LockType::kWrite).ok());

  PosixLock w{LockType::kWrite, 0, 99, 10};
  EXPECT_TRUE(m.SetLk(f.ino, 1, w).ok());
  PosixLock probe{LockType::kRead, 50, 60, 0};
  auto held = m.GetLk(f.ino, 2, probe);
  ASSERT_TRUE(held.has_value());
  EXPECT_EQ(held->type, LockType::kWrite);
  EXPECT_EQ(held->pid, 10u);
  EXPECT_EQ(m.GetLk(f.ino, 1, probe)->type, LockType::kUnlock);  // own locks never conflict
  EXPECT_EQ(m.SetLk(f.ino, 2, probe).code(), Code::kWouldBlock);
  // Unlock the middle: [0,49] and [61,99] stay locked.
  EXPECT_TRUE(m.SetLk(f.ino, 1, PosixLock{LockType::kUnlock, 50, 60, 10}).ok());
  EXPECT_TRUE(m.SetLk(f.ino, 2, probe).ok());
  EXPECT_EQ(m.SetLk(f.ino, 2, PosixLock{LockType::kRead, 40, 45, 0}).code(), Code::kWouldBlock);
  EXPECT_EQ(m.SetLk(f.ino, 2, PosixLock{LockType::kRead, 90, UINT64_MAX, 0}).code(),
            Code::kWouldBlock);
  EXPECT_TRUE(m.ReleaseLocks(f.ino, 1, false).ok());
  EXPECT_TRUE(m.SetLk(f.ino, 2, PosixLock{LockType::kWrite, 0, UINT64_MAX, 0}).ok());
}

TYPED_TEST(MetaTest, ConcurrentCreatesInOneDirectory) {
  auto& m = *this->meta_;
  constexpr int kThreads = 4, kPerThread = 50;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto e = m.Mknod(Context::Root(), kRootIno,
                         "f" + std::to_string(t) + "_" + std::to_string(i), S_IFREG | 0644, 0);
        if (!e) ++failures;
        if (i % 5 == 0 &&
            !m.Mknod(Context::Root(), kRootIno, "d" + std::to_string(t) + "_" + std::to_string(i),
                     S_IFDIR | 0755, 0)) {
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto entries = m.Readdir(Context::Root(), kRootIno, true);
  ASSERT_TRUE(entries.has_value());
  EXPECT_EQ(entries->size(), static_cast<size_t>(kThreads * (kPerThread + kPerThread / 5)));
  std::set<Ino> inos;
  for (auto& e : *entries) {
    inos.insert(e.ino);
    EXPECT_TRUE(e.attr.has_value());
  }
  EXPECT_EQ(inos.size(), entries->size());
  EXPECT_EQ(m.GetAttr(kRootIno)->nlink, 2u + kThreads * (kPerThread / 5));
}

TYPED_TEST(MetaTest, UsageCountsBytesAndInodes) {
  auto& m = *this->meta_;
  Entry f = this->MustCreate(kRootIno, "f");
  ASSERT_TRUE(m.Truncate(this->root_, f.ino, 12345, false).has_value());
  auto u = m.Usage();
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->used_bytes, 12345u);
  EXPECT_EQ(u->inodes, 2u);
  ASSERT_TRUE(m.Heartbeat().ok());  // flushes to the stored counters
  EXPECT_EQ(m.Usage()->used_bytes, 12345u);
  ASSERT_TRUE(m.Unlink(this->root_, kRootIno, "f").ok());
  EXPECT_EQ(m.Usage()->used_bytes, 0u);
  EXPECT_EQ(m.Usage()->inodes, 1u);
}

TYPED_TEST(MetaTest, UsageIsRecountedAfterACrash) {
  for (int i = 0; i < 5; ++i) this->MustCreate(kRootIno, "f" + std::to_string(i));
  Entry f = this->MustCreate(kRootIno, "big");
  ASSERT_TRUE(this->meta_->Truncate(this->root_, f.ino, 1000, false).has_value());
  // A crash: the client goes away without storing its usage changes.
  this->meta_.reset();
  if (this->engine_->Exclusive()) {
    this->engine_.reset();  // rocksdb: the next process opens the database anew
    auto engine = TypeParam::Open(this->dir_);
    ASSERT_TRUE(engine.has_value()) << engine.error().ToString();
    this->engine_ = *engine;
  }
  auto m = Meta::Open(this->engine_);
  ASSERT_TRUE(m.has_value());
  ASSERT_TRUE((*m)->StartSession({}).ok());
  // An exclusive engine recounts by itself; a shared one needs asking (fsck).
  if (!this->engine_->Exclusive()) {
    ASSERT_TRUE((*m)->RecountUsage().ok());
  }
  auto u = (*m)->Usage();
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->inodes, 7u);
  EXPECT_EQ(u->used_bytes, 1000u);
  EXPECT_EQ((*m)->ListSessions()->size(), this->engine_->Exclusive() ? 1u : 2u);
}

}  // namespace
}  // namespace shoal::meta
