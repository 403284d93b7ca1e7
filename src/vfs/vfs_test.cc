#include "vfs/vfs.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/falloc.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "kv/kv.h"
#include "meta/meta.h"
#include "object/fault_store.h"
#include "object/mem_store.h"

namespace shoal::vfs {
namespace {

#define ASSERT_OK(expr)                                              \
  do {                                                               \
    ::shoal::Status _st = ::shoal::internal::StatusOf(expr);         \
    ASSERT_TRUE(_st.ok()) << #expr << " failed: " << _st.ToString(); \
  } while (0)

#define EXPECT_OK(expr)                                              \
  do {                                                               \
    ::shoal::Status _st = ::shoal::internal::StatusOf(expr);         \
    EXPECT_TRUE(_st.ok()) << #expr << " failed: " << _st.ToString(); \
  } while (0)

// NOLINTBEGIN(bugprone-macro-parentheses): lhs is a declaration.
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL(SHOAL_CONCAT(_result_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, expr)                                 \
  auto tmp = (expr);                                                              \
  ASSERT_TRUE(tmp.has_value()) << #expr << " failed: " << tmp.error().ToString(); \
  lhs = std::move(*tmp)
// NOLINTEND(bugprone-macro-parentheses)

// The code of a Status or of a failed Result (kOk for a value).
template <typename T>
Code CodeOf(const T& r) {
  return internal::StatusOf(r).code();
}

using meta::kRootIno;

// Small blocks, so that a few hundred KiB spread over several objects.
constexpr uint32_t kBlockSize = 64u << 10;
constexpr uint64_t kMiB = 1u << 20;

std::string Pattern(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    s[i] = static_cast<char>('a' + (x >> 24) % 26);
  }
  return s;
}

class VfsTest : public ::testing::Test {
 protected:
  static Options TestOptions() {
    Options o;
    o.background = false;
    o.write_buffer_per_file = 4 * kMiB;
    return o;
  }

  void SetUp() override {
    auto engine = kv::OpenKv("mem://", true);
    ASSERT_TRUE(engine.has_value()) << engine.error().ToString();
    engine_ = *engine;
    base_ = std::make_shared<object::MemStore>("vfs_test");
    store_ = std::make_shared<object::FaultStore>(base_);
    meta::VolumeConfig config;
    config.name = "vol";
    config.block_size = kBlockSize;
    config.storage = "mem";
    ASSERT_OK(meta::Meta::Format(*engine_, config));
    Mount(TestOptions());
  }

  void TearDown() override {
    if (vfs_) EXPECT_OK(vfs_->Shutdown());
  }

  void Mount(Options options) {
    auto m = meta::Meta::Open(engine_);
    ASSERT_TRUE(m.has_value()) << m.error().ToString();
    meta::SessionInfo info;
    info.host = "test";
    ASSERT_OK((*m)->StartSession(info));
    auto v = Vfs::Create(std::move(*m), store_, options);
    ASSERT_TRUE(v.has_value()) << v.error().ToString();
    vfs_ = std::move(*v);
  }

  // Creates `name` in the root and returns its inode and an O_RDWR handle.
  std::pair<Ino, uint64_t> NewFile(std::string_view name, int extra_flags = 0) {
    auto r = vfs_->Create(root_, kRootIno, name, 0644, O_CREAT | O_RDWR | extra_flags);
    if (!r) {
      ADD_FAILURE() << "create " << name << ": " << r.error().ToString();
      return {0, 0};
    }
    return {r->entry.ino, r->fh};
  }

  void WriteAt(Ino ino, uint64_t fh, uint64_t off, std::string_view data,
               const Context& ctx = Context::Root()) {
    auto n = vfs_->Write(ctx, ino, fh, off, data);
    ASSERT_TRUE(n.has_value()) << "write at " << off << ": " << n.error().ToString();
    ASSERT_EQ(*n, data.size());
  }

  std::string ReadAt(Ino ino, uint64_t fh, uint64_t off, size_t size) {
    std::string out;
    Status s = vfs_->Read(root_, ino, fh, off, size, &out);
    if (!s.ok()) {
      ADD_FAILURE() << "read at " << off << ": " << s.ToString();
      return "<read failed>";
    }
    return out;
  }

  uint64_t Length(Ino ino) {
    auto a = vfs_->GetAttr(root_, ino);
    if (!a) {
      ADD_FAILURE() << "getattr: " << a.error().ToString();
      return 0;
    }
    return a->length;
  }

  size_t CountObjects() {
    size_t n = 0;
    object::ListOptions o;
    while (true) {
      auto r = base_->List(o);
      if (!r) {
        ADD_FAILURE() << "list: " << r.error().ToString();
        return 0;
      }
      n += r->objects.size();
      if (!r->truncated) return n;
      o.start_after = r->next_start_after;
    }
  }

  size_t SliceCount(Ino ino, uint32_t chunk) {
    auto s = vfs_->meta().ReadChunk(ino, chunk);
    if (!s) {
      ADD_FAILURE() << "read chunk: " << s.error().ToString();
      return 0;
    }
    return s->size();
  }

  Context root_ = Context::Root();
  std::shared_ptr<kv::Engine> engine_;
  std::shared_ptr<object::MemStore> base_;
  std::shared_ptr<object::FaultStore> store_;
  std::unique_ptr<Vfs> vfs_;
};

TEST_F(VfsTest, CreateWriteReadBack) {
  auto [ino, fh] = NewFile("a");
  std::string data = Pattern(300 << 10, 1);  // several blocks
  WriteAt(ino, fh, 0, data);
  ASSERT_OK(vfs_->Flush(root_, ino, fh, 1));
  EXPECT_EQ(ReadAt(ino, fh, 0, data.size()), data);
  EXPECT_EQ(ReadAt(ino, fh, 1000, 5000), data.substr(1000, 5000));
  ASSERT_OK(vfs_->Release(ino, fh));

  ASSERT_OK_AND_ASSIGN(Entry e, vfs_->Lookup(root_, kRootIno, "a"));
  EXPECT_EQ(e.ino, ino);
  EXPECT_EQ(e.attr.length, data.size());
  ASSERT_OK_AND_ASSIGN(OpenResult o, vfs_->Open(root_, ino, O_RDONLY));
  EXPECT_EQ(ReadAt(ino, o.fh, 0, data.size() + 100), data);  // short at the end
  EXPECT_EQ(ReadAt(ino, o.fh, data.size(), 10), "");
  EXPECT_EQ(ReadAt(ino, o.fh, data.size() + 12345, 10), "");
  ASSERT_OK(vfs_->Release(ino, o.fh));
  EXPECT_GT(CountObjects(), 1u);
}

// Many files written at once, each well under its own limit: the mount's
// total stays near buffer_size because writers store their own bytes once it
// is passed, and nothing is lost.
TEST_F(VfsTest, BufferedBytesOfAllFilesStayNearTheMountsBound) {
  Options o = TestOptions();
  o.write_buffer_per_file = 64 * kMiB;
  o.buffer_size = 1 * kMiB;
  ASSERT_OK(vfs_->Shutdown());
  Mount(o);
  constexpr int kFiles = 8;
  constexpr size_t kWrite = 256 << 10;
  std::vector<std::pair<Ino, uint64_t>> files;
  for (int i = 0; i < kFiles; ++i) files.push_back(NewFile("f" + std::to_string(i)));
  uint64_t most = 0;
  for (int round = 0; round < 4; ++round) {
    for (int i = 0; i < kFiles; ++i) {
      WriteAt(files[i].first, files[i].second, round * kWrite, Pattern(kWrite, 10 * i + round));
      most = std::max(most, vfs_->BufferedBytes());
    }
  }
  EXPECT_LE(most, o.buffer_size + kWrite);
  EXPECT_GT(CountObjects(), 0u) << "nothing was stored before any close";
  for (int i = 0; i < kFiles; ++i) {
    for (int round = 0; round < 4; ++round) {
      EXPECT_EQ(ReadAt(files[i].first, files[i].second, round * kWrite, kWrite),
                Pattern(kWrite, 10 * i + round));
    }
    ASSERT_OK(vfs_->Release(files[i].first, files[i].second));
  }
  EXPECT_EQ(vfs_->BufferedBytes(), 0u);
}

// The kernel keeps a file's cached pages at an open only when nothing has
// changed the file since this mount last opened it.
TEST_F(VfsTest, KeepCacheOnlyForFilesUnchangedSinceTheLastOpen) {
  auto [ino, fh] = NewFile("f");
  WriteAt(ino, fh, 0, "hello");
  ASSERT_OK(vfs_->Release(ino, fh));
  auto open = [&]() {
    auto r = vfs_->Open(root_, ino, O_RDONLY);
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    if (!r) return false;
    EXPECT_OK(vfs_->Release(ino, r->fh));
    return r->keep_cache;
  };
  EXPECT_FALSE(open()) << "first open here";
  EXPECT_TRUE(open()) << "unchanged since";
  EXPECT_TRUE(open());

  // Changed through this mount.
  auto w = vfs_->Open(root_, ino, O_WRONLY);
  ASSERT_TRUE(w.has_value());
  WriteAt(ino, w->fh, 0, "HELLO");
  ASSERT_OK(vfs_->Release(ino, w->fh));
  EXPECT_FALSE(open());
  EXPECT_TRUE(open());

  // Changed by another client of the volume.
  auto m = meta::Meta::Open(engine_);
  ASSERT_TRUE(m.has_value());
  ASSERT_OK((*m)->StartSession({}));
  auto other = Vfs::Create(std::move(*m), store_, TestOptions());
  ASSERT_TRUE(other.has_value());
  auto ow = (*other)->Open(root_, ino, O_WRONLY);
  ASSERT_TRUE(ow.has_value());
  ASSERT_TRUE((*other)->Write(root_, ino, ow->fh, 0, "hullo").has_value());
  ASSERT_OK((*other)->Release(ino, ow->fh));
  ASSERT_OK((*other)->Shutdown());
  EXPECT_FALSE(open()) << "another client wrote it";
  EXPECT_TRUE(open());
}

TEST_F(VfsTest, OverlappingWritesResolveNewestFirst) {
  auto [ino, fh] = NewFile("f");
  std::string model(200 << 10, '\0');
  auto write = [&](uint64_t off, const std::string& d) {
    WriteAt(ino, fh, off, d);
    model.replace(off, d.size(), d);
  };
  write(0, std::string(200 << 10, 'a'));
  write(1000, std::string(70000, 'b'));  // overlaps inside the buffer
  ASSERT_OK(vfs_->Flush(root_, ino, fh, 1));
  write(60000, std::string(10000, 'c'));  // overlaps committed data, across a block edge
  EXPECT_EQ(ReadAt(ino, fh, 0, model.size()), model);
  ASSERT_OK(vfs_->Fsync(root_, ino, fh, false));
  write(65000, std::string(100, 'd'));
  ASSERT_OK(vfs_->Flush(root_, ino, fh, 1));
  EXPECT_EQ(ReadAt(ino, fh, 0, model.size()), model);
  EXPECT_EQ(Length(ino), model.size());
  ASSERT_OK(vfs_->Release(ino, fh));
}

TEST_F(VfsTest, ReadYourWritesAcrossHandlesBeforeFlush) {
  auto [ino, fh] = NewFile("f");
  ASSERT_OK_AND_ASSIGN(OpenResult other, vfs_->Open(root_, ino, O_RDONLY));
  ASSERT_OK_AND_ASSIGN(Attr before, vfs_->GetAttr(root_, ino));
  WriteAt(ino, fh, 5, "hello");
  EXPECT_EQ(ReadAt(ino, other.fh, 0, 100), std::string(5, '\0') + "hello");
  ASSERT_OK_AND_ASSIGN(Attr during, vfs_->GetAttr(root_, ino));
  EXPECT_EQ(during.length, 10u);
  EXPECT_GE(std::pair(during.mtime.sec, during.mtime.nsec),
            std::pair(before.mtime.sec, before.mtime.nsec));
  // Nothing reached the store or meta yet.
  ASSERT_OK_AND_ASSIGN(Attr stored, vfs_->meta().GetAttr(ino));
  EXPECT_EQ(stored.length, 0u);
  EXPECT_EQ(CountObjects(), 0u);
  ASSERT_OK(vfs_->Release(ino, fh));  // commits
  ASSERT_OK_AND_ASSIGN(stored, vfs_->meta().GetAttr(ino));
  EXPECT_EQ(stored.length, 10u);
  EXPECT_EQ(ReadAt(ino, other.fh, 0, 100), std::string(5, '\0') + "hello");
  ASSERT_OK(vfs_->Release(ino, other.fh));
}

TEST_F(VfsTest, SparseFileReadsZeros) {
  auto [ino, fh] = NewFile("sparse");
  WriteAt(ino, fh, 1 * kMiB, "tail");
  EXPECT_EQ(ReadAt(ino, fh, 0, 100), std::string(100, '\0'));
  ASSERT_OK(vfs_->Flush(root_, ino, fh, 1));
  std::string all = ReadAt(ino, fh, 0, 2 * kMiB);
  ASSERT_EQ(all.size(), 1 * kMiB + 4);
  EXPECT_EQ(all.substr(0, kMiB), std::string(kMiB, '\0'));
  EXPECT_EQ(all.substr(kMiB), "tail");
  // Only the written block has an object.
  EXPECT_EQ(CountObjects(), 1u);
  ASSERT_OK(vfs_->Release(ino, fh));
}

TEST_F(VfsTest, AppendFromTwoHandles) {
  auto [ino, fh0] = NewFile("log");
  ASSERT_OK(vfs_->Release(ino, fh0));
  ASSERT_OK_AND_ASSIGN(OpenResult a, vfs_->Open(root_, ino, O_WRONLY | O_APPEND));
  ASSERT_OK_AND_ASSIGN(OpenResult b, vfs_->Open(root_, ino, O_WRONLY | O_APPEND));
  WriteAt(ino, a.fh, 0, "aaa");
  WriteAt(ino, b.fh, 0, "bbb");  // the offset is ignored
  ASSERT_OK(vfs_->Flush(root_, ino, a.fh, 1));
  WriteAt(ino, a.fh, 1, "ccc");
  WriteAt(ino, b.fh, 100, "dd");
  ASSERT_OK_AND_ASSIGN(OpenResult r, vfs_->Open(root_, ino, O_RDONLY));
  EXPECT_EQ(ReadAt(ino, r.fh, 0, 100), "aaabbbcccdd");
  ASSERT_OK(vfs_->Release(ino, a.fh));
  ASSERT_OK(vfs_->Release(ino, b.fh));
  EXPECT_EQ(ReadAt(ino, r.fh, 0, 100), "aaabbbcccdd");
  ASSERT_OK(vfs_->Release(ino, r.fh));
  EXPECT_EQ(Length(ino), 11u);
}

TEST_F(VfsTest, OpenWithTruncEmptiesTheFileAndItsBuffer) {
  auto [ino, fh] = NewFile("t");
  WriteAt(ino, fh, 0, std::string(100000, 'x'));
  ASSERT_OK(vfs_->Flush(root_, ino, fh, 1));
  WriteAt(ino, fh, 200000, "buffered");
  ASSERT_OK_AND_ASSIGN(OpenResult t, vfs_->Open(root_, ino, O_RDWR | O_TRUNC));
  EXPECT_EQ(t.attr.length, 0u);
  EXPECT_EQ(ReadAt(ino, fh, 0, 10), "");
  EXPECT_EQ(Length(ino), 0u);
  WriteAt(ino, t.fh, 0, "new");
  ASSERT_OK(vfs_->Release(ino, fh));
  ASSERT_OK(vfs_->Release(ino, t.fh));
  ASSERT_OK_AND_ASSIGN(OpenResult r, vfs_->Open(root_, ino, O_RDONLY));
  EXPECT_EQ(ReadAt(ino, r.fh, 0, 1000), "new");
  ASSERT_OK(vfs_->Release(ino, r.fh));

  // Create without O_EXCL opens the existing file, truncating on O_TRUNC.
  ASSERT_OK_AND_ASSIGN(CreateResult c,
                       vfs_->Create(root_, kRootIno, "t", 0644, O_CREAT | O_RDWR | O_TRUNC));
  EXPECT_EQ(c.entry.ino, ino);
  EXPECT_EQ(c.entry.attr.length, 0u);
  ASSERT_OK(vfs_->Release(ino, c.fh));
  EXPECT_EQ(CodeOf(vfs_->Create(root_, kRootIno, "t", 0644, O_CREAT | O_EXCL | O_RDWR)),
            Code::kExists);
}

TEST_F(VfsTest, TruncateShrinkThenGrowReadsZeros) {
  auto [ino, fh] = NewFile("t");
  // Committed data.
  WriteAt(ino, fh, 0, std::string(100, 'a'));
  ASSERT_OK(vfs_->Flush(root_, ino, fh, 1));
  meta::SetAttrRequest none;
  ASSERT_OK_AND_ASSIGN(Attr a, vfs_->SetAttr(root_, ino, none, 10, fh));
  EXPECT_EQ(a.length, 10u);
  ASSERT_OK_AND_ASSIGN(a, vfs_->SetAttr(root_, ino, none, 50, std::nullopt));
  EXPECT_EQ(a.length, 50u);
  EXPECT_EQ(ReadAt(ino, fh, 0, 100), std::string(10, 'a') + std::string(40, '\0'));

  // Buffered data, never committed before the truncate.
  WriteAt(ino, fh, 0, std::string(100, 'b'));
  ASSERT_OK_AND_ASSIGN(a, vfs_->SetAttr(root_, ino, none, 20, std::nullopt));
  EXPECT_EQ(a.length, 20u);
  ASSERT_OK_AND_ASSIGN(a, vfs_->SetAttr(root_, ino, none, 60, std::nullopt));
  std::string want = std::string(20, 'b') + std::string(40, '\0');
  EXPECT_EQ(ReadAt(ino, fh, 0, 100), want);
  ASSERT_OK(vfs_->Release(ino, fh));
  ASSERT_OK_AND_ASSIGN(OpenResult r, vfs_->Open(root_, ino, O_RDONLY));
  EXPECT_EQ(ReadAt(ino, r.fh, 0, 100), want);
  ASSERT_OK(vfs_->Release(ino, r.fh));
}

TEST_F(VfsTest, FallocatePunchHoleAndZeroRange) {
  auto [ino, fh] = NewFile("f");
  std::string model = Pattern(200 << 10, 7);
  WriteAt(ino, fh, 0, model);
  ASSERT_OK(vfs_->Flush(root_, ino, fh, 1));
  ASSERT_OK(vfs_->Fallocate(root_, ino, fh, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 64 << 10,
                            64 << 10));
  model.replace(64 << 10, 64 << 10, std::string(64 << 10, '\0'));
  EXPECT_EQ(ReadAt(ino, fh, 0, model.size()), model);
  EXPECT_EQ(Length(ino), model.size());

  // Over buffered bytes too.
  WriteAt(ino, fh, 1000, std::string(5000, 'q'));
  model.replace(1000, 5000, std::string(5000, 'q'));
  ASSERT_OK(vfs_->Fallocate(root_, ino, fh, FALLOC_FL_ZERO_RANGE, 2000, 1000));
  model.replace(2000, 1000, std::string(1000, '\0'));
  EXPECT_EQ(ReadAt(ino, fh, 0, model.size()), model);

  // Punching past the end with KEEP_SIZE keeps the size.
  ASSERT_OK(vfs_->Fallocate(root_, ino, fh, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                            model.size() - 10, 1000));
  model.replace(model.size() - 10, 10, std::string(10, '\0'));
  EXPECT_EQ(Length(ino), model.size());
  // Mode 0 extends; the new range reads zeros.
  ASSERT_OK(vfs_->Fallocate(root_, ino, fh, 0, model.size(), 4096));
  model += std::string(4096, '\0');
  EXPECT_EQ(Length(ino), model.size());
  EXPECT_EQ(ReadAt(ino, fh, 0, model.size() + 10), model);

  EXPECT_EQ(CodeOf(vfs_->Fallocate(root_, ino, fh, FALLOC_FL_PUNCH_HOLE, 0, 10)),
            Code::kUnsupported);
  EXPECT_EQ(CodeOf(vfs_->Fallocate(root_, ino, fh, FALLOC_FL_COLLAPSE_RANGE, 0, 4096)),
            Code::kUnsupported);
  EXPECT_EQ(CodeOf(vfs_->Fallocate(root_, ino, fh, 0, 0, 0)), Code::kInvalid);
  ASSERT_OK_AND_ASSIGN(OpenResult ro, vfs_->Open(root_, ino, O_RDONLY));
  EXPECT_EQ(CodeOf(vfs_->Fallocate(root_, ino, ro.fh, 0, 0, 10)), Code::kBadHandle);
  ASSERT_OK(vfs_->Release(ino, ro.fh));
  ASSERT_OK(vfs_->Release(ino, fh));
}

// The tail of a file that only the buffer holds is punched: the bytes go,
// the length they gave the file stays.
TEST_F(VfsTest, PunchingTheBufferedTailKeepsTheLength) {
  auto [ino, fh] = NewFile("tail");
  WriteAt(ino, fh, 0, std::string(3824, 'z'));
  ASSERT_OK(
      vfs_->Fallocate(root_, ino, fh, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 2250, 37108));
  EXPECT_EQ(Length(ino), 3824u);
  std::string want = std::string(2250, 'z') + std::string(3824 - 2250, '\0');
  EXPECT_EQ(ReadAt(ino, fh, 0, 10000), want);
  ASSERT_OK(vfs_->Release(ino, fh));
  ASSERT_OK_AND_ASSIGN(OpenResult r, vfs_->Open(root_, ino, O_RDONLY));
  EXPECT_EQ(ReadAt(ino, r.fh, 0, 10000), want);
  ASSERT_OK(vfs_->Release(ino, r.fh));
}

TEST_F(VfsTest, UnlinkedFileKeepsDataUntilRelease) {
  auto [ino, fh] = NewFile("doomed");
  std::string data = Pattern(150 << 10, 3);
  WriteAt(ino, fh, 0, data);
  ASSERT_OK(vfs_->Flush(root_, ino, fh, 1));
  ASSERT_OK(vfs_->Unlink(root_, kRootIno, "doomed"));
  EXPECT_EQ(CodeOf(vfs_->Lookup(root_, kRootIno, "doomed")), Code::kNotFound);
  EXPECT_EQ(ReadAt(ino, fh, 0, data.size()), data);
  WriteAt(ino, fh, data.size(), "more");
  ASSERT_OK(vfs_->Fsync(root_, ino, fh, false));
  EXPECT_EQ(ReadAt(ino, fh, data.size(), 10), "more");
  ASSERT_OK_AND_ASSIGN(size_t freed, vfs_->CollectGarbage());
  EXPECT_EQ(freed, 0u);
  EXPECT_GT(CountObjects(), 0u);
  ASSERT_OK(vfs_->Release(ino, fh));
  ASSERT_OK_AND_ASSIGN(freed, vfs_->CollectGarbage());
  EXPECT_GT(freed, 0u);
  EXPECT_EQ(CountObjects(), 0u);
}

TEST_F(VfsTest, GarbageCollectionDeletesOverwrittenAndDeletedData) {
  auto [ino, fh] = NewFile("g");
  WriteAt(ino, fh, 0, std::string(100 << 10, 'a'));  // 2 blocks
  ASSERT_OK(vfs_->Flush(root_, ino, fh, 1));
  EXPECT_EQ(CountObjects(), 2u);
  WriteAt(ino, fh, 0, std::string(100 << 10, 'b'));  // hides the first slice
  ASSERT_OK(vfs_->Flush(root_, ino, fh, 1));
  EXPECT_EQ(CountObjects(), 4u);
  ASSERT_OK_AND_ASSIGN(size_t freed, vfs_->CollectGarbage());
  EXPECT_EQ(freed, 1u);
  EXPECT_EQ(CountObjects(), 2u);
  EXPECT_EQ(ReadAt(ino, fh, 0, 200 << 10), std::string(100 << 10, 'b'));
  ASSERT_OK(vfs_->Release(ino, fh));
  ASSERT_OK(vfs_->Unlink(root_, kRootIno, "g"));
  ASSERT_OK_AND_ASSIGN(freed, vfs_->CollectGarbage());
  EXPECT_EQ(freed, 1u);
  EXPECT_EQ(CountObjects(), 0u);
  ASSERT_OK_AND_ASSIGN(freed, vfs_->CollectGarbage());
  EXPECT_EQ(freed, 0u);
}

TEST_F(VfsTest, CompactionKeepsContentAndMergesSlices) {
  ASSERT_OK(vfs_->Shutdown());
  Options o = TestOptions();
  o.compact_after_slices = 4;
  Mount(o);
  auto [ino, fh] = NewFile("c");
  std::string model;
  for (int i = 0; i < 20; ++i) {
    std::string d = Pattern(3000, i);
    uint64_t off = static_cast<uint64_t>(i) * 1700;  // each overlaps the one before
    WriteAt(ino, fh, off, d);
    if (model.size() < off + d.size()) model.resize(off + d.size(), '\0');
    model.replace(off, d.size(), d);
    ASSERT_OK(vfs_->Flush(root_, ino, fh, 1));  // one slice per flush
    EXPECT_LE(SliceCount(ino, 0), 5u) << "after write " << i;
  }
  EXPECT_EQ(ReadAt(ino, fh, 0, model.size() + 100), model);
  ASSERT_OK(vfs_->Release(ino, fh));
  ASSERT_OK_AND_ASSIGN(size_t freed, vfs_->CollectGarbage());
  EXPECT_GE(freed, 15u);
  // What is left: the objects of the few slices still listed.
  ASSERT_OK_AND_ASSIGN(std::vector<Slice> slices, vfs_->meta().ReadChunk(ino, 0));
  size_t live = 0;
  for (const Slice& s : slices) live += (s.size + kBlockSize - 1) / kBlockSize;
  EXPECT_EQ(CountObjects(), live);
  ASSERT_OK_AND_ASSIGN(OpenResult r, vfs_->Open(root_, ino, O_RDONLY));
  EXPECT_EQ(ReadAt(ino, r.fh, 0, model.size()), model);
  ASSERT_OK(vfs_->Release(ino, r.fh));
}

TEST_F(VfsTest, ReadDirSnapshotSurvivesDeletes) {
  ASSERT_OK_AND_ASSIGN(Entry dir, vfs_->Mkdir(root_, kRootIno, "d", 0755));
  std::set<std::string> names;
  for (int i = 0; i < 30; ++i) {
    std::string name = "f" + std::to_string(i);
    ASSERT_OK(vfs_->Mknod(root_, dir.ino, name, S_IFREG | 0644, 0));
    names.insert(name);
  }
  ASSERT_OK_AND_ASSIGN(uint64_t dh, vfs_->OpenDir(root_, dir.ino));
  ASSERT_OK_AND_ASSIGN(std::vector<DirItem> first, vfs_->ReadDir(root_, dir.ino, dh, 0, false));
  ASSERT_EQ(first.size(), 32u);
  EXPECT_EQ(first[0].name, ".");
  EXPECT_EQ(first[0].ino, dir.ino);
  EXPECT_EQ(first[1].name, "..");
  EXPECT_EQ(first[1].ino, kRootIno);
  // Take 10, delete some seen and some unseen, go on from the 10th.
  for (int i = 0; i < 30; i += 3) {
    ASSERT_OK(vfs_->Unlink(root_, dir.ino, "f" + std::to_string(i)));
  }
  ASSERT_OK_AND_ASSIGN(std::vector<DirItem> rest,
                       vfs_->ReadDir(root_, dir.ino, dh, first[9].next_offset, false));
  std::multiset<std::string> seen;
  for (size_t i = 0; i < 10; ++i) seen.insert(first[i].name);
  for (const DirItem& item : rest) seen.insert(item.name);
  std::multiset<std::string> want(names.begin(), names.end());
  want.insert(".");
  want.insert("..");
  EXPECT_EQ(seen, want);
  ASSERT_OK_AND_ASSIGN(std::vector<DirItem> end,
                       vfs_->ReadDir(root_, dir.ino, dh, rest.back().next_offset, false));
  EXPECT_TRUE(end.empty());
  // Offset 0 reads the directory again.
  ASSERT_OK_AND_ASSIGN(std::vector<DirItem> again, vfs_->ReadDir(root_, dir.ino, dh, 0, true));
  EXPECT_EQ(again.size(), 22u);
  for (const DirItem& item : again) EXPECT_TRUE(item.attr.has_value()) << item.name;
  ASSERT_OK(vfs_->ReleaseDir(dir.ino, dh));
  EXPECT_EQ(CodeOf(vfs_->ReadDir(root_, dir.ino, dh, 0, false)), Code::kBadHandle);
}

TEST_F(VfsTest, ReadDirReturnsLargeDirectoriesInBatches) {
  ASSERT_OK_AND_ASSIGN(Entry dir, vfs_->Mkdir(root_, kRootIno, "big", 0755));
  const size_t n = kMaxDirItems + 100;
  for (size_t i = 0; i < n; ++i) {
    ASSERT_OK(vfs_->Mknod(root_, dir.ino, "e" + std::to_string(i), S_IFREG | 0644, 0));
  }
  ASSERT_OK_AND_ASSIGN(uint64_t dh, vfs_->OpenDir(root_, dir.ino));
  std::set<std::string> seen;
  uint64_t off = 0;
  int calls = 0;
  while (true) {
    ASSERT_OK_AND_ASSIGN(std::vector<DirItem> batch, vfs_->ReadDir(root_, dir.ino, dh, off, false));
    if (batch.empty()) break;
    ++calls;
    EXPECT_LE(batch.size(), kMaxDirItems);
    for (const DirItem& item : batch) EXPECT_TRUE(seen.insert(item.name).second) << item.name;
    off = batch.back().next_offset;
  }
  EXPECT_EQ(seen.size(), n + 2);
  EXPECT_GE(calls, 2);
  ASSERT_OK(vfs_->ReleaseDir(dir.ino, dh));
}

TEST_F(VfsTest, PosixLocksConflictBetweenOwners) {
  auto [ino, fh] = NewFile("l");
  meta::PosixLock wl{meta::LockType::kWrite, 0, 99, 10};
  meta::PosixLock rl{meta::LockType::kRead, 50, 60, 20};
  ASSERT_OK(vfs_->SetLk(root_, ino, fh, 1, wl, LockWait::kNoWait));
  EXPECT_EQ(CodeOf(vfs_->SetLk(root_, ino, fh, 2, rl, LockWait::kNoWait)), Code::kWouldBlock);
  ASSERT_OK_AND_ASSIGN(meta::PosixLock probe, vfs_->GetLk(root_, ino, 2, rl));
  EXPECT_EQ(probe.type, meta::LockType::kWrite);
  // Outside the range there is no conflict.
  ASSERT_OK(
      vfs_->SetLk(root_, ino, fh, 2, {meta::LockType::kRead, 200, 300, 20}, LockWait::kNoWait));

  // A waiter gives up when interrupted.
  Context impatient(0, 0, 20);
  std::atomic<int> polls{0};
  impatient.SetInterruptCheck([&] { return ++polls > 3; });
  EXPECT_EQ(CodeOf(vfs_->SetLk(impatient, ino, fh, 2, rl, LockWait::kWait)), Code::kInterrupted);

  // A waiter gets the lock once the holder closes the file (Flush of owner 1).
  std::atomic<bool> granted{false};
  std::thread waiter([&] {
    Status s = vfs_->SetLk(root_, ino, fh, 2, rl, LockWait::kWait);
    EXPECT_TRUE(s.ok()) << s.ToString();
    granted = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_FALSE(granted.load());
  ASSERT_OK(vfs_->Flush(root_, ino, fh, 1));
  waiter.join();
  EXPECT_TRUE(granted.load());
  EXPECT_EQ(CodeOf(vfs_->SetLk(root_, ino, fh, 1, wl, LockWait::kNoWait)), Code::kWouldBlock);
  ASSERT_OK(vfs_->Release(ino, fh));
}

TEST_F(VfsTest, HandleOwnedLocksEndWithTheirHandle) {
  // An OFD lock's owner is its open file description: the kernel closes it
  // with a Release that names no owner, while another handle stays open.
  auto [ino, fh] = NewFile("ofd");
  ASSERT_OK_AND_ASSIGN(OpenResult other, vfs_->Open(root_, ino, O_RDWR));
  meta::PosixLock wl{meta::LockType::kWrite, 0, UINT64_MAX, 0};
  constexpr uint64_t kOfdOwnerA = 0xa, kOfdOwnerB = 0xb;
  ASSERT_OK(vfs_->SetLk(root_, ino, fh, kOfdOwnerA, wl, LockWait::kNoWait));
  EXPECT_EQ(CodeOf(vfs_->SetLk(root_, ino, other.fh, kOfdOwnerB, wl, LockWait::kNoWait)),
            Code::kWouldBlock);
  ASSERT_OK(vfs_->Release(ino, fh));
  ASSERT_OK(vfs_->SetLk(root_, ino, other.fh, kOfdOwnerB, wl, LockWait::kNoWait));
  ASSERT_OK(vfs_->Release(ino, other.fh));
}

TEST_F(VfsTest, FlockConflictsAndIsDroppedAtLastRelease) {
  auto [ino, fh] = NewFile("fl");
  ASSERT_OK(vfs_->Flock(root_, ino, 7, meta::LockType::kWrite, LockWait::kNoWait));
  EXPECT_EQ(CodeOf(vfs_->Flock(root_, ino, 8, meta::LockType::kRead, LockWait::kNoWait)),
            Code::kWouldBlock);
  ASSERT_OK(vfs_->Flock(root_, ino, 9, meta::LockType::kUnlock, LockWait::kWait));
  ASSERT_OK(vfs_->Release(ino, fh));
  ASSERT_OK(vfs_->Flock(root_, ino, 8, meta::LockType::kRead, LockWait::kNoWait));
}

TEST_F(VfsTest, PermissionsAndHandleModes) {
  ASSERT_OK_AND_ASSIGN(CreateResult c,
                       vfs_->Create(root_, kRootIno, "secret", 0600, O_CREAT | O_WRONLY));
  Ino ino = c.entry.ino;
  Context user(1000, 1000, 42);
  EXPECT_EQ(CodeOf(vfs_->Open(user, ino, O_RDONLY)), Code::kAccess);
  EXPECT_EQ(CodeOf(vfs_->Open(user, ino, O_WRONLY | O_TRUNC)), Code::kAccess);
  std::string out;
  EXPECT_EQ(vfs_->Read(root_, ino, c.fh, 0, 10, &out).code(), Code::kBadHandle);  // write-only
  EXPECT_EQ(vfs_->Read(root_, ino, 999999, 0, 10, &out).code(), Code::kBadHandle);
  ASSERT_OK_AND_ASSIGN(OpenResult ro, vfs_->Open(root_, ino, O_RDONLY));
  EXPECT_EQ(CodeOf(vfs_->Write(root_, ino, ro.fh, 0, "x")), Code::kBadHandle);
  EXPECT_EQ(CodeOf(vfs_->Write(root_, ino + 1, c.fh, 0, "x")), Code::kBadHandle);
  // A new file opens for writing even when its mode would not allow it.
  ASSERT_OK_AND_ASSIGN(Entry pub, vfs_->Mkdir(root_, kRootIno, "pub", 0777));
  ASSERT_OK_AND_ASSIGN(CreateResult mine,
                       vfs_->Create(user, pub.ino, "ro", 0444, O_CREAT | O_RDWR));
  WriteAt(mine.entry.ino, mine.fh, 0, "ok", user);
  EXPECT_EQ(mine.entry.attr.uid, 1000u);
  ASSERT_OK(vfs_->Release(mine.entry.ino, mine.fh));
  EXPECT_EQ(CodeOf(vfs_->Open(user, mine.entry.ino, O_WRONLY)), Code::kAccess);
  ASSERT_OK(vfs_->Release(ino, ro.fh));
  ASSERT_OK(vfs_->Release(ino, c.fh));
  EXPECT_EQ(vfs_->Release(ino, c.fh).code(), Code::kBadHandle);
}

TEST_F(VfsTest, WriteByOtherUserClearsSetId) {
  ASSERT_OK_AND_ASSIGN(Entry e, vfs_->Mknod(root_, kRootIno, "suid", S_IFREG | 06777, 0));
  Context user(1000, 1000, 42);
  ASSERT_OK_AND_ASSIGN(OpenResult o, vfs_->Open(user, e.ino, O_WRONLY));
  WriteAt(e.ino, o.fh, 0, "x", user);
  ASSERT_OK_AND_ASSIGN(Attr a, vfs_->GetAttr(root_, e.ino));
  EXPECT_EQ(a.mode & 07777, 0777u);
  ASSERT_OK(vfs_->Release(e.ino, o.fh));

  // Root's writes keep them.
  ASSERT_OK_AND_ASSIGN(Entry r, vfs_->Mknod(root_, kRootIno, "rootsuid", S_IFREG | 04755, 0));
  ASSERT_OK_AND_ASSIGN(OpenResult ro, vfs_->Open(root_, r.ino, O_WRONLY));
  WriteAt(r.ino, ro.fh, 0, "x");
  ASSERT_OK(vfs_->Release(r.ino, ro.fh));
  ASSERT_OK_AND_ASSIGN(a, vfs_->GetAttr(root_, r.ino));
  EXPECT_EQ(a.mode & 07777, 04755u);
}

TEST_F(VfsTest, BigSparseFileAcrossChunkBoundaries) {
  ASSERT_OK(vfs_->Shutdown());
  Options o = TestOptions();
  o.write_buffer_per_file = 1 * kMiB;  // commits in the middle of the writes
  Mount(o);
  auto [ino, fh] = NewFile("big");
  std::string a = Pattern(3 * kMiB, 11);
  std::string b = Pattern(2 * kMiB + 123, 12);
  uint64_t a_off = kChunkSize - 3 * kMiB / 2;
  uint64_t b_off = 2 * kChunkSize - kMiB;
  for (uint64_t i = 0; i < a.size(); i += 128 << 10) {
    WriteAt(ino, fh, a_off + i, std::string_view(a).substr(i, 128 << 10));
  }
  WriteAt(ino, fh, b_off, b);
  EXPECT_EQ(Length(ino), b_off + b.size());
  // Across the boundary, partly buffered.
  EXPECT_EQ(ReadAt(ino, fh, a_off, a.size()), a);
  ASSERT_OK(vfs_->Flush(root_, ino, fh, 1));
  EXPECT_EQ(ReadAt(ino, fh, a_off, a.size()), a);
  EXPECT_EQ(ReadAt(ino, fh, b_off - 10, b.size() + 100), std::string(10, '\0') + b);
  EXPECT_EQ(ReadAt(ino, fh, 100 * kMiB, 4096), std::string(4096, '\0'));
  ASSERT_OK_AND_ASSIGN(auto chunks, vfs_->meta().ListChunks(ino));
  EXPECT_EQ(chunks.size(), 3u);
  EXPECT_TRUE(chunks.contains(0) && chunks.contains(1) && chunks.contains(2));
  // Shrink into the first chunk: the later chunks' data goes.
  ASSERT_OK(vfs_->SetAttr(root_, ino, {}, kChunkSize - kMiB, fh));
  EXPECT_EQ(ReadAt(ino, fh, a_off, a.size()), a.substr(0, kMiB / 2));
  ASSERT_OK(vfs_->Release(ino, fh));
}

TEST_F(VfsTest, ShutdownCommitsBufferedData) {
  auto [ino, fh] = NewFile("s");
  std::string data = Pattern(70000, 5);
  WriteAt(ino, fh, 0, data);
  ASSERT_OK(vfs_->Shutdown());
  ASSERT_OK(vfs_->Shutdown());  // again: fine
  vfs_.reset();
  Mount(TestOptions());
  ASSERT_OK_AND_ASSIGN(Entry e, vfs_->Lookup(root_, kRootIno, "s"));
  EXPECT_EQ(e.ino, ino);
  EXPECT_EQ(e.attr.length, data.size());
  ASSERT_OK_AND_ASSIGN(OpenResult o, vfs_->Open(root_, ino, O_RDONLY));
  EXPECT_EQ(ReadAt(ino, o.fh, 0, data.size()), data);
  ASSERT_OK(vfs_->Release(ino, o.fh));
}

TEST_F(VfsTest, FailedUploadKeepsDataForRetry) {
  auto [ino, fh] = NewFile("retry");
  std::string data = Pattern(200 << 10, 9);
  WriteAt(ino, fh, 0, data);
  store_->FailNext(object::FaultStore::Op::kPut, 1);
  Status s = vfs_->Flush(root_, ino, fh, 1);
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.ToString();
  EXPECT_EQ(ReadAt(ino, fh, 0, data.size()), data);  // still buffered
  ASSERT_OK(vfs_->Flush(root_, ino, fh, 1));
  ASSERT_OK(vfs_->Release(ino, fh));
  ASSERT_OK_AND_ASSIGN(size_t freed, vfs_->CollectGarbage());
  (void)freed;
  // No object of the failed attempt is left behind.
  EXPECT_EQ(CountObjects(), (data.size() + kBlockSize - 1) / kBlockSize);
  ASSERT_OK_AND_ASSIGN(OpenResult o, vfs_->Open(root_, ino, O_RDONLY));
  EXPECT_EQ(ReadAt(ino, o.fh, 0, data.size()), data);
  ASSERT_OK(vfs_->Release(ino, o.fh));
}

TEST_F(VfsTest, FailedCommitAtCloseIsRetriedInTheBackground) {
  auto [ino, fh] = NewFile("orphan");
  WriteAt(ino, fh, 0, "late");
  store_->FailNext(object::FaultStore::Op::kPut, 2);
  EXPECT_FALSE(vfs_->Flush(root_, ino, fh, 1).ok());
  EXPECT_FALSE(vfs_->Release(ino, fh).ok());
  EXPECT_EQ(Length(ino), 4u);   // still visible here
  ASSERT_OK(vfs_->Shutdown());  // the last chance commits it
  vfs_.reset();
  Mount(TestOptions());
  ASSERT_OK_AND_ASSIGN(OpenResult o, vfs_->Open(root_, ino, O_RDONLY));
  EXPECT_EQ(ReadAt(ino, o.fh, 0, 10), "late");
  ASSERT_OK(vfs_->Release(ino, o.fh));
}

TEST_F(VfsTest, WritesPastTheLargestFileFail) {
  auto [ino, fh] = NewFile("huge");
  const uint64_t max = kChunkSize << 32;
  EXPECT_EQ(CodeOf(vfs_->Write(root_, ino, fh, max - 1, "ab")), Code::kFileTooBig);
  EXPECT_EQ(CodeOf(vfs_->SetAttr(root_, ino, {}, max + 1, fh)), Code::kFileTooBig);
  ASSERT_OK(vfs_->Release(ino, fh));
}

TEST_F(VfsTest, SetTimesAfterWritesSticks) {
  auto [ino, fh] = NewFile("times");
  WriteAt(ino, fh, 0, "data");
  meta::SetAttrRequest req;
  req.mask = meta::kSetMtime | meta::kSetAtime;
  req.mtime = {1000000, 5};
  req.atime = {1000000, 6};
  ASSERT_OK_AND_ASSIGN(Attr a, vfs_->SetAttr(root_, ino, req, std::nullopt, fh));
  EXPECT_EQ(a.mtime, req.mtime);
  ASSERT_OK(vfs_->Release(ino, fh));  // must not bring the write's time back
  ASSERT_OK_AND_ASSIGN(a, vfs_->GetAttr(root_, ino));
  EXPECT_EQ(a.mtime, req.mtime);
  EXPECT_EQ(a.length, 4u);
}

TEST_F(VfsTest, NamespaceOperationsForward) {
  ASSERT_OK_AND_ASSIGN(Entry d, vfs_->Mkdir(root_, kRootIno, "dir", 0750));
  EXPECT_EQ(d.attr.type, meta::FileType::kDir);
  ASSERT_OK_AND_ASSIGN(Entry dot, vfs_->Lookup(root_, d.ino, "."));
  EXPECT_EQ(dot.ino, d.ino);
  ASSERT_OK_AND_ASSIGN(Entry up, vfs_->Lookup(root_, d.ino, ".."));
  EXPECT_EQ(up.ino, kRootIno);
  ASSERT_OK_AND_ASSIGN(Entry l, vfs_->Symlink(root_, d.ino, "link", "../target"));
  ASSERT_OK_AND_ASSIGN(std::string target, vfs_->Readlink(root_, l.ino));
  EXPECT_EQ(target, "../target");
  auto [ino, fh] = NewFile("file");
  WriteAt(ino, fh, 0, "abc");
  ASSERT_OK_AND_ASSIGN(Entry hard, vfs_->Link(root_, ino, d.ino, "hard"));
  EXPECT_EQ(hard.attr.length, 3u);  // buffered bytes show
  ASSERT_OK(vfs_->Rename(root_, d.ino, "hard", kRootIno, "moved", meta::RenameFlags::kNone));
  ASSERT_OK(vfs_->SetXattr(root_, ino, "user.k", "v", meta::XattrFlags::kAny));
  ASSERT_OK_AND_ASSIGN(std::string v, vfs_->GetXattr(root_, ino, "user.k"));
  EXPECT_EQ(v, "v");
  ASSERT_OK(vfs_->Release(ino, fh));
  EXPECT_EQ(CodeOf(vfs_->Rmdir(root_, kRootIno, "dir")), Code::kNotEmpty);
  EXPECT_EQ(CodeOf(vfs_->OpenDir(root_, ino)), Code::kNotDir);
  ASSERT_OK(vfs_->Access(root_, ino, R_OK | W_OK));
  ASSERT_OK_AND_ASSIGN(meta::StatFs fs, vfs_->StatFs(root_));
  EXPECT_GT(fs.total_bytes, 0u);
}

// Random writes, truncates and flushes through two handles, checked against
// a string after every step.
TEST_F(VfsTest, RandomOperationsMatchAModel) {
  ASSERT_OK(vfs_->Shutdown());
  Options o = TestOptions();
  o.write_buffer_per_file = 256 << 10;
  o.compact_after_slices = 6;
  Mount(o);
  auto [ino, fh] = NewFile("model");
  ASSERT_OK_AND_ASSIGN(OpenResult other, vfs_->Open(root_, ino, O_RDWR));
  std::mt19937 rng(12345);
  std::string model;
  const uint64_t kSpan = 600 << 10;
  for (int step = 0; step < 300; ++step) {
    uint64_t use = rng() % 2 ? fh : other.fh;
    switch (rng() % 10) {
      case 0: {
        uint64_t size = rng() % kSpan;
        ASSERT_OK(vfs_->SetAttr(root_, ino, {}, size, use));
        model.resize(size, '\0');
        break;
      }
      case 1:
        ASSERT_OK(vfs_->Flush(root_, ino, use, 1));
        break;
      case 2: {
        uint64_t off = rng() % kSpan;
        uint64_t len = 1 + rng() % (100 << 10);
        ASSERT_OK(
            vfs_->Fallocate(root_, ino, use, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len));
        if (off < model.size()) {
          uint64_t n = std::min<uint64_t>(len, model.size() - off);
          model.replace(off, n, std::string(n, '\0'));
        }
        break;
      }
      default: {
        uint64_t off = rng() % kSpan;
        std::string d = Pattern(1 + rng() % (80 << 10), step);
        WriteAt(ino, use, off, d);
        if (model.size() < off + d.size()) model.resize(off + d.size(), '\0');
        model.replace(off, d.size(), d);
      }
    }
    ASSERT_EQ(Length(ino), model.size()) << "step " << step;
    uint64_t off = model.empty() ? 0 : rng() % model.size();
    uint64_t len = rng() % (200 << 10);
    ASSERT_EQ(ReadAt(ino, rng() % 2 ? fh : other.fh, off, len),
              model.substr(std::min<uint64_t>(off, model.size()), len))
        << "step " << step;
  }
  ASSERT_OK(vfs_->Release(ino, fh));
  ASSERT_OK(vfs_->Release(ino, other.fh));
  // Compaction stored the visible data, not the holes that truncates leave
  // up to the end of the chunk.
  ASSERT_OK_AND_ASSIGN(std::vector<Slice> slices, vfs_->meta().ReadChunk(ino, 0));
  for (const Slice& s : slices) EXPECT_LE(s.size, kSpan + (100 << 10));
  ASSERT_OK(vfs_->CollectGarbage());
  ASSERT_OK(vfs_->Shutdown());
  vfs_.reset();
  Mount(TestOptions());
  ASSERT_OK_AND_ASSIGN(OpenResult r, vfs_->Open(root_, ino, O_RDONLY));
  EXPECT_EQ(ReadAt(ino, r.fh, 0, model.size() + 1), model);
  ASSERT_OK(vfs_->Release(ino, r.fh));
}

// Writers on disjoint ranges through their own handles, with frequent
// commits and compactions, while readers check that every byte they see is
// either still a hole or its final value.
TEST_F(VfsTest, ConcurrentWritersAndReaders) {
  ASSERT_OK(vfs_->Shutdown());
  Options o = TestOptions();
  o.write_buffer_per_file = 64 << 10;
  o.compact_after_slices = 8;
  Mount(o);
  auto [ino, fh] = NewFile("shared");
  constexpr int kWriters = 3;
  constexpr size_t kRegion = 256 << 10;
  constexpr size_t kPiece = 4 << 10;
  const std::string want = Pattern(kWriters * kRegion, 77);
  std::atomic<int> writers_left{kWriters};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      auto write_region = [&] {
        auto h = vfs_->Open(root_, ino, O_WRONLY);
        ASSERT_TRUE(h.has_value()) << h.error().ToString();
        for (size_t off = w * kRegion; off < (w + 1) * kRegion; off += kPiece) {
          auto n = vfs_->Write(root_, ino, h->fh, off, std::string_view(want).substr(off, kPiece));
          ASSERT_TRUE(n.has_value()) << n.error().ToString();
          if (off % (64 << 10) == 0) EXPECT_OK(vfs_->Flush(root_, ino, h->fh, w));
        }
        EXPECT_OK(vfs_->Release(ino, h->fh));
      };
      write_region();
      --writers_left;  // also after a failure, so that the readers stop
    });
  }
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      std::mt19937 rng(r);
      while (writers_left > 0) {
        uint64_t off = rng() % want.size();
        std::string got;
        Status s = vfs_->Read(root_, ino, fh, off, 32 << 10, &got);
        ASSERT_TRUE(s.ok()) << s.ToString();
        for (size_t i = 0; i < got.size(); ++i) {
          if (got[i] != '\0' && got[i] != want[off + i]) {
            ADD_FAILURE() << "byte " << off + i << " is neither a hole nor written data";
            return;
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ReadAt(ino, fh, 0, want.size() + 1), want);
  ASSERT_OK(vfs_->Release(ino, fh));
  ASSERT_OK_AND_ASSIGN(OpenResult r, vfs_->Open(root_, ino, O_RDONLY));
  EXPECT_EQ(ReadAt(ino, r.fh, 0, want.size() + 1), want);
  ASSERT_OK(vfs_->Release(ino, r.fh));
}

TEST_F(VfsTest, BackgroundThreadCollectsGarbage) {
  ASSERT_OK(vfs_->Shutdown());
  Options o = TestOptions();
  o.background = true;
  o.gc_interval_sec = 0.01;
  o.heartbeat_sec = 0.01;
  Mount(o);
  auto [ino, fh] = NewFile("bg");
  WriteAt(ino, fh, 0, "x");
  ASSERT_OK(vfs_->Release(ino, fh));
  ASSERT_OK(vfs_->Unlink(root_, kRootIno, "bg"));
  for (int i = 0; i < 500 && CountObjects() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(CountObjects(), 0u);
  auto start = std::chrono::steady_clock::now();
  ASSERT_OK(vfs_->Shutdown());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
}

// On a shared engine (mem is one) with the background loop running, last
// closes are stored in batches shortly after: a file reopened before the
// batch is stored reads its data, and files unlinked after their close are
// freed once the batch lands.
TEST_F(VfsTest, BatchedClosesStillFreeUnlinkedFiles) {
  ASSERT_OK(vfs_->Shutdown());
  Options o = TestOptions();
  o.background = true;
  o.gc_interval_sec = 0.01;
  Mount(o);
  std::vector<Ino> inos;
  for (int i = 0; i < 5; ++i) {
    auto [ino, fh] = NewFile("b" + std::to_string(i));
    WriteAt(ino, fh, 0, "data" + std::to_string(i));
    ASSERT_OK(vfs_->Release(ino, fh));
    inos.push_back(ino);
  }
  // Reopened at once, before the batch of closes is stored.
  ASSERT_OK_AND_ASSIGN(OpenResult r, vfs_->Open(root_, inos[0], O_RDONLY));
  EXPECT_EQ(ReadAt(inos[0], r.fh, 0, 100), "data0");
  for (int i = 0; i < 5; ++i) ASSERT_OK(vfs_->Unlink(root_, kRootIno, "b" + std::to_string(i)));
  auto gone = [&](Ino ino) { return CodeOf(vfs_->meta().GetAttr(ino)) == Code::kNotFound; };
  for (int i = 1; i < 5; ++i) {
    for (int t = 0; t < 1000 && !gone(inos[i]); ++t) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_TRUE(gone(inos[i])) << "file " << i << " was not freed after its batched close";
  }
  EXPECT_FALSE(gone(inos[0])) << "the reopened file must stay while it is open";
  EXPECT_EQ(ReadAt(inos[0], r.fh, 0, 100), "data0");
  ASSERT_OK(vfs_->Release(inos[0], r.fh));
  for (int t = 0; t < 1000 && !gone(inos[0]); ++t) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(gone(inos[0]));
}

}  // namespace
}  // namespace shoal::vfs
