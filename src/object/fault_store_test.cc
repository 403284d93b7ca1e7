#include "object/fault_store.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "object/mem_store.h"

namespace shoal::object {
namespace {

using Op = FaultStore::Op;

class FaultObjectStoreTest : public ::testing::Test {
 protected:
  std::shared_ptr<MemStore> base_ = std::make_shared<MemStore>();
  FaultStore store_{base_, /*seed=*/42};
};

TEST_F(FaultObjectStoreTest, PassesThroughWithoutFaults) {
  ASSERT_TRUE(store_.Put("k", "v").ok());
  EXPECT_EQ(base_->Get("k").value_or(""), "v");
  EXPECT_EQ(store_.Get("k").value_or(""), "v");
  EXPECT_EQ(store_.Head("k").value_or(ObjectInfo{}).size, 1u);
  EXPECT_EQ(store_.List({}).value_or(ListResult{}).objects.size(), 1u);
  EXPECT_TRUE(store_.Delete("k").ok());
  EXPECT_EQ(base_->Get("k").error().code(), Code::kNotFound);
  EXPECT_EQ(store_.Describe(), "fault(mem://)");
  EXPECT_EQ(store_.calls(Op::kGet), 1u);
  EXPECT_EQ(store_.injected(Op::kGet), 0u);
}

TEST_F(FaultObjectStoreTest, FailNextFailsExactlyThatMany) {
  ASSERT_TRUE(store_.Put("k", "v").ok());
  store_.FailNext(Op::kGet, 2, {Code::kIo});
  for (int i = 0; i < 2; ++i) {
    Result<std::string> r = store_.Get("k");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), Code::kIo);
    EXPECT_EQ(r.error().message(), "fault store over mem://: get 'k': injected failure");
  }
  EXPECT_EQ(store_.Get("k").value_or(""), "v");
  // Other operations were not affected.
  EXPECT_TRUE(store_.Head("k").has_value());
  EXPECT_EQ(store_.calls(Op::kGet), 3u);
  EXPECT_EQ(store_.injected(Op::kGet), 2u);
  EXPECT_EQ(store_.injected(Op::kHead), 0u);
}

TEST_F(FaultObjectStoreTest, FailedPutDoesNotReachTheBase) {
  store_.FailNext(Op::kPut, 1);
  Status st = store_.Put("k", "v");
  EXPECT_EQ(st.code(), Code::kUnavailable);
  EXPECT_EQ(base_->Head("k").error().code(), Code::kNotFound);
}

TEST_F(FaultObjectStoreTest, AfterEffectFaultsStillApplyTheChange) {
  store_.FailNext(Op::kPut, 1, {Code::kUnavailable, /*after_effect=*/true});
  Status put = store_.Put("k", "v");
  EXPECT_EQ(put.code(), Code::kUnavailable);
  EXPECT_NE(put.message().find("took effect"), std::string::npos);
  EXPECT_EQ(base_->Get("k").value_or(""), "v");

  store_.FailNext(Op::kDelete, 1, {Code::kIo, true});
  EXPECT_EQ(store_.Delete("k").code(), Code::kIo);
  EXPECT_EQ(base_->Head("k").error().code(), Code::kNotFound);
}

TEST_F(FaultObjectStoreTest, ListAndHeadFaults) {
  store_.FailNext(Op::kList, 1);
  ListOptions o;
  o.prefix = "vol/";
  Result<ListResult> r = store_.List(o);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("list prefix 'vol/'"), std::string::npos);
  EXPECT_TRUE(store_.List(o).has_value());

  store_.FailNext(Op::kHead, 1, {Code::kCorrupt});
  EXPECT_EQ(store_.Head("x").error().code(), Code::kCorrupt);
  EXPECT_EQ(store_.Head("x").error().code(), Code::kNotFound);  // the base's answer
}

TEST_F(FaultObjectStoreTest, RateOneAlwaysFailsRateZeroNever) {
  store_.SetFailureRate(Op::kHead, 1.0);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(store_.Head("k").error().code(), Code::kUnavailable);
  store_.SetFailureRate(Op::kHead, 0.0);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(store_.Head("k").error().code(), Code::kNotFound);
  EXPECT_EQ(store_.injected(Op::kHead), 20u);
}

std::vector<bool> FailurePattern(uint64_t seed, double rate, int n) {
  FaultStore store(std::make_shared<MemStore>(), seed);
  store.SetFailureRate(Op::kHead, rate);
  std::vector<bool> failed;
  for (int i = 0; i < n; ++i) failed.push_back(store.Head("k").error().code() != Code::kNotFound);
  return failed;
}

TEST_F(FaultObjectStoreTest, RandomFaultsAreDeterministicPerSeed) {
  std::vector<bool> a = FailurePattern(9, 0.5, 400);
  EXPECT_EQ(a, FailurePattern(9, 0.5, 400));
  EXPECT_NE(a, FailurePattern(10, 0.5, 400));
  long failures = std::count(a.begin(), a.end(), true);
  EXPECT_GT(failures, 140);
  EXPECT_LT(failures, 260);
  std::vector<bool> rare = FailurePattern(9, 0.05, 400);
  long rare_failures = std::count(rare.begin(), rare.end(), true);
  EXPECT_GT(rare_failures, 3);
  EXPECT_LT(rare_failures, 50);
}

TEST_F(FaultObjectStoreTest, GetHookTruncatesAndCorrupts) {
  ASSERT_TRUE(store_.Put("k", "abcdef").ok());
  store_.SetGetHook(FaultStore::Truncate(3));
  EXPECT_EQ(store_.Get("k").value_or(""), "abc");
  EXPECT_EQ(store_.Get("k", 4, 0).value_or(""), "ef");  // already short enough
  store_.SetGetHook(FaultStore::FlipByte(1));
  std::string flipped = store_.Get("k").value_or("");
  ASSERT_EQ(flipped.size(), 6u);
  EXPECT_EQ(flipped[1], static_cast<char>(~'b'));
  EXPECT_EQ(flipped.substr(2), "cdef");
  store_.SetGetHook([](std::string_view key, std::string* data) { *data = std::string(key); });
  EXPECT_EQ(store_.Get("k").value_or(""), "k");
  // The hook only changes what the caller sees, not the object.
  EXPECT_EQ(base_->Get("k").value_or(""), "abcdef");
  // And it does not turn a missing object into data.
  EXPECT_EQ(store_.Get("none").error().code(), Code::kNotFound);
}

TEST_F(FaultObjectStoreTest, ClearTurnsEverythingOff) {
  ASSERT_TRUE(store_.Put("k", "abcdef").ok());
  store_.SetFailureRate(Op::kGet, 1.0);
  store_.FailNext(Op::kPut, 5);
  store_.SetGetHook(FaultStore::Truncate(0));
  store_.Clear();
  EXPECT_TRUE(store_.Put("k", "xyz").ok());
  EXPECT_EQ(store_.Get("k").value_or(""), "xyz");
}

}  // namespace
}  // namespace shoal::object
