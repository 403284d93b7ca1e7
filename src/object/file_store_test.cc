// What only FileStore promises, beyond the conformance suite.
#include "object/file_store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "object/test_util.h"

namespace shoal::object {
namespace {

namespace fs = std::filesystem;

class FileObjectStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.path() + "/data";
    Result<std::unique_ptr<FileStore>> store = FileStore::Open(root_);
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    store_ = std::move(*store);
  }

  std::vector<std::string> ListAll(const ListOptions& options = {}) {
    std::vector<std::string> keys;
    Result<ListResult> r = store_->List(options);
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    if (!r.has_value()) return keys;
    for (const ObjectInfo& o : r->objects) keys.push_back(o.key);
    return keys;
  }

  testing::TempDir dir_;
  std::string root_;
  std::unique_ptr<FileStore> store_;
};

TEST_F(FileObjectStoreTest, ObjectIsAFileUnderTheRoot) {
  ASSERT_TRUE(store_->Put("vol/chunks/ab/0/7_0_3", "abc").ok());
  std::ifstream in(root_ + "/vol/chunks/ab/0/7_0_3", std::ios::binary);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "abc");
  EXPECT_EQ(store_->Describe(), "file://" + root_);
}

TEST_F(FileObjectStoreTest, OpenCreatesDirectoriesAndTrimsSlashes) {
  std::string nested = dir_.path() + "/x/y/z//";
  Result<std::unique_ptr<FileStore>> store = FileStore::Open(nested);
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  EXPECT_EQ((*store)->root(), dir_.path() + "/x/y/z");
  EXPECT_TRUE(fs::is_directory(dir_.path() + "/x/y/z"));
}

TEST_F(FileObjectStoreTest, OpenRejectsBadRoots) {
  Result<std::unique_ptr<FileStore>> relative = FileStore::Open("relative/dir");
  ASSERT_FALSE(relative.has_value());
  EXPECT_EQ(relative.error().code(), Code::kInvalid);
  EXPECT_NE(relative.error().message().find("not an absolute path"), std::string::npos);

  EXPECT_EQ(FileStore::Open("/").error().code(), Code::kInvalid);
  EXPECT_EQ(FileStore::Open("").error().code(), Code::kInvalid);

  ASSERT_TRUE(store_->Put("file", "x").ok());
  Result<std::unique_ptr<FileStore>> on_file = FileStore::Open(root_ + "/file");
  ASSERT_FALSE(on_file.has_value());
  EXPECT_NE(on_file.error().message().find(root_ + "/file"), std::string::npos)
      << on_file.error().message();
}

TEST_F(FileObjectStoreTest, DataSurvivesReopening) {
  ASSERT_TRUE(store_->Put("a/b", "kept").ok());
  store_.reset();
  Result<std::unique_ptr<FileStore>> again = FileStore::Open(root_);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ((*again)->Get("a/b").value_or(""), "kept");
}

TEST_F(FileObjectStoreTest, BadKeysAreRejected) {
  const std::string bad[] = {"",
                             "/abs",
                             "a//b",
                             "a/",
                             "a/./b",
                             "./a",
                             "../x",
                             "a/..",
                             "..",
                             ".tmp/x",
                             ".tmp",
                             std::string("a\0b", 3),
                             std::string(1025, 'k')};
  for (const std::string& key : bad) {
    Status put = store_->Put(key, "x");
    EXPECT_EQ(put.code(), Code::kInvalid) << "'" << key << "': " << put.ToString();
    EXPECT_NE(put.message().find("file store " + root_ + ": put '"), std::string::npos)
        << put.message();
    EXPECT_EQ(store_->Get(key).error().code(), Code::kInvalid) << key;
    EXPECT_EQ(store_->Head(key).error().code(), Code::kInvalid) << key;
    EXPECT_EQ(store_->Delete(key).code(), Code::kInvalid) << key;
  }
  Status long_name = store_->Put("a/" + std::string(300, 'n'), "x");
  EXPECT_EQ(long_name.code(), Code::kNameTooLong) << long_name.ToString();
  // Nothing escaped the root or was created by the attempts.
  EXPECT_TRUE(ListAll().empty());
  EXPECT_FALSE(fs::exists(dir_.path() + "/x"));
  // Keys that merely look unusual are fine.
  for (const char* key : {".hidden", "a/.tmp", "a/.tmp.1", "...", "a/..b", "sp ace", "\xff"}) {
    EXPECT_TRUE(store_->Put(key, key).ok()) << key;
    EXPECT_EQ(store_->Get(key).value_or(""), key);
  }
}

TEST_F(FileObjectStoreTest, MessagesNameStoreOperationAndKey) {
  Result<std::string> data = store_->Get("vol/chunks/ff/1_0_4");
  ASSERT_FALSE(data.has_value());
  EXPECT_EQ(data.error().message(),
            "file store " + root_ + ": get 'vol/chunks/ff/1_0_4': no such object");
}

TEST_F(FileObjectStoreTest, ObjectCannotAlsoBeADirectory) {
  ASSERT_TRUE(store_->Put("a/b", "object").ok());
  Status below = store_->Put("a/b/c", "x");
  EXPECT_EQ(below.code(), Code::kInvalid) << below.ToString();
  EXPECT_NE(below.message().find("'a/b/c'"), std::string::npos);

  ASSERT_TRUE(store_->Put("x/y/z", "deep").ok());
  Status above = store_->Put("x/y", "x");
  EXPECT_EQ(above.code(), Code::kInvalid) << above.ToString();
  // "x/y" is a directory of keys, not an object.
  EXPECT_EQ(store_->Get("x/y").error().code(), Code::kNotFound);
  EXPECT_EQ(store_->Head("x/y").error().code(), Code::kNotFound);
  EXPECT_TRUE(store_->Delete("x/y").ok());
  EXPECT_EQ(store_->Get("x/y/z").value_or(""), "deep");
  // Failed puts leave no temporary files behind.
  EXPECT_TRUE(fs::is_empty(root_ + "/.tmp"));
}

TEST_F(FileObjectStoreTest, PutReplacesAnEmptyDirectory) {
  fs::create_directories(root_ + "/left/over");
  ASSERT_TRUE(store_->Put("left/over", "now an object").ok());
  EXPECT_EQ(store_->Get("left/over").value_or(""), "now an object");
}

TEST_F(FileObjectStoreTest, DeletePrunesEmptyDirectories) {
  ASSERT_TRUE(store_->Put("p/q/r/s", "1").ok());
  ASSERT_TRUE(store_->Put("p/keep", "2").ok());
  ASSERT_TRUE(store_->Delete("p/q/r/s").ok());
  EXPECT_FALSE(fs::exists(root_ + "/p/q"));
  EXPECT_TRUE(fs::exists(root_ + "/p/keep"));
  ASSERT_TRUE(store_->Delete("p/keep").ok());
  EXPECT_FALSE(fs::exists(root_ + "/p"));
  EXPECT_TRUE(fs::is_directory(root_));
}

TEST_F(FileObjectStoreTest, EmptyDirectoriesAndOddFilesAreNotListed) {
  fs::create_directories(root_ + "/empty/inner");
  ASSERT_TRUE(store_->Put("real/x", "1").ok());
  ASSERT_EQ(::symlink("real/x", (root_ + "/link").c_str()), 0);
  ASSERT_EQ(::mkfifo((root_ + "/fifo").c_str(), 0644), 0);
  ListOptions o;
  o.delimiter = "/";
  Result<ListResult> r = store_->List(o);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->common_prefixes, std::vector<std::string>{"real/"});
  EXPECT_TRUE(r->objects.empty());
  EXPECT_EQ(ListAll(), std::vector<std::string>{"real/x"});
}

TEST_F(FileObjectStoreTest, TemporaryFilesAreNeverListed) {
  // Objects written by one thread while another lists: every listed key is a
  // finished object, and its content is whole.
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::thread lister([&] {
    while (!done.load()) {
      Result<ListResult> r = store_->List({});
      if (!r.has_value()) {
        ++bad;
        continue;
      }
      for (const ObjectInfo& o : r->objects) {
        if (!o.key.starts_with("obj/")) ++bad;
        if (o.size != 4096) ++bad;
      }
    }
  });
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(store_->Put("obj/" + std::to_string(i), std::string(4096, 'o')).ok());
  }
  done = true;
  lister.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(ListAll().size(), 300u);
  EXPECT_TRUE(fs::is_empty(root_ + "/.tmp"));
}

TEST_F(FileObjectStoreTest, ReaderNeverSeesAPartialObject) {
  constexpr size_t kSize = 1 << 20;
  ASSERT_TRUE(store_->Put("big", std::string(kSize, 'a')).ok());
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    while (!done.load()) {
      Result<std::string> data = store_->Get("big");
      ++reads;
      if (!data.has_value() || data->size() != kSize ||
          data->find_first_not_of(data->front()) != std::string::npos) {
        ++bad;
      }
    }
  });
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(store_->Put("big", std::string(kSize, static_cast<char>('a' + i % 26))).ok());
  }
  done = true;
  reader.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(reads.load(), 0);
}

TEST_F(FileObjectStoreTest, ConcurrentPutAndDeleteInOneDirectory) {
  // Delete prunes directories that Put is about to use: Put must retry, not fail.
  std::mutex mu;
  std::vector<std::string> failures;
  auto check = [&](const Status& st) {
    if (st.ok()) return;
    std::lock_guard lock(mu);
    failures.push_back(st.ToString());
  };
  // Two stores over one root stand for two processes sharing it.
  Result<std::unique_ptr<FileStore>> other = FileStore::Open(root_);
  ASSERT_TRUE(other.has_value());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    FileStore* store = t % 2 == 0 ? store_.get() : other->get();
    threads.emplace_back([&check, store, t] {
      for (int i = 0; i < 200; ++i) {
        std::string key = "d/e/f/" + std::to_string(t);
        check(store->Put(key, "v"));
        check(store->Delete(key));
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_TRUE(failures.empty()) << failures.size() << " failures, the first: " << failures[0];
  EXPECT_TRUE(ListAll().empty());
}

TEST_F(FileObjectStoreTest, NoDescriptorsLeak) {
  ASSERT_TRUE(store_->Put("warm", "up").ok());
  size_t before = testing::CountOpenFds();
  for (int i = 0; i < 1000; ++i) {
    std::string key = "fd/" + std::to_string(i % 50);
    switch (i % 7) {
      case 0:
        EXPECT_TRUE(store_->Put(key, "data").ok());
        break;
      case 1:
        (void)store_->Get(key, 1, 2);
        break;
      case 2:
        (void)store_->Get("fd/missing");
        break;
      case 3:
        (void)store_->Head(key);
        break;
      case 4: {
        ListOptions o;
        o.prefix = "fd/";
        o.limit = 5;
        EXPECT_TRUE(store_->List(o).has_value());
        break;
      }
      case 5:
        EXPECT_TRUE(store_->Delete(key).ok());
        break;
      default:
        EXPECT_FALSE(store_->Put("warm/below", "x").ok());  // a failing put
        break;
    }
  }
  EXPECT_EQ(testing::CountOpenFds(), before);
}

TEST_F(FileObjectStoreTest, StaleTemporaryFilesAreRemovedOnOpen) {
  std::string stale = root_ + "/.tmp/stale";
  std::string fresh = root_ + "/.tmp/fresh";
  std::ofstream(stale) << "left by a crash";
  std::ofstream(fresh) << "a put in progress";
  struct timespec times[2] = {{0, UTIME_OMIT}, {::time(nullptr) - 7200, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, stale.c_str(), times, 0), 0);
  ASSERT_TRUE(FileStore::Open(root_).has_value());
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(fresh));
}

TEST_F(FileObjectStoreTest, PutRecreatesARemovedTempDirectory) {
  fs::remove_all(root_ + "/.tmp");
  ASSERT_TRUE(store_->Put("k", "v").ok());
  EXPECT_EQ(store_->Get("k").value_or(""), "v");
}

TEST_F(FileObjectStoreTest, ListWithImpossiblePrefixIsEmpty) {
  ASSERT_TRUE(store_->Put("a/b", "1").ok());
  for (const char* prefix : {"a//", "../", "/a", "a/../a/", ".tmp/", "./a"}) {
    ListOptions o;
    o.prefix = prefix;
    EXPECT_TRUE(ListAll(o).empty()) << prefix;
  }
}

}  // namespace
}  // namespace shoal::object
