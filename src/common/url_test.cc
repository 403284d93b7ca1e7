#include "common/url.h"

#include <gtest/gtest.h>

#include <string>

namespace shoal {
namespace {

Url MustParse(std::string_view text) {
  Result<Url> url = ParseUrl(text);
  EXPECT_TRUE(url.has_value()) << text << ": " << url.error().ToString();
  return url.value_or(Url{});
}

// The message of a URL that must not parse.
std::string ParseError(std::string_view text) {
  Result<Url> url = ParseUrl(text);
  EXPECT_FALSE(url.has_value()) << text << " parsed";
  if (url.has_value()) return "";
  EXPECT_EQ(url.error().code(), Code::kInvalid);
  return url.error().message();
}

TEST(UrlTest, Mem) {
  Url url = MustParse("mem://");
  EXPECT_EQ(url.scheme, "mem");
  EXPECT_EQ(url.host, "");
  EXPECT_EQ(url.path, "");
  EXPECT_EQ(url.port, 0);
  EXPECT_TRUE(url.query.empty());
}

TEST(UrlTest, FileAndRocksdbPaths) {
  Url file = MustParse("file:///var/lib/shoal/data");
  EXPECT_EQ(file.scheme, "file");
  EXPECT_EQ(file.host, "");
  EXPECT_EQ(file.path, "/var/lib/shoal/data");

  Url rocks = MustParse("rocksdb:///tmp/demo.meta");
  EXPECT_EQ(rocks.scheme, "rocksdb");
  EXPECT_EQ(rocks.path, "/tmp/demo.meta");

  // A host in a file URL parses; the factories decide whether they accept it.
  Url relative = MustParse("file://relative/dir");
  EXPECT_EQ(relative.host, "relative");
  EXPECT_EQ(relative.path, "/dir");
}

TEST(UrlTest, RedisWithCredentials) {
  Url url = MustParse("redis://alice:s3cret@cache.local:6379/1");
  EXPECT_EQ(url.scheme, "redis");
  EXPECT_EQ(url.user, "alice");
  EXPECT_EQ(url.password, "s3cret");
  EXPECT_EQ(url.host, "cache.local");
  EXPECT_EQ(url.port, 6379);
  EXPECT_EQ(url.path, "/1");
}

TEST(UrlTest, UserWithoutPassword) {
  Url url = MustParse("postgres://bob@db.example.com/shoal");
  EXPECT_EQ(url.user, "bob");
  EXPECT_EQ(url.password, "");
  EXPECT_EQ(url.host, "db.example.com");
  EXPECT_EQ(url.path, "/shoal");
}

TEST(UrlTest, S3WithQuery) {
  Url url = MustParse("s3://127.0.0.1:4568/bucket?region=eu-west-1&path_style");
  EXPECT_EQ(url.scheme, "s3");
  EXPECT_EQ(url.host, "127.0.0.1");
  EXPECT_EQ(url.port, 4568);
  EXPECT_EQ(url.path, "/bucket");
  ASSERT_EQ(url.query.size(), 2u);
  EXPECT_EQ(url.query.at("region"), "eu-west-1");
  EXPECT_EQ(url.query.at("path_style"), "");
}

TEST(UrlTest, HttpAndHttps) {
  Url http = MustParse("http://minio:9000/data");
  EXPECT_EQ(http.scheme, "http");
  EXPECT_EQ(http.host, "minio");
  EXPECT_EQ(http.port, 9000);
  EXPECT_EQ(http.path, "/data");

  Url https = MustParse("https://s3.amazonaws.com/bucket");
  EXPECT_EQ(https.scheme, "https");
  EXPECT_EQ(https.host, "s3.amazonaws.com");
  EXPECT_EQ(https.port, 0);
  EXPECT_EQ(https.path, "/bucket");
}

TEST(UrlTest, SchemeIsLowerCased) {
  EXPECT_EQ(MustParse("FILE:///x").scheme, "file");
  EXPECT_EQ(MustParse("Redis+TLS://h").scheme, "redis+tls");
}

TEST(UrlTest, PercentDecoding) {
  Url url = MustParse("redis://us%65r:p%40ss%3Aw%2Fd@h/a%20b%2Fc?k%3D=v%26w");
  EXPECT_EQ(url.user, "user");
  EXPECT_EQ(url.password, "p@ss:w/d");
  EXPECT_EQ(url.path, "/a b/c");
  EXPECT_EQ(url.query.at("k="), "v&w");
}

TEST(UrlTest, UnescapedAtInPasswordUsesLastAt) {
  Url url = MustParse("redis://u:p@ss@h:1/0");
  EXPECT_EQ(url.password, "p@ss");
  EXPECT_EQ(url.host, "h");
}

TEST(UrlTest, Ipv6Host) {
  Url url = MustParse("redis://[::1]:6380/2");
  EXPECT_EQ(url.host, "::1");
  EXPECT_EQ(url.port, 6380);
  EXPECT_EQ(url.Redacted(), "redis://[::1]:6380/2");
  EXPECT_NE(ParseError("redis://::1:6379"), "");
  EXPECT_NE(ParseError("redis://[::1:6379"), "");
}

TEST(UrlTest, NotAUrl) {
  std::string message = ParseError("foo");
  EXPECT_EQ(message.rfind("'foo' is not a URL: expected scheme://", 0), 0u) << message;
  EXPECT_NE(ParseError("/var/lib/shoal").find("is not a URL"), std::string::npos);
  EXPECT_NE(ParseError("file:/x").find("is not a URL"), std::string::npos);
  EXPECT_NE(ParseError("://host").find("is not a URL"), std::string::npos);
  EXPECT_NE(ParseError("").find("'' is not a URL"), std::string::npos);
}

TEST(UrlTest, BadScheme) {
  std::string message = ParseError("1abc://x");
  EXPECT_NE(message.find("scheme '1abc'"), std::string::npos) << message;
  EXPECT_NE(ParseError("a b://x"), "");
}

TEST(UrlTest, BadPorts) {
  for (std::string_view text : {"redis://h:0/1", "redis://h:65536/1", "redis://h:abc/1",
                                "redis://h:/1", "redis://h:12x/1", "redis://h:-1/1"}) {
    std::string message = ParseError(text);
    EXPECT_NE(message.find("is not a number from 1 to 65535"), std::string::npos) << message;
  }
  EXPECT_EQ(MustParse("redis://h:65535").port, 65535);
}

TEST(UrlTest, BadEscapes) {
  EXPECT_NE(ParseError("file:///a%zzb").find("two hex digits"), std::string::npos);
  EXPECT_NE(ParseError("file:///a%4").find("two hex digits"), std::string::npos);
  EXPECT_NE(ParseError("file:///a%00b").find("NUL"), std::string::npos);
}

TEST(UrlTest, BadHostCharacters) {
  EXPECT_NE(ParseError("s3://bad host/b").find("host"), std::string::npos);
  EXPECT_NE(ParseError("s3://ba%41d/b").find("host"), std::string::npos);
}

TEST(UrlTest, QueryErrors) {
  EXPECT_NE(ParseError("s3://h/b?region=a&region=b").find("more than once"), std::string::npos);
  EXPECT_NE(ParseError("s3://h/b?=x").find("no name"), std::string::npos);
  EXPECT_EQ(MustParse("s3://h/b?a=1&&b=2").query.size(), 2u);
}

TEST(UrlTest, FragmentRejected) {
  EXPECT_NE(ParseError("file:///a#b").find("fragment"), std::string::npos);
}

TEST(UrlTest, RedactedHidesPassword) {
  Url url = MustParse("redis://alice:s3cret@cache:6379/1");
  EXPECT_EQ(url.Redacted(), "redis://alice:***@cache:6379/1");
  EXPECT_EQ(MustParse("redis://:s3cret@cache/1").Redacted(), "redis://:***@cache/1");
  EXPECT_EQ(MustParse("redis://alice@cache/1").Redacted(), "redis://alice@cache/1");
  EXPECT_EQ(MustParse("mem://").Redacted(), "mem://");
  EXPECT_EQ(MustParse("file:///a/b").Redacted(), "file:///a/b");
}

TEST(UrlTest, RedactedHidesSecretQueryValues) {
  Url url = MustParse("s3://h/b?access_key=AK&secret_key=SK&session_token=T&region=r");
  std::string redacted = url.Redacted();
  EXPECT_EQ(redacted, "s3://h/b?access_key=AK&region=r&secret_key=***&session_token=***");
}

TEST(UrlTest, RedactedRoundTripsOtherParts) {
  Url url = MustParse("redis://us%3Aer:pw@h:7/a%20b%3F%23/c?x%26=y%3D");
  Url again = MustParse(url.Redacted());
  EXPECT_EQ(again.user, url.user);
  EXPECT_EQ(again.password, "***");
  EXPECT_EQ(again.host, url.host);
  EXPECT_EQ(again.port, url.port);
  EXPECT_EQ(again.path, url.path);
  EXPECT_EQ(again.query, url.query);
}

TEST(UrlTest, ErrorsNeverEchoThePassword) {
  // Each fails after the password was seen; none may quote it.
  for (std::string_view text :
       {"redis://alice:hunter2@cache:99999/1", "redis://alice:hunter2@cache:6379/1#frag",
        "redis://alice:hunter2@ca che/1", "redis://alice:hunter2%zz@cache/1",
        "redis://alice:hun/ter2@cache/1", "redis://alice:hunter2@cache/1?a=1&a=2",
        "redis://alice:hun?ter2@cache/1", "redis://alice:hun#ter2@cache/1",
        "s3://h/b?secret=hunter2&secret=x", "alice:hunter2@cache"}) {
    std::string message = ParseError(text);
    EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
    EXPECT_EQ(message.find("ter2"), std::string::npos) << message;
    EXPECT_EQ(message.find("hun"), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace shoal
