#include "object/s3/s3_options.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include "object/object_store.h"
#include "object/s3/s3_store.h"

namespace shoal::object::s3 {
namespace {

S3Options MustParse(std::string_view url) {
  Result<S3Options> o = ParseS3Url(url);
  EXPECT_TRUE(o.has_value()) << url << ": " << o.error().ToString();
  return o.value_or(S3Options{});
}

std::string ParseError(std::string_view url) {
  Result<S3Options> o = ParseS3Url(url);
  EXPECT_FALSE(o.has_value()) << url;
  if (o.has_value()) return "";
  EXPECT_EQ(o.error().code(), Code::kInvalid);
  return o.error().message();
}

TEST(S3OptionsTest, S3SchemeWithOptions) {
  S3Options o = MustParse("s3://127.0.0.1:9000/bucket/some/prefix/?region=eu-west-3&tls=false");
  EXPECT_EQ(o.endpoint, "127.0.0.1:9000");
  EXPECT_EQ(o.bucket, "bucket");
  EXPECT_EQ(o.prefix, "some/prefix/");
  EXPECT_EQ(o.region, "eu-west-3");
  EXPECT_TRUE(o.path_style);
  EXPECT_FALSE(o.use_tls);
  EXPECT_TRUE(o.credentials.empty());
  EXPECT_EQ(o.Describe(),
            "s3://127.0.0.1:9000/bucket/some/prefix?region=eu-west-3&path_style=true&tls=false");
  // Describe() gives a URL that opens the same store.
  S3Options again = MustParse(o.Describe());
  EXPECT_EQ(again.Describe(), o.Describe());
}

TEST(S3OptionsTest, S3SchemeDefaults) {
  S3Options o = MustParse("s3://minio.local/b");
  EXPECT_TRUE(o.use_tls);
  EXPECT_TRUE(o.path_style);
  EXPECT_EQ(o.region, "us-east-1");
  EXPECT_EQ(o.prefix, "");
  // A bare option is a flag that is on.
  EXPECT_TRUE(MustParse("s3://s3.us-west-2.amazonaws.com/b?path_style").path_style);
}

TEST(S3OptionsTest, HttpSchemesArePathStyle) {
  S3Options o = MustParse("http://localhost:4568/data");
  EXPECT_FALSE(o.use_tls);
  EXPECT_TRUE(o.path_style);
  EXPECT_EQ(o.endpoint, "localhost:4568");
  EXPECT_EQ(o.bucket, "data");
  o = MustParse("https://acct.r2.cloudflarestorage.com/vol/x?region=auto");
  EXPECT_TRUE(o.use_tls);
  EXPECT_EQ(o.bucket, "vol");
  EXPECT_EQ(o.prefix, "x/");
  EXPECT_EQ(o.region, "auto");
}

TEST(S3OptionsTest, AwsHosts) {
  S3Options o = MustParse("https://my-bucket.s3.eu-central-1.amazonaws.com/pre");
  EXPECT_EQ(o.bucket, "my-bucket");
  EXPECT_EQ(o.endpoint, "s3.eu-central-1.amazonaws.com");
  EXPECT_EQ(o.region, "eu-central-1");
  EXPECT_FALSE(o.path_style);
  EXPECT_EQ(o.prefix, "pre/");

  o = MustParse("s3://s3.ap-south-1.amazonaws.com/bkt");
  EXPECT_EQ(o.bucket, "bkt");
  EXPECT_EQ(o.region, "ap-south-1");
  EXPECT_FALSE(o.path_style);  // AWS prefers virtual-hosted requests

  o = MustParse("https://bkt.s3.amazonaws.com");
  EXPECT_EQ(o.region, "us-east-1");
  EXPECT_EQ(o.endpoint, "s3.amazonaws.com");

  o = MustParse("s3://s3.us-west-2.amazonaws.com/bkt?path_style=true&region=us-west-1");
  EXPECT_TRUE(o.path_style);
  EXPECT_EQ(o.region, "us-west-1");  // the option wins
}

TEST(S3OptionsTest, CredentialsFromUserInfo) {
  S3Options o = MustParse("s3://AKID:se%2Fcret@host:9000/b?tls=false");
  EXPECT_EQ(o.credentials.access_key, "AKID");
  EXPECT_EQ(o.credentials.secret_key, "se/cret");
  EXPECT_EQ(o.Describe().find("cret"), std::string::npos);
}

TEST(S3OptionsTest, Rejections) {
  EXPECT_NE(ParseError("s3://host").find("no bucket"), std::string::npos);
  EXPECT_NE(ParseError("s3://host/").find("no bucket"), std::string::npos);
  EXPECT_NE(ParseError("s3://host/b?colour=red").find("unknown option 'colour'"),
            std::string::npos);
  EXPECT_NE(ParseError("s3://host/b?tls=maybe").find("true or false"), std::string::npos);
  EXPECT_NE(ParseError("http://host/b?tls=true").find("contradicts"), std::string::npos);
  EXPECT_NE(ParseError("s3://host/b%20c").find("bucket name"), std::string::npos);
  EXPECT_NE(ParseError("s3://host/a.b?path_style=false").find("path_style=true"),
            std::string::npos);
  std::string message = ParseError("s3://u:hunter2@host/b?x=1");
  EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
  EXPECT_NE(message.find("s3://host[:port]/bucket"), std::string::npos) << message;
}

TEST(S3OptionsTest, OpenObjectStoreTakesCredentials) {
  Credentials given{"AKID", "very-secret-key", ""};
  Result<std::shared_ptr<ObjectStore>> store =
      OpenObjectStore("s3://127.0.0.1:1/bucket?tls=false", given);
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  EXPECT_NE(dynamic_cast<S3Store*>(store->get()), nullptr);
  EXPECT_EQ((*store)->Describe(),
            "s3://127.0.0.1:1/bucket?region=us-east-1&path_style=true&tls=false");
}

TEST(S3OptionsTest, NoCredentialsAnywhereIsInvalid) {
  // Only the variables of this process: save and restore them.
  const char* names[] = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"};
  std::vector<std::pair<std::string, std::optional<std::string>>> saved;
  for (const char* n : names) {
    const char* v = getenv(n);
    saved.emplace_back(n, v == nullptr ? std::nullopt : std::optional<std::string>(v));
    unsetenv(n);
  }
  Result<std::shared_ptr<ObjectStore>> store = OpenObjectStore("s3://127.0.0.1:1/bucket");
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code(), Code::kInvalid);
  EXPECT_NE(store.error().message().find("AWS_ACCESS_KEY_ID"), std::string::npos);

  setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
  EXPECT_TRUE(OpenObjectStore("s3://127.0.0.1:1/bucket").has_value());
  Credentials env = CredentialsFromEnvironment();
  EXPECT_EQ(env.access_key, "AKENV");
  EXPECT_EQ(env.secret_key, "env-secret");
  EXPECT_EQ(env.session_token, "");

  for (const auto& [n, v] : saved) {
    if (v.has_value()) {
      setenv(n.c_str(), v->c_str(), 1);
    } else {
      unsetenv(n.c_str());
    }
  }
}

TEST(S3OptionsTest, OpenRejectsBadOptions) {
  S3Options o = MustParse("s3://AK:SK@host/b");
  o.part_size = 1 << 20;
  EXPECT_EQ(S3Store::Open(o).error().code(), Code::kInvalid);
  o = MustParse("s3://host/b");
  Result<std::unique_ptr<S3Store>> store = S3Store::Open(o);
  ASSERT_FALSE(store.has_value());
  EXPECT_NE(store.error().message().find("no credentials"), std::string::npos);
}

}  // namespace
}  // namespace shoal::object::s3
