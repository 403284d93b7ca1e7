// Several clients on one shared engine: each client is a Meta of its own
// with its own session, as on separate machines. Open files are recorded so
// that an unlink by one client keeps the file for the others, and a dead
// client's holds and locks are cleaned up by the others.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdlib>
#include <random>
#include <thread>

#include "kv/kv.h"
#include "meta/codec.h"
#include "meta/meta.h"

namespace shoal::meta {
namespace {

struct MemKv {
  static std::string Url() { return "mem://"; }
};
// A real Redis when the test harness runs one (scripts/test.sh does);
// each test gets a prefix of its own.
struct RedisKv {
  static std::string Url() {
    const char* base = std::getenv("SHOAL_TEST_REDIS_URL");
    if (base == nullptr || *base == '\0') return "";
    std::random_device rd;
    return std::string(base) + "?prefix=shared-test-" + std::to_string(rd()) + std::to_string(rd());
  }
};

template <typename K>
class SharedMetaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string url = K::Url();
    if (url.empty()) GTEST_SKIP() << "SHOAL_TEST_REDIS_URL is not set (scripts/test.sh sets it)";
    auto engine = kv::OpenKv(url, true);
    ASSERT_TRUE(engine.has_value()) << engine.error().ToString();
    engine_ = *engine;
    ASSERT_FALSE(engine_->Exclusive());
    VolumeConfig c;
    c.name = "shared";
    c.storage = "mem";
    ASSERT_TRUE(Meta::Format(*engine_, c).ok());
    a_ = NewClient("a");
    b_ = NewClient("b");
  }
  void TearDown() override {
    if (!engine_) return;
    // Leave nothing behind in a shared server.
    a_.reset();
    b_.reset();
    Status s = engine_->Txn([](kv::Txn& txn) -> Status {
      std::vector<std::string> keys;
      RETURN_IF_ERROR(txn.Scan("", "", 0, true, [&](std::string_view k, std::string_view) {
        keys.emplace_back(k);
        return true;
      }));
      for (const auto& k : keys) txn.Delete(k);
      return OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
  }

  std::unique_ptr<Meta> NewClient(const std::string& host) {
    auto m = Meta::Open(engine_);
    EXPECT_TRUE(m.has_value()) << m.error().ToString();
    if (!m) return nullptr;
    SessionInfo info;
    info.host = host;
    EXPECT_TRUE((*m)->StartSession(info).ok());
    return std::move(*m);
  }

  Entry MustMknod(Meta& m, const std::string& name) {
    auto e = m.Mknod(root_, kRootIno, name, S_IFREG | 0644, 0);
    EXPECT_TRUE(e.has_value()) << name << ": " << e.error().ToString();
    return e.value_or(Entry{});
  }

  // Writes one slice to a file, so that freeing it queues a slice delete.
  void WriteOneSlice(Meta& m, Ino ino) {
    auto id = m.NewSliceId();
    ASSERT_TRUE(id.has_value());
    SliceWrite w;
    w.chunk_index = 0;
    w.slice = Slice{*id, 4096, 0, 4096, 0};
    ASSERT_TRUE(m.WriteSlices(ino, {w}, 4096, Now()).has_value());
  }

  bool Exists(Ino ino) { return a_->GetAttr(ino).has_value(); }

  size_t HolderKeys() {
    size_t n = 0;
    Status s = engine_->View([&](kv::Txn& txn) -> Status {
      n = 0;
      std::string p = codec::HolderPrefix();
      return txn.Scan(p, kv::PrefixEnd(p), 0, true, [&](std::string_view, std::string_view) {
        ++n;
        return true;
      });
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return n;
  }

  std::shared_ptr<kv::Engine> engine_;
  std::unique_ptr<Meta> a_, b_;
  Context root_ = Context::Root();
};

using SharedEngines = ::testing::Types<MemKv, RedisKv>;
TYPED_TEST_SUITE(SharedMetaTest, SharedEngines);

TYPED_TEST(SharedMetaTest, FileUnlinkedByOneClientStaysWhileAnotherHasItOpen) {
  Entry f = this->MustMknod(*this->a_, "f");
  this->WriteOneSlice(*this->a_, f.ino);
  ASSERT_TRUE(this->b_->Open(this->root_, f.ino, O_RDONLY).has_value());

  ASSERT_TRUE(this->a_->Unlink(this->root_, kRootIno, "f").ok());
  auto attr = this->b_->GetAttr(f.ino);
  ASSERT_TRUE(attr.has_value()) << attr.error().ToString();
  EXPECT_EQ(attr->nlink, 0u);
  auto slices = this->b_->ReadChunk(f.ino, 0);
  ASSERT_TRUE(slices.has_value());
  EXPECT_EQ(slices->size(), 1u);
  // Nobody can open it anew: it has no name, and a stale handle is refused.
  EXPECT_EQ(this->a_->Open(this->root_, f.ino, O_RDONLY).error().code(), Code::kNotFound);

  ASSERT_TRUE(this->b_->Close(f.ino).ok());
  EXPECT_FALSE(this->Exists(f.ino));
  auto pending = this->a_->PendingSliceDeletes(10);
  ASSERT_TRUE(pending.has_value());
  EXPECT_EQ(pending->size(), 1u);
  EXPECT_EQ(this->HolderKeys(), 0u);
}

TYPED_TEST(SharedMetaTest, UnlinkFreesAtOnceWhenNoClientHoldsTheFile) {
  Entry f = this->MustMknod(*this->a_, "f");
  ASSERT_TRUE(this->b_->Open(this->root_, f.ino, O_RDONLY).has_value());
  ASSERT_TRUE(this->b_->Close(f.ino).ok());
  EXPECT_EQ(this->HolderKeys(), 0u);
  ASSERT_TRUE(this->a_->Unlink(this->root_, kRootIno, "f").ok());
  EXPECT_FALSE(this->Exists(f.ino));
}

TYPED_TEST(SharedMetaTest, TheLastOfSeveralHoldersFreesTheFile) {
  Entry f = this->MustMknod(*this->a_, "f");
  ASSERT_TRUE(this->a_->Open(this->root_, f.ino, O_RDONLY).has_value());
  ASSERT_TRUE(this->a_->Open(this->root_, f.ino, O_RDWR).has_value());
  ASSERT_TRUE(this->b_->Open(this->root_, f.ino, O_RDONLY).has_value());
  ASSERT_TRUE(this->b_->Unlink(this->root_, kRootIno, "f").ok());
  ASSERT_TRUE(this->a_->Close(f.ino).ok());
  ASSERT_TRUE(this->b_->Close(f.ino).ok());
  EXPECT_TRUE(this->Exists(f.ino)) << "a still has one descriptor open";
  ASSERT_TRUE(this->a_->Close(f.ino).ok());
  EXPECT_FALSE(this->Exists(f.ino));
  EXPECT_EQ(this->HolderKeys(), 0u);
}

TYPED_TEST(SharedMetaTest, CloseManyReleasesEachFileAsSeparateClosesWould) {
  Entry gone1 = this->MustMknod(*this->a_, "gone1");
  Entry gone2 = this->MustMknod(*this->a_, "gone2");
  Entry kept = this->MustMknod(*this->a_, "kept");
  Entry twice = this->MustMknod(*this->a_, "twice");
  for (Ino ino : {gone1.ino, gone2.ino, kept.ino, twice.ino}) {
    ASSERT_TRUE(this->b_->Open(this->root_, ino, O_RDONLY).has_value());
  }
  ASSERT_TRUE(this->b_->Open(this->root_, twice.ino, O_RDONLY).has_value());
  for (const char* name : {"gone1", "gone2", "twice"}) {
    ASSERT_TRUE(this->a_->Unlink(this->root_, kRootIno, name).ok());
  }
  // One open of `twice` is dropped here, the other below.
  ASSERT_TRUE(this->b_->CloseMany({gone1.ino, kept.ino, gone2.ino, twice.ino}).ok());
  EXPECT_FALSE(this->Exists(gone1.ino));
  EXPECT_FALSE(this->Exists(gone2.ino));
  EXPECT_TRUE(this->Exists(kept.ino)) << "a closed file that still has its name stays";
  EXPECT_TRUE(this->Exists(twice.ino)) << "one descriptor of it is still open";
  ASSERT_TRUE(this->b_->CloseMany({twice.ino}).ok());
  EXPECT_FALSE(this->Exists(twice.ino));
  EXPECT_EQ(this->HolderKeys(), 0u);
}

TYPED_TEST(SharedMetaTest, ACreatedFileIsHeldByItsCreator) {
  auto f = this->a_->Create(this->root_, kRootIno, "f", 0644);
  ASSERT_TRUE(f.has_value()) << f.error().ToString();
  ASSERT_TRUE(this->b_->Unlink(this->root_, kRootIno, "f").ok());
  EXPECT_TRUE(this->Exists(f->ino));
  ASSERT_TRUE(this->a_->Close(f->ino).ok());
  EXPECT_FALSE(this->Exists(f->ino));
}

TYPED_TEST(SharedMetaTest, RenameOverAFileOpenElsewhereKeepsTheOldFile) {
  Entry old_file = this->MustMknod(*this->a_, "data");
  this->MustMknod(*this->a_, "data.new");
  ASSERT_TRUE(this->b_->Open(this->root_, old_file.ino, O_RDONLY).has_value());
  ASSERT_TRUE(
      this->a_->Rename(this->root_, kRootIno, "data.new", kRootIno, "data", RenameFlags::kNone)
          .ok());
  EXPECT_TRUE(this->Exists(old_file.ino));
  ASSERT_TRUE(this->b_->Close(old_file.ino).ok());
  EXPECT_FALSE(this->Exists(old_file.ino));
}

TYPED_TEST(SharedMetaTest, ADeadClientsOpenFilesAndLocksAreReleasedByTheOthers) {
  Entry f = this->MustMknod(*this->a_, "f");
  Entry g = this->MustMknod(*this->a_, "g");
  ASSERT_TRUE(this->b_->Open(this->root_, f.ino, O_RDONLY).has_value());
  ASSERT_TRUE(this->b_->Open(this->root_, g.ino, O_RDWR).has_value());
  ASSERT_TRUE(this->b_->Flock(g.ino, 7, LockType::kWrite).ok());
  PosixLock whole{LockType::kWrite, 0, UINT64_MAX, 42};
  ASSERT_TRUE(this->b_->SetLk(g.ino, 7, whole).ok());
  ASSERT_TRUE(this->a_->Unlink(this->root_, kRootIno, "f").ok());
  EXPECT_EQ(this->a_->Flock(g.ino, 1, LockType::kWrite).code(), Code::kWouldBlock);
  EXPECT_EQ(this->a_->SetLk(g.ino, 1, whole).code(), Code::kWouldBlock);

  // b dies: no EndSession. Its session is not stale yet...
  this->b_.reset();
  auto removed = this->a_->CleanStaleSessions(3600);
  ASSERT_TRUE(removed.has_value());
  EXPECT_EQ(*removed, 0);
  EXPECT_TRUE(this->Exists(f.ino));
  // ...until its heartbeat is old enough.
  removed = this->a_->CleanStaleSessions(0);
  ASSERT_TRUE(removed.has_value()) << removed.error().ToString();
  EXPECT_EQ(*removed, 1);
  EXPECT_FALSE(this->Exists(f.ino));
  EXPECT_TRUE(this->Exists(g.ino));
  EXPECT_TRUE(this->a_->Flock(g.ino, 1, LockType::kWrite).ok());
  EXPECT_TRUE(this->a_->SetLk(g.ino, 1, whole).ok());
  EXPECT_EQ(this->HolderKeys(), 0u);
  auto sessions = this->a_->ListSessions();
  ASSERT_TRUE(sessions.has_value());
  EXPECT_EQ(sessions->size(), 1u);
}

// Opens and closes on one client race unlinks on the other: every file must
// end up freed once the last descriptor is closed, with no holder left.
TYPED_TEST(SharedMetaTest, OpensRacingUnlinksNeverLoseOrLeakAFile) {
  constexpr int kFiles = 40;
  std::vector<Ino> inos;
  for (int i = 0; i < kFiles; ++i)
    inos.push_back(this->MustMknod(*this->a_, "f" + std::to_string(i)).ino);
  std::atomic<bool> failed{false};
  std::vector<std::thread> openers;
  for (int t = 0; t < 3; ++t) {
    openers.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round) {
        for (int i = t; i < kFiles; i += 1) {
          auto opened = this->b_->Open(this->root_, inos[i], O_RDONLY);
          if (!opened) {
            if (opened.error().code() != Code::kNotFound) failed = true;
            continue;
          }
          // While we hold it, the file must exist, whatever a does. (An open
          // may succeed on a file a just unlinked when another thread of this
          // client holds it already, as /proc/PID/fd/N opens do on Linux; a
          // client that does not hold it is refused: see the first test.)
          if (!this->b_->GetAttr(inos[i]).has_value()) failed = true;
          if (!this->b_->Close(inos[i]).ok()) failed = true;
        }
      }
    });
  }
  for (int i = 0; i < kFiles; ++i) {
    Status s = this->a_->Unlink(this->root_, kRootIno, "f" + std::to_string(i));
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  for (auto& t : openers) t.join();
  EXPECT_FALSE(failed.load());
  for (Ino ino : inos) EXPECT_FALSE(this->Exists(ino)) << "inode " << ino << " leaked";
  EXPECT_EQ(this->HolderKeys(), 0u);
}

}  // namespace
}  // namespace shoal::meta
