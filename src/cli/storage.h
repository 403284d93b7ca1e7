// Where a volume's data lives, as the command line sees it: the storage kind
// and bucket (from the volume record or the command line), the credentials
// of an S3 store (from flags, the environment or the volume record), and
// opening the store with messages that say what to fix.
//
// Credentials: an access key id and its secret always come as a pair from one
// source, the first that has one: --access-key/--secret-key, then
// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (with AWS_SESSION_TOKEN), then the
// volume record. Messages and logs name the source and at most a redacted
// access key id; a secret is never printed.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "meta/meta.h"
#include "object/object_store.h"
#include "object/retry.h"
#include "object/s3/s3_options.h"

namespace shoal::cli {

// The storage kinds, for messages.
inline constexpr std::string_view kStorageKinds =
    "file (a local directory), s3 (an S3-compatible bucket) or mem (in memory, for trials)";

// Reads one environment variable; nullopt when unset. Injected so that tests
// do not depend on (or change) the process environment.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;
// The process environment.
EnvLookup ProcessEnv();

// Object-store options given on the command line.
struct StoreFlags {
  std::string access_key;
  std::string secret_key;
  std::string region;
  // --io-retries, --io-timeout, --io-max-time: the retry policy of every
  // request to the store (object/retry.h has the defaults and why).
  int io_retries = object::IoPolicy{}.max_attempts;
  double io_timeout_sec = SecondsOf(object::IoPolicy{}.stall_timeout);
  double io_max_time_sec = SecondsOf(object::IoPolicy{}.max_time);
  bool io_no_hedge = false;  // --io-no-hedge

  static constexpr double SecondsOf(std::chrono::milliseconds d) {
    return static_cast<double>(d.count()) / 1000;
  }
};

// The retry policy the --io-* flags ask for; kInvalid naming the flag that
// is out of range.
Result<object::IoPolicy> ResolveIoPolicy(const StoreFlags& flags);

enum class CredentialSource { kNone, kFlags, kEnvironment, kVolume };

struct Credentials {
  std::string access_key;
  std::string secret_key;
  // Temporary credentials only: from AWS_SESSION_TOKEN, never stored.
  std::string session_token;
  CredentialSource source = CredentialSource::kNone;

  bool empty() const { return access_key.empty(); }
  // "access key AKIA…MPLE from AWS_ACCESS_KEY_ID": for logs and messages.
  std::string Describe() const;
};

// The first complete pair of flags, environment and `stored` (may be null).
// kInvalid when a source has half a pair (an access key without its secret
// or the reverse), naming what is missing. An empty result when no source has
// any: the caller decides whether that is an error.
Result<Credentials> ResolveCredentials(const StoreFlags& flags, const EnvLookup& env,
                                       const meta::VolumeConfig* stored);

// "AKIAIOSFODNN7EXAMPLE" -> "AKIA…MPLE"; keys of 12 characters or fewer show
// only their first 2. Never used on secrets, which are not shown at all.
std::string RedactAccessKey(std::string_view access_key);

// Parses --bucket for storage s3 with the S3 client's URL forms
// (object/s3/s3_options.h): http(s)://host[:port]/bucket[/prefix],
// s3://host[:port]/bucket[/prefix][?region=..&path_style=..&tls=..],
// https://bucket.s3.REGION.amazonaws.com. Refuses credentials in the URL,
// which is stored and shown by 'shoal status'. The result has none.
Result<object::s3::S3Options> ParseS3Bucket(std::string_view url);

// The URL as the volume record keeps it: trailing slashes of the path dropped.
std::string CanonicalBucket(std::string_view url);

// The region to sign with: `flag`; else the URL's ?region=; else what the
// host tells (s3.REGION.amazonaws.com, s3.REGION.backblazeb2.com, "auto" for
// R2); else AWS_REGION or AWS_DEFAULT_REGION (only when `use_env`); else
// us-east-1. The host wins over the environment because signing for another
// region than the endpoint's fails.
std::string ResolveRegion(std::string_view bucket_url, std::string_view flag, const EnvLookup& env,
                          bool use_env);

// Everything needed to open a store.
struct StoreSpec {
  std::string storage;  // file, mem, s3
  std::string bucket;   // a directory for file; a bucket URL for s3
  Credentials credentials;
  std::string region;
  object::IoPolicy io;  // for s3: retries and stall detection
};

// The StoreSpec of a formatted volume, with credentials and region resolved
// as above (flags and environment win over the record) and the --io-* policy.
// kInvalid for an s3 volume when no source has credentials, or for --io-*
// flags out of range.
Result<StoreSpec> VolumeStoreSpec(const meta::VolumeConfig& config, const StoreFlags& flags,
                                  const EnvLookup& env);

// Opens the store and, for s3, checks that the bucket exists and the
// credentials are accepted (one request); with `create_bucket`, creates a
// bucket that does not exist. Failures carry a message that says which of
// endpoint, credentials, bucket or permissions to check. *created (may be
// null) tells whether a bucket was created.
Result<std::shared_ptr<object::ObjectStore>> OpenStore(const StoreSpec& spec, bool create_bucket,
                                                       bool* created = nullptr);

// Adds to a failed store call's message what the user should check, by its
// code (unreachable endpoint, refused credentials, missing bucket, ...).
Status ExplainStoreError(const StoreSpec& spec, std::string_view what, const Status& s);

// Writes, reads back, lists and deletes a probe object under `prefix`
// ("NAME/"), so that a store that does not work, or credentials that lack a
// permission, are found before a volume points at them. With
// `require_empty`, also fails (kExists) when objects other than probes sit
// under the prefix: another volume of that name keeps its data there.
Status ProbeStore(object::ObjectStore& store, const StoreSpec& spec, std::string_view prefix,
                  bool require_empty);

}  // namespace shoal::cli
