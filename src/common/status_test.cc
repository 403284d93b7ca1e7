#include "common/status.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <memory>
#include <set>
#include <string>

namespace shoal {
namespace {

TEST(StatusTest, DefaultIsOk) {
  Status st;
  EXPECT_TRUE(st.ok());
  EXPECT_EQ(st.code(), Code::kOk);
  EXPECT_EQ(st.message(), "");
  EXPECT_EQ(st.ToString(), "ok");
  EXPECT_TRUE(OkStatus().ok());
}

TEST(StatusTest, ConstructorsSetCodeAndMessage) {
  struct Case {
    Status status;
    Code code;
  };
  const Case cases[] = {
      {NotFound("m"), Code::kNotFound},
      {Exists("m"), Code::kExists},
      {NotDir("m"), Code::kNotDir},
      {IsDir("m"), Code::kIsDir},
      {NotEmpty("m"), Code::kNotEmpty},
      {AccessDenied("m"), Code::kAccess},
      {NotPermitted("m"), Code::kNotPermitted},
      {Invalid("m"), Code::kInvalid},
      {IoError("m"), Code::kIo},
      {Conflict("m"), Code::kConflict},
      {Unavailable("m"), Code::kUnavailable},
      {Corrupt("m"), Code::kCorrupt},
      {Unsupported("m"), Code::kUnsupported},
      {Internal("m"), Code::kInternal},
  };
  for (const Case& c : cases) {
    EXPECT_FALSE(c.status.ok());
    EXPECT_EQ(c.status.code(), c.code);
    EXPECT_EQ(c.status.message(), "m");
  }
}

TEST(StatusTest, ToStringNamesTheCode) {
  EXPECT_EQ(NotFound("volume 'demo' is not formatted").ToString(),
            "not found: volume 'demo' is not formatted");
  EXPECT_EQ(Status(Code::kIo, "").ToString(), "i/o error");
}

TEST(StatusTest, AnnotatePrependsContext) {
  Status st = IoError("disk on fire").Annotate("reading block 7");
  EXPECT_EQ(st.code(), Code::kIo);
  EXPECT_EQ(st.message(), "reading block 7: disk on fire");
  Status twice = st.Annotate("open 'a'");
  EXPECT_EQ(twice.message(), "open 'a': reading block 7: disk on fire");
}

TEST(StatusTest, AnnotateKeepsOkOk) {
  Status st = OkStatus().Annotate("context");
  EXPECT_TRUE(st.ok());
  EXPECT_EQ(st.message(), "");
}

TEST(StatusTest, ErrnoOfEachCode) {
  EXPECT_EQ(ErrnoOf(Code::kOk), 0);
  EXPECT_EQ(ErrnoOf(Code::kNotFound), ENOENT);
  EXPECT_EQ(ErrnoOf(Code::kExists), EEXIST);
  EXPECT_EQ(ErrnoOf(Code::kNotDir), ENOTDIR);
  EXPECT_EQ(ErrnoOf(Code::kIsDir), EISDIR);
  EXPECT_EQ(ErrnoOf(Code::kNotEmpty), ENOTEMPTY);
  EXPECT_EQ(ErrnoOf(Code::kAccess), EACCES);
  EXPECT_EQ(ErrnoOf(Code::kNotPermitted), EPERM);
  EXPECT_EQ(ErrnoOf(Code::kInvalid), EINVAL);
  EXPECT_EQ(ErrnoOf(Code::kNameTooLong), ENAMETOOLONG);
  EXPECT_EQ(ErrnoOf(Code::kNoSpace), ENOSPC);
  EXPECT_EQ(ErrnoOf(Code::kIo), EIO);
  EXPECT_EQ(ErrnoOf(Code::kConflict), EAGAIN);
  EXPECT_EQ(ErrnoOf(Code::kUnavailable), EIO);
  EXPECT_EQ(ErrnoOf(Code::kCorrupt), EIO);
  EXPECT_EQ(ErrnoOf(Code::kUnsupported), EOPNOTSUPP);
  EXPECT_EQ(ErrnoOf(Code::kNoData), ENODATA);
  EXPECT_EQ(ErrnoOf(Code::kRange), ERANGE);
  EXPECT_EQ(ErrnoOf(Code::kBadHandle), EBADF);
  EXPECT_EQ(ErrnoOf(Code::kLoop), ELOOP);
  EXPECT_EQ(ErrnoOf(Code::kCrossDevice), EXDEV);
  EXPECT_EQ(ErrnoOf(Code::kBusy), EBUSY);
  EXPECT_EQ(ErrnoOf(Code::kWouldBlock), EAGAIN);
  EXPECT_EQ(ErrnoOf(Code::kInterrupted), EINTR);
  EXPECT_EQ(ErrnoOf(Code::kTooManyLinks), EMLINK);
  EXPECT_EQ(ErrnoOf(Code::kFileTooBig), EFBIG);
  EXPECT_EQ(ErrnoOf(Code::kReadOnly), EROFS);
  EXPECT_EQ(ErrnoOf(Code::kDeadlock), EDEADLK);
  EXPECT_EQ(ErrnoOf(Code::kVersion), EIO);
  EXPECT_EQ(ErrnoOf(Code::kInternal), EIO);
}

TEST(StatusTest, EveryCodeHasADistinctName) {
  std::set<std::string_view> names;
  for (int i = 0; i <= static_cast<int>(Code::kInternal); ++i) {
    std::string_view name = CodeName(static_cast<Code>(i));
    EXPECT_FALSE(name.empty()) << "code " << i;
    EXPECT_TRUE(names.insert(name).second) << "code " << i << " repeats the name " << name;
  }
  EXPECT_EQ(CodeName(Code::kNotFound), "not found");
}

TEST(StatusTest, UnknownCodeMapsToEio) {
  auto bogus = static_cast<Code>(static_cast<int>(Code::kInternal) + 100);
  EXPECT_EQ(ErrnoOf(bogus), EIO);
  EXPECT_EQ(CodeName(bogus), CodeName(Code::kInternal));
}

Result<int> Half(int x) {
  if (x % 2 != 0) return Invalid(std::to_string(x) + " is odd");
  return x / 2;
}

TEST(StatusTest, StatusConvertsToResult) {
  Result<int> good = Half(8);
  ASSERT_TRUE(good.has_value());
  EXPECT_EQ(*good, 4);
  Result<int> bad = Half(3);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), Code::kInvalid);
  EXPECT_EQ(bad.error().message(), "3 is odd");

  Result<std::string> text = NotFound("nothing");
  ASSERT_FALSE(text.has_value());
  EXPECT_EQ(text.error().code(), Code::kNotFound);
}

Status CheckEven(int x) {
  RETURN_IF_ERROR(Half(x));
  return OkStatus();
}

Status CheckBoth(const Status& first, int* reached) {
  RETURN_IF_ERROR(first);
  ++*reached;
  return OkStatus();
}

TEST(StatusTest, ReturnIfErrorWithResult) {
  EXPECT_TRUE(CheckEven(2).ok());
  Status st = CheckEven(5);
  EXPECT_EQ(st.code(), Code::kInvalid);
  EXPECT_EQ(st.message(), "5 is odd");
}

TEST(StatusTest, ReturnIfErrorWithStatus) {
  int reached = 0;
  EXPECT_TRUE(CheckBoth(OkStatus(), &reached).ok());
  EXPECT_EQ(reached, 1);
  Status st = CheckBoth(Status(Code::kBusy, "locked"), &reached);
  EXPECT_EQ(st.code(), Code::kBusy);
  EXPECT_EQ(reached, 1);
}

Result<int> Quarter(int x) {
  ASSIGN_OR_RETURN(int half, Half(x));
  ASSIGN_OR_RETURN(int quarter, Half(half));
  return quarter;
}

Result<std::unique_ptr<int>> MakeBox(int x) {
  if (x < 0) return Invalid("negative");
  return std::make_unique<int>(x);
}

Result<int> Unbox(int x) {
  std::unique_ptr<int> box;
  ASSIGN_OR_RETURN(box, MakeBox(x));  // assignment to an existing variable, move-only type
  return *box + 1;
}

TEST(StatusTest, AssignOrReturn) {
  EXPECT_EQ(Quarter(12).value_or(-1), 3);
  Result<int> bad = Quarter(6);  // 6 -> 3 -> odd
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().message(), "3 is odd");
  EXPECT_EQ(Unbox(4).value_or(-1), 5);
  EXPECT_EQ(Unbox(-1).error().code(), Code::kInvalid);
}

}  // namespace
}  // namespace shoal
