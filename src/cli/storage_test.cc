#include "cli/storage.h"

#include <gtest/gtest.h>

#include <limits>
#include <map>
#include <string>

#include "object/mem_store.h"

namespace shoal::cli {
namespace {

// A fake environment.
EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(ResolveCredentials, FlagsWinOverEnvironmentAndVolume) {
  meta::VolumeConfig stored;
  stored.access_key = "STOREDKEY";
  stored.secret_key = "stored-secret";
  auto env = Env({{"AWS_ACCESS_KEY_ID", "ENVKEY"}, {"AWS_SECRET_ACCESS_KEY", "env-secret"}});

  auto c = ResolveCredentials({"FLAGKEY", "flag-secret", ""}, env, &stored);
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_EQ(c->access_key, "FLAGKEY");
  EXPECT_EQ(c->secret_key, "flag-secret");
  EXPECT_EQ(c->source, CredentialSource::kFlags);

  c = ResolveCredentials({}, env, &stored);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->access_key, "ENVKEY");
  EXPECT_EQ(c->secret_key, "env-secret");
  EXPECT_EQ(c->source, CredentialSource::kEnvironment);

  c = ResolveCredentials({}, Env({}), &stored);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->access_key, "STOREDKEY");
  EXPECT_EQ(c->source, CredentialSource::kVolume);

  c = ResolveCredentials({}, Env({}), nullptr);
  ASSERT_TRUE(c.has_value());
  EXPECT_TRUE(c->empty());
}

TEST(ResolveCredentials, SessionTokenComesOnlyWithEnvironmentKeys) {
  auto env = Env({{"AWS_ACCESS_KEY_ID", "ENVKEY"},
                  {"AWS_SECRET_ACCESS_KEY", "env-secret"},
                  {"AWS_SESSION_TOKEN", "tok"}});
  auto c = ResolveCredentials({}, env, nullptr);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->session_token, "tok");
  c = ResolveCredentials({"FLAGKEY", "flag-secret", ""}, env, nullptr);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->session_token, "") << "a token belongs to the environment's key, not the flags'";
}

TEST(ResolveCredentials, HalfAPairIsRefusedWithoutShowingTheSecret) {
  auto r = ResolveCredentials({"KEY", "", ""}, Env({}), nullptr);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Code::kInvalid);
  EXPECT_NE(r.error().message().find("--secret-key"), std::string::npos);

  r = ResolveCredentials({"", "very-secret", ""}, Env({}), nullptr);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message().find("very-secret"), std::string::npos);

  r = ResolveCredentials({}, Env({{"AWS_SECRET_ACCESS_KEY", "very-secret"}}), nullptr);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("AWS_ACCESS_KEY_ID"), std::string::npos);
  EXPECT_EQ(r.error().message().find("very-secret"), std::string::npos);
}

TEST(RedactAccessKey, ShowsAtMostTheEnds) {
  EXPECT_EQ(RedactAccessKey("AKIAIOSFODNN7EXAMPLE"), "AKIA…MPLE");
  EXPECT_EQ(RedactAccessKey("S3RVER"), "S3…");
  EXPECT_EQ(RedactAccessKey(""), "");
  Credentials c;
  c.access_key = "AKIAIOSFODNN7EXAMPLE";
  c.secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
  c.source = CredentialSource::kEnvironment;
  std::string d = c.Describe();
  EXPECT_NE(d.find("AKIA…MPLE"), std::string::npos) << d;
  EXPECT_NE(d.find("AWS_ACCESS_KEY_ID"), std::string::npos) << d;
  EXPECT_EQ(d.find("wJalr"), std::string::npos) << d;
  EXPECT_EQ(d.find("IOSFODNN7"), std::string::npos) << d;
}

TEST(ParseS3Bucket, TakesTheS3ClientsForms) {
  auto o = ParseS3Bucket("http://127.0.0.1:9000/scratch");
  ASSERT_TRUE(o.has_value()) << o.error().ToString();
  EXPECT_EQ(o->endpoint, "127.0.0.1:9000");
  EXPECT_EQ(o->bucket, "scratch");
  EXPECT_FALSE(o->use_tls);
  EXPECT_TRUE(o->path_style);
  EXPECT_TRUE(o->credentials.empty());

  o = ParseS3Bucket("https://0123abcd.r2.cloudflarestorage.com/models");
  ASSERT_TRUE(o.has_value());
  EXPECT_TRUE(o->use_tls);
  EXPECT_EQ(o->bucket, "models");

  o = ParseS3Bucket("https://my-bucket.s3.eu-west-1.amazonaws.com");
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->bucket, "my-bucket");
  EXPECT_FALSE(o->path_style);
}

TEST(ParseS3Bucket, RefusesWithAMessageThatNamesTheProblem) {
  struct Case {
    const char* url;
    const char* says;
  };
  for (const Case& c : {
           Case{"", "required"},
           Case{"my-bucket", "not a URL"},
           Case{"ftp://host/bucket", "scheme"},
           Case{"https://s3.us-east-1.amazonaws.com", "bucket"},
           Case{"http://127.0.0.1:9000/b?colour=blue", "colour"},
       }) {
    auto o = ParseS3Bucket(c.url);
    ASSERT_FALSE(o.has_value()) << c.url;
    EXPECT_EQ(o.error().code(), Code::kInvalid) << c.url;
    EXPECT_NE(o.error().message().find(c.says), std::string::npos)
        << c.url << ": " << o.error().message();
  }
}

TEST(ParseS3Bucket, CredentialsInTheUrlAreRefusedAndNotEchoed) {
  auto o = ParseS3Bucket("https://AKIAKEY:topsecret@s3.us-east-1.amazonaws.com/bucket");
  ASSERT_FALSE(o.has_value());
  EXPECT_NE(o.error().message().find("--access-key"), std::string::npos) << o.error().message();
  EXPECT_EQ(o.error().message().find("topsecret"), std::string::npos) << o.error().message();
}

TEST(CanonicalBucket, DropsTrailingSlashes) {
  EXPECT_EQ(CanonicalBucket("http://127.0.0.1:9000/scratch/"), "http://127.0.0.1:9000/scratch");
  EXPECT_EQ(CanonicalBucket("http://127.0.0.1:9000/scratch"), "http://127.0.0.1:9000/scratch");
  EXPECT_EQ(CanonicalBucket("s3://h/b?region=x"), "s3://h/b?region=x");
}

TEST(ResolveRegion, FlagThenUrlThenHostThenEnvironmentThenDefault) {
  auto env = Env({{"AWS_REGION", "ap-south-1"}, {"AWS_DEFAULT_REGION", "sa-east-1"}});
  const char* aws = "https://s3.eu-west-3.amazonaws.com/bucket";
  const char* local = "http://127.0.0.1:9000/bucket";
  EXPECT_EQ(ResolveRegion(aws, "us-west-1", env, true), "us-west-1");
  EXPECT_EQ(ResolveRegion("s3://minio.lan/b?region=home", "", env, true), "home");
  // Signing for another region than the endpoint's fails: the host wins.
  EXPECT_EQ(ResolveRegion(aws, "", env, true), "eu-west-3");
  EXPECT_EQ(ResolveRegion("https://s3-eu-west-1.amazonaws.com/b12", "", env, true), "eu-west-1");
  EXPECT_EQ(ResolveRegion("https://bkt.s3.ca-central-1.amazonaws.com", "", env, true),
            "ca-central-1");
  EXPECT_EQ(ResolveRegion("https://s3.us-west-004.backblazeb2.com/ckpt", "", env, true),
            "us-west-004");
  EXPECT_EQ(ResolveRegion("https://acc.r2.cloudflarestorage.com/m", "", env, true), "auto");
  EXPECT_EQ(ResolveRegion(local, "", env, true), "ap-south-1");
  EXPECT_EQ(ResolveRegion(local, "", Env({{"AWS_DEFAULT_REGION", "sa-east-1"}}), true),
            "sa-east-1");
  EXPECT_EQ(ResolveRegion(local, "", env, false), "us-east-1");
  EXPECT_EQ(ResolveRegion(local, "", Env({}), true), "us-east-1");
}

meta::VolumeConfig S3Volume() {
  meta::VolumeConfig c;
  c.name = "vol";
  c.storage = "s3";
  c.bucket = "http://127.0.0.1:9000/bucket";
  c.region = "eu-west-1";
  c.access_key = "STOREDKEY";
  c.secret_key = "stored-secret";
  return c;
}

TEST(VolumeStoreSpec, UsesStoredCredentialsUnlessGiven) {
  auto spec = VolumeStoreSpec(S3Volume(), {}, Env({}));
  ASSERT_TRUE(spec.has_value()) << spec.error().ToString();
  EXPECT_EQ(spec->credentials.access_key, "STOREDKEY");
  EXPECT_EQ(spec->region, "eu-west-1");
  // The region is the bucket's: the environment does not move it.
  spec = VolumeStoreSpec(S3Volume(), {},
                         Env({{"AWS_ACCESS_KEY_ID", "ENVKEY"},
                              {"AWS_SECRET_ACCESS_KEY", "env-secret"},
                              {"AWS_REGION", "us-west-2"}}));
  ASSERT_TRUE(spec.has_value());
  EXPECT_EQ(spec->credentials.access_key, "ENVKEY");
  EXPECT_EQ(spec->region, "eu-west-1");
  spec = VolumeStoreSpec(S3Volume(), {"", "", "us-west-2"}, Env({}));
  ASSERT_TRUE(spec.has_value());
  EXPECT_EQ(spec->region, "us-west-2");
}

TEST(VolumeStoreSpec, S3VolumeWithoutStoredKeysNeedsThemGiven) {
  meta::VolumeConfig c = S3Volume();
  c.access_key.clear();
  c.secret_key.clear();
  auto spec = VolumeStoreSpec(c, {}, Env({}));
  ASSERT_FALSE(spec.has_value());
  EXPECT_NE(spec.error().message().find("AWS_ACCESS_KEY_ID"), std::string::npos);
  EXPECT_NE(spec.error().message().find("--access-key"), std::string::npos);
}

TEST(VolumeStoreSpec, FileVolumeMustNameAnAbsoluteDirectory) {
  meta::VolumeConfig c;
  c.name = "vol";
  c.storage = "file";
  c.bucket = "/var/lib/shoal/data";
  EXPECT_TRUE(VolumeStoreSpec(c, {}, Env({})).has_value());
  c.bucket = "relative";
  EXPECT_EQ(VolumeStoreSpec(c, {}, Env({})).error().code(), Code::kCorrupt);
  c.storage = "tape";
  EXPECT_EQ(VolumeStoreSpec(c, {}, Env({})).error().code(), Code::kUnsupported);
}

TEST(ExplainStoreError, HintsByCodeAndNeverShowsTheSecret) {
  StoreSpec spec;
  spec.storage = "s3";
  spec.bucket = "http://127.0.0.1:1/b12";
  spec.credentials.access_key = "AKIAIOSFODNN7EXAMPLE";
  spec.credentials.secret_key = "wJalrXUtnFEMI";
  spec.credentials.source = CredentialSource::kFlags;
  Status s = ExplainStoreError(spec, "opening", Status(Code::kUnavailable, "connection refused"));
  EXPECT_NE(s.message().find("endpoint"), std::string::npos) << s.message();
  s = ExplainStoreError(spec, "opening", Status(Code::kAccess, "InvalidAccessKeyId"));
  EXPECT_NE(s.message().find("credentials"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("AKIA…MPLE"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find("wJalr"), std::string::npos) << s.message();
  EXPECT_EQ(s.code(), Code::kAccess);
}

TEST(ProbeStore, PassesOnAWorkingStoreAndLeavesNothing) {
  object::MemStore store("probe");
  StoreSpec spec;
  spec.storage = "mem";
  ASSERT_TRUE(ProbeStore(store, spec, "vol/", /*require_empty=*/true).ok());
  object::ListOptions all;
  auto listed = store.List(all);
  ASSERT_TRUE(listed.has_value());
  EXPECT_TRUE(listed->objects.empty()) << "left " << listed->objects.front().key;
}

TEST(ProbeStore, RefusesAPrefixThatHoldsAnotherVolumesData) {
  object::MemStore store("probe");
  StoreSpec spec;
  spec.storage = "mem";
  ASSERT_TRUE(store.Put("vol/chunks/00/0/1_0_4", "data").ok());
  Status s = ProbeStore(store, spec, "vol/", /*require_empty=*/true);
  EXPECT_EQ(s.code(), Code::kExists);
  EXPECT_NE(s.message().find("vol/chunks/00/0/1_0_4"), std::string::npos) << s.message();
  // A leftover probe of a crashed format does not count; other prefixes neither.
  object::MemStore other("probe2");
  ASSERT_TRUE(other.Put("vol/.format-probe-1", "x").ok());
  ASSERT_TRUE(other.Put("volume2/chunks/x", "x").ok());
  EXPECT_TRUE(ProbeStore(other, spec, "vol/", /*require_empty=*/true).ok());
  EXPECT_TRUE(ProbeStore(store, spec, "vol/", /*require_empty=*/false).ok());
}

TEST(ResolveIoPolicy, DefaultsAndFlags) {
  Result<object::IoPolicy> io = ResolveIoPolicy({});
  ASSERT_TRUE(io.has_value()) << io.error().ToString();
  EXPECT_EQ(io->max_attempts, object::IoPolicy{}.max_attempts);
  EXPECT_EQ(io->stall_timeout, object::IoPolicy{}.stall_timeout);
  EXPECT_EQ(io->max_time, object::IoPolicy{}.max_time);

  StoreFlags flags;
  flags.io_retries = 3;
  flags.io_timeout_sec = 2.5;
  flags.io_max_time_sec = 30;
  io = ResolveIoPolicy(flags);
  ASSERT_TRUE(io.has_value()) << io.error().ToString();
  EXPECT_EQ(io->max_attempts, 3);
  EXPECT_EQ(io->stall_timeout, std::chrono::milliseconds(2500));
  EXPECT_EQ(io->max_time, std::chrono::seconds(30));
}

TEST(ResolveIoPolicy, OutOfRangeNamesTheFlag) {
  auto with = [](auto set) {
    StoreFlags f;
    set(f);
    return f;
  };
  const std::pair<StoreFlags, std::string> cases[] = {
      {with([](StoreFlags& f) { f.io_retries = 0; }), "--io-retries"},
      {with([](StoreFlags& f) { f.io_timeout_sec = 0.1; }), "--io-timeout"},
      {with([](StoreFlags& f) { f.io_timeout_sec = -1; }), "--io-timeout"},
      {with([](StoreFlags& f) { f.io_max_time_sec = -5; }), "--io-max-time"},
      {with([](StoreFlags& f) { f.io_max_time_sec = std::numeric_limits<double>::quiet_NaN(); }),
       "--io-max-time"},
  };
  for (const auto& [flags, name] : cases) {
    Result<object::IoPolicy> io = ResolveIoPolicy(flags);
    ASSERT_FALSE(io.has_value()) << name;
    EXPECT_EQ(io.error().code(), Code::kInvalid);
    EXPECT_NE(io.error().message().find(name), std::string::npos) << io.error().message();
  }
}

TEST(VolumeStoreSpec, CarriesTheIoPolicy) {
  meta::VolumeConfig c;
  c.name = "v";
  c.storage = "file";
  c.bucket = "/tmp/somewhere";
  StoreFlags flags;
  flags.io_retries = 4;
  Result<StoreSpec> spec = VolumeStoreSpec(c, flags, Env({}));
  ASSERT_TRUE(spec.has_value()) << spec.error().ToString();
  EXPECT_EQ(spec->io.max_attempts, 4);
  flags.io_retries = -1;
  EXPECT_EQ(VolumeStoreSpec(c, flags, Env({})).error().code(), Code::kInvalid);
}

}  // namespace
}  // namespace shoal::cli
