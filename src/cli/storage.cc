#include "cli/storage.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <string>
#include <utility>

#include "common/url.h"
#include "fuse/mountpoint.h"
#include "object/s3/s3_store.h"

namespace shoal::cli {
namespace {

// Names of the environment variables, as the AWS tools spell them.
constexpr std::string_view kEnvAccessKey = "AWS_ACCESS_KEY_ID";
constexpr std::string_view kEnvSecretKey = "AWS_SECRET_ACCESS_KEY";
constexpr std::string_view kEnvSessionToken = "AWS_SESSION_TOKEN";
constexpr std::string_view kEnvRegion = "AWS_REGION";
constexpr std::string_view kEnvDefaultRegion = "AWS_DEFAULT_REGION";

// The region S3-compatible servers that ignore regions are signed for.
constexpr std::string_view kFallbackRegion = "us-east-1";

constexpr std::string_view kBucketForms =
    "give the bucket as a URL: https://s3.REGION.amazonaws.com/BUCKET, "
    "https://ACCOUNT.r2.cloudflarestorage.com/BUCKET or http://HOST:PORT/BUCKET "
    "(see docs/storage.md)";

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// What the host tells about the region: [bucket.]s3.REGION.amazonaws.com,
// s3-REGION.amazonaws.com, s3.dualstack.REGION.amazonaws.com and
// s3.REGION.backblazeb2.com give REGION; R2 signs with "auto"; other hosts
// tell nothing ("").
std::string RegionOfHost(std::string_view host) {
  if (host.ends_with(".r2.cloudflarestorage.com")) return "auto";
  for (std::string_view tail : {".amazonaws.com", ".backblazeb2.com"}) {
    if (!host.ends_with(tail)) continue;
    std::string_view rest = host.substr(0, host.size() - tail.size());
    // The service label starts the host or follows the bucket's label.
    size_t at = std::string_view::npos;
    for (std::string_view lead : {"s3.", "s3-"}) {
      if (rest.starts_with(lead)) {
        at = 0;
      } else if (size_t dot = rest.find(std::string(".") + std::string(lead));
                 dot != std::string_view::npos) {
        at = dot + 1;
      }
      if (at != std::string_view::npos) break;
    }
    if (at == std::string_view::npos) return "";
    std::string_view region = rest.substr(at + 3);
    if (region.starts_with("dualstack.")) region.remove_prefix(10);
    if (region.empty() || region.find('.') != std::string_view::npos || region == "accelerate" ||
        region == "external-1") {
      return "";
    }
    return std::string(region);
  }
  return "";
}

std::string SourceName(CredentialSource source) {
  switch (source) {
    case CredentialSource::kFlags:
      return "--access-key/--secret-key";
    case CredentialSource::kEnvironment:
      return std::string(kEnvAccessKey) + "/" + std::string(kEnvSecretKey);
    case CredentialSource::kVolume:
      return "the volume record";
    case CredentialSource::kNone:
      break;
  }
  return "nowhere";
}

}  // namespace

EnvLookup ProcessEnv() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

std::string RedactAccessKey(std::string_view key) {
  if (key.empty()) return "";
  if (key.size() <= 12) return std::string(key.substr(0, 2)) + "…";
  return std::string(key.substr(0, 4)) + "…" + std::string(key.substr(key.size() - 4));
}

std::string Credentials::Describe() const {
  if (empty()) return "no credentials";
  return "access key " + RedactAccessKey(access_key) + " from " + SourceName(source) +
         (session_token.empty() ? "" : " (with " + std::string(kEnvSessionToken) + ")");
}

Result<Credentials> ResolveCredentials(const StoreFlags& flags, const EnvLookup& env,
                                       const meta::VolumeConfig* stored) {
  Credentials c;
  if (!flags.access_key.empty() || !flags.secret_key.empty()) {
    if (flags.access_key.empty()) {
      return Invalid("--secret-key was given without --access-key: give both");
    }
    if (flags.secret_key.empty()) {
      return Invalid("--access-key was given without --secret-key: give both (or set " +
                     std::string(kEnvSecretKey) + " and leave out --access-key)");
    }
    c.access_key = flags.access_key;
    c.secret_key = flags.secret_key;
    c.source = CredentialSource::kFlags;
    return c;
  }
  std::string env_key = env(kEnvAccessKey).value_or("");
  std::string env_secret = env(kEnvSecretKey).value_or("");
  if (!env_key.empty() || !env_secret.empty()) {
    if (env_key.empty() || env_secret.empty()) {
      std::string_view set = env_key.empty() ? kEnvSecretKey : kEnvAccessKey;
      std::string_view unset = env_key.empty() ? kEnvAccessKey : kEnvSecretKey;
      return Invalid(std::string(set) + " is set but " + std::string(unset) +
                     " is not: set both, or unset " + std::string(set));
    }
    c.access_key = std::move(env_key);
    c.secret_key = std::move(env_secret);
    c.session_token = env(kEnvSessionToken).value_or("");
    c.source = CredentialSource::kEnvironment;
    return c;
  }
  if (stored != nullptr && !stored->access_key.empty()) {
    if (stored->secret_key.empty()) {
      return Corrupt("volume '" + stored->name +
                     "' keeps an access key without its secret: the volume record is damaged; "
                     "give --access-key and --secret-key");
    }
    c.access_key = stored->access_key;
    c.secret_key = stored->secret_key;
    c.source = CredentialSource::kVolume;
  }
  return c;
}

Result<object::s3::S3Options> ParseS3Bucket(std::string_view text) {
  if (text.empty()) {
    return Invalid("--bucket is required for storage s3: " + std::string(kBucketForms));
  }
  if (text.find("://") == std::string_view::npos) {
    return Invalid("--bucket '" + std::string(text) +
                   "' is not a URL: " + std::string(kBucketForms));
  }
  Result<object::s3::S3Options> options = object::s3::ParseS3Url(text);
  if (!options) return Invalid("--bucket " + options.error().message());
  if (!options->credentials.empty()) {
    Result<Url> url = ParseUrl(text);
    return Invalid("--bucket '" + (url ? url->Redacted() : std::string("(hidden)")) +
                   "' carries credentials: give them with --access-key and --secret-key, or "
                   "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, never in the URL (which is "
                   "shown by 'shoal status')");
  }
  return options;
}

std::string CanonicalBucket(std::string_view url) {
  std::string out(url);
  if (out.find('?') == std::string::npos) {
    size_t body = out.find("://");
    size_t min = body == std::string::npos ? 0 : body + 3;
    while (out.size() > min && out.back() == '/') out.pop_back();
  }
  return out;
}

std::string ResolveRegion(std::string_view bucket_url, std::string_view flag, const EnvLookup& env,
                          bool use_env) {
  if (!flag.empty()) return std::string(flag);
  Result<Url> url = ParseUrl(bucket_url);
  if (url) {
    if (auto it = url->query.find("region"); it != url->query.end() && !it->second.empty()) {
      return it->second;
    }
    std::string from_host = RegionOfHost(Lower(url->host));
    if (!from_host.empty()) return from_host;
  }
  if (use_env) {
    for (std::string_view name : {kEnvRegion, kEnvDefaultRegion}) {
      std::string v = env(name).value_or("");
      if (!v.empty()) return v;
    }
  }
  return std::string(kFallbackRegion);
}

Result<object::IoPolicy> ResolveIoPolicy(const StoreFlags& flags) {
  object::IoPolicy io;
  // Whole milliseconds; NaN and the infinities fail the range checks below.
  auto millis = [](double seconds, std::string_view flag) -> Result<std::chrono::milliseconds> {
    if (!(seconds >= 0 && seconds <= 86'400)) {
      return Invalid("--" + std::string(flag) + " " + std::to_string(seconds) +
                     " is out of range: give seconds from 0 to 86400");
    }
    return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  };
  io.max_attempts = flags.io_retries;
  io.hedge = !flags.io_no_hedge;
  ASSIGN_OR_RETURN(io.stall_timeout, millis(flags.io_timeout_sec, "io-timeout"));
  ASSIGN_OR_RETURN(io.max_time, millis(flags.io_max_time_sec, "io-max-time"));
  RETURN_IF_ERROR(io.Validate());
  return io;
}

Result<StoreSpec> VolumeStoreSpec(const meta::VolumeConfig& config, const StoreFlags& flags,
                                  const EnvLookup& env) {
  StoreSpec spec;
  ASSIGN_OR_RETURN(spec.io, ResolveIoPolicy(flags));
  spec.storage = config.storage;
  spec.bucket = config.bucket;
  if (config.storage == "file") {
    if (config.bucket.empty() || config.bucket.front() != '/') {
      return Corrupt("volume '" + config.name + "' has storage file but bucket '" + config.bucket +
                     "' is not an absolute directory: the volume record is damaged");
    }
    return spec;
  }
  if (config.storage == "mem") return spec;
  if (config.storage != "s3") {
    return Unsupported("volume '" + config.name + "' keeps its data in storage '" + config.storage +
                       "', which this build of shoal does not support: use a newer shoal");
  }
  if (Result<object::s3::S3Options> parsed = ParseS3Bucket(config.bucket); !parsed) {
    return Corrupt("volume '" + config.name + "' has a bucket that does not parse (" +
                   parsed.error().message() + "): the volume record is damaged");
  }
  ASSIGN_OR_RETURN(spec.credentials, ResolveCredentials(flags, env, &config));
  if (spec.credentials.empty()) {
    return Invalid("volume '" + config.name +
                   "' keeps no object-store credentials (it was formatted with "
                   "--no-store-secrets): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give "
                   "--access-key and --secret-key");
  }
  // The region is the bucket's, fixed at format; only a flag overrides it.
  spec.region = !flags.region.empty()    ? flags.region
                : !config.region.empty() ? config.region
                                         : ResolveRegion(config.bucket, "", env, /*use_env=*/false);
  return spec;
}

Status ExplainStoreError(const StoreSpec& spec, std::string_view what, const Status& s) {
  std::string message = s.message().empty() ? s.ToString() : s.message();
  std::string out = std::string(what) + ": " + message;
  if (spec.storage == "s3") {
    // The S3 client's messages say what to do, except for these two: which
    // endpoint to check, and which credentials were refused.
    if (s.code() == Code::kUnavailable && message.find("endpoint") == std::string::npos) {
      out +=
          ": check the endpoint in --bucket (host, port, http or https) and that the server "
          "is up and reachable from here";
    } else if (s.code() == Code::kAccess || s.code() == Code::kNotPermitted) {
      out += " (credentials used: " + spec.credentials.Describe() + ")";
    }
    return Status(s.code(), std::move(out));
  }
  switch (s.code()) {
    case Code::kAccess:
    case Code::kNotPermitted:
      out += ": check the permissions of " + spec.bucket;
      break;
    case Code::kNotFound:
      out += ": check that " + spec.bucket + " exists";
      break;
    case Code::kNoSpace:
      out += ": free some space in " + spec.bucket;
      break;
    case Code::kReadOnly:
      out += ": " + spec.bucket + " is read-only: give a writable directory";
      break;
    default:
      out += ": check --storage and --bucket";
      break;
  }
  return Status(s.code(), std::move(out));
}

Status ProbeStore(object::ObjectStore& store, const StoreSpec& spec, std::string_view prefix,
                  bool require_empty) {
  std::string probe_prefix = std::string(prefix) + ".format-probe-";
  std::string key = probe_prefix + std::to_string(::getpid());
  std::string data =
      "shoal probe " + std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
  auto fail = [&](std::string_view step, const Status& s) {
    return ExplainStoreError(spec,
                             "the object store " + store.Describe() + " does not work (" +
                                 std::string(step) + " a probe object failed)",
                             s);
  };
  if (Status s = store.Put(key, data); !s.ok()) return fail("writing", s);
  // From here on the probe object exists: remove it whatever happens.
  auto cleanup = [&] { (void)store.Delete(key); };
  Result<std::string> got = store.Get(key);
  if (!got) {
    cleanup();
    return fail("reading", got.error());
  }
  if (*got != data) {
    cleanup();
    return fail("reading",
                IoError("read back " + std::to_string(got->size()) +
                        " bytes that differ from the " + std::to_string(data.size()) + " written"));
  }
  object::ListOptions list;
  list.prefix = std::string(prefix);
  list.limit = 100;
  Result<object::ListResult> listed = store.List(list);
  if (!listed) {
    cleanup();
    return fail("listing", listed.error());
  }
  bool seen = false;
  std::string other;
  for (const object::ObjectInfo& o : listed->objects) {
    if (o.key == key) {
      seen = true;
    } else if (!o.key.starts_with(probe_prefix) && other.empty()) {
      other = o.key;
    }
  }
  if (!seen && !listed->truncated) {
    cleanup();
    return fail("listing", IoError("the listing of '" + std::string(prefix) +
                                   "' does not show the object just written"));
  }
  if (Status s = store.Delete(key); !s.ok()) return fail("deleting", s);
  if (require_empty && !other.empty()) {
    return Exists("the object store " + store.Describe() + " already holds objects under '" +
                  std::string(prefix) + "' (such as '" + other +
                  "'): another volume of this name keeps its data there; choose another name or "
                  "another bucket");
  }
  return OkStatus();
}

Result<std::shared_ptr<object::ObjectStore>> OpenStore(const StoreSpec& spec, bool create_bucket,
                                                       bool* created) {
  if (created != nullptr) *created = false;
  if (spec.storage == "file" || spec.storage == "mem") {
    std::string url =
        spec.storage == "mem" ? std::string("mem://") : "file://" + fuse::AbsolutePath(spec.bucket);
    Result<std::shared_ptr<object::ObjectStore>> store = object::OpenObjectStore(url);
    if (!store) return ExplainStoreError(spec, "the object store cannot be opened", store.error());
    return store;
  }
  if (spec.storage != "s3") {
    return Invalid("storage '" + spec.storage + "' is unknown: use " + std::string(kStorageKinds));
  }
  ASSIGN_OR_RETURN(object::s3::S3Options options, ParseS3Bucket(spec.bucket));
  options.region = spec.region;
  options.retry = spec.io;
  options.credentials.access_key = spec.credentials.access_key;
  options.credentials.secret_key = spec.credentials.secret_key;
  options.credentials.session_token = spec.credentials.session_token;
  Result<std::unique_ptr<object::s3::S3Store>> store = object::s3::S3Store::Open(options);
  if (!store) return ExplainStoreError(spec, "the bucket cannot be used", store.error());
  Status checked = (*store)->CheckBucket();
  if (checked.code() == Code::kNotFound && create_bucket) {
    checked = (*store)->EnsureBucket();
    if (checked.ok() && created != nullptr) *created = true;
    if (!checked.ok()) {
      return ExplainStoreError(spec, "the bucket does not exist and cannot be created", checked);
    }
  }
  if (!checked.ok()) return ExplainStoreError(spec, "the bucket cannot be used", checked);
  return std::shared_ptr<object::ObjectStore>(std::move(*store));
}

}  // namespace shoal::cli
