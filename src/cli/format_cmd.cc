// shoal format: writes a new volume record into an empty metadata namespace,
// after checking that the object store works. Leaves nothing behind on
// failure: a database or data directory it created is removed again.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <system_error>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/storage.h"
#include "cli/volume.h"
#include "common/url.h"
#include "fuse/info.h"
#include "fuse/mountpoint.h"
#include "kv/kv.h"
#include "meta/meta.h"
#include "object/object_store.h"

namespace shoal::cli {
namespace {

namespace fs = std::filesystem;

// What a directory looked like before format touched it, so that a failure
// can put it back: remove it if it was missing, empty it if it was empty.
class DirUndo {
 public:
  explicit DirUndo(std::string path) : path_(std::move(path)) {
    std::error_code ec;
    if (path_.empty() || !fs::exists(path_, ec)) {
      state_ = State::kMissing;
    } else if (fs::is_directory(path_, ec) && fs::is_empty(path_, ec)) {
      state_ = State::kEmpty;
    }
  }
  DirUndo(const DirUndo&) = delete;
  DirUndo& operator=(const DirUndo&) = delete;

  // Whether the directory did not exist before.
  bool created() const { return state_ == State::kMissing; }

  // Puts the directory back as it was; errors are ignored (best effort).
  void Undo() {
    if (path_.empty()) return;
    std::error_code ec;
    if (state_ == State::kMissing) {
      fs::remove_all(path_, ec);
    } else if (state_ == State::kEmpty) {
      for (const auto& entry : fs::directory_iterator(path_, ec)) fs::remove_all(entry.path(), ec);
    }
  }

 private:
  enum class State { kMissing, kEmpty, kNonEmpty };
  std::string path_;
  State state_ = State::kNonEmpty;
};

struct Request {
  meta::VolumeConfig config;
  StoreSpec store;
  std::string db_dir;      // the RocksDB directory, when the meta URL names one
  std::string bucket_dir;  // the data directory, for storage file
  std::string meta_shown;  // the meta URL with any password hidden
  bool secrets_stored = false;
  std::string credentials_note;  // why credentials were not stored, for the user
};

Result<Request> Validate(const FormatArgs& a, const EnvLookup& env) {
  Request r;
  RETURN_IF_ERROR(CheckMetaUrl(a.meta_url));
  if (a.meta_url.starts_with("mem:")) {
    return Invalid("meta URL " + a.meta_url + " keeps nothing once this command exits: use " +
                   std::string(kMetaUrlForms));
  }
  ASSIGN_OR_RETURN(Url url, ParseUrl(a.meta_url));
  if (url.scheme == "rocksdb") r.db_dir = url.path;
  r.meta_shown = url.Redacted();
  RETURN_IF_ERROR(CheckVolumeName(a.name));
  r.config.name = a.name;

  bool s3_flags = !a.store.access_key.empty() || !a.store.secret_key.empty() ||
                  !a.store.region.empty() || a.no_store_secrets;
  if (a.storage != "s3" && s3_flags) {
    return Invalid(
        "--access-key, --secret-key, --region and --no-store-secrets are for "
        "--storage s3 only");
  }
  r.store.storage = a.storage;
  ASSIGN_OR_RETURN(r.store.io, ResolveIoPolicy(a.store));
  if (a.storage == "s3") {
    if (auto parsed = ParseS3Bucket(a.bucket); !parsed) return parsed.error();
    ASSIGN_OR_RETURN(r.store.credentials, ResolveCredentials(a.store, env, nullptr));
    if (r.store.credentials.empty()) {
      return Invalid(
          "storage s3 needs credentials: give --access-key and --secret-key, or set "
          "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
    }
    r.store.bucket = CanonicalBucket(a.bucket);
    r.store.region = ResolveRegion(r.store.bucket, a.store.region, env, /*use_env=*/true);
    r.config.bucket = r.store.bucket;
    r.config.region = r.store.region;
    if (a.no_store_secrets) {
      r.credentials_note = "not stored (--no-store-secrets)";
    } else if (!r.store.credentials.session_token.empty()) {
      // Temporary credentials expire: a mount days later could not use them.
      r.credentials_note = "not stored: temporary credentials (AWS_SESSION_TOKEN) expire";
    } else {
      r.config.access_key = r.store.credentials.access_key;
      r.config.secret_key = r.store.credentials.secret_key;
      r.secrets_stored = true;
    }
  } else if (a.storage == "file") {
    if (a.bucket.empty()) {
      return Invalid("--bucket is required for storage file: give the directory to keep data in");
    }
    r.bucket_dir = fuse::AbsolutePath(a.bucket);
    r.config.bucket = r.bucket_dir;
    r.store.bucket = r.bucket_dir;
  } else if (a.storage == "mem") {
    // Data in memory lives as long as the mount: for tests and trials only.
  } else {
    return Invalid("storage '" + a.storage + "' is unknown: use " + std::string(kStorageKinds));
  }
  r.config.storage = a.storage;

  ASSIGN_OR_RETURN(uint64_t block_size, ParseSize(a.block_size, "--block-size"));
  RETURN_IF_ERROR(CheckBlockSize(block_size));
  r.config.block_size = static_cast<uint32_t>(block_size);
  ASSIGN_OR_RETURN(r.config.capacity, ParseSize(a.capacity, "--capacity"));
  r.config.format_version = meta::kFormatVersion;
  r.config.created_sec = meta::Now().sec;
  return r;
}

// Does the work; the caller undoes the directories on failure. The object
// store is checked before the volume record is written, so a failure leaves
// no volume behind.
Result<meta::VolumeConfig> DoFormat(const FormatArgs& a, const Request& r, bool* bucket_created) {
  ASSIGN_OR_RETURN(std::shared_ptr<kv::Engine> engine, kv::OpenKv(a.meta_url, /*create=*/true));
  Result<meta::VolumeConfig> existing = meta::Meta::Load(*engine);
  if (existing) {
    return Exists("a volume '" + existing->name + "' already exists in " + r.meta_shown +
                  "; refusing to overwrite it: choose another meta URL");
  }
  if (existing.error().code() != Code::kNotFound) return existing.error();

  ASSIGN_OR_RETURN(std::shared_ptr<object::ObjectStore> store,
                   OpenStore(r.store, /*create_bucket=*/true, bucket_created));
  RETURN_IF_ERROR(ProbeStore(*store, r.store, r.config.name + "/", /*require_empty=*/true));

  if (Status s = meta::Meta::Format(*engine, r.config); !s.ok()) {
    if (s.code() == Code::kExists) {
      return Exists("a volume already exists in " + r.meta_shown +
                    "; refusing to overwrite it: choose another meta URL");
    }
    return s;
  }
  return meta::Meta::Load(*engine);
}

}  // namespace

int RunFormat(const FormatArgs& a) {
  constexpr std::string_view kCmd = "format";
  Result<Request> r = Validate(a, ProcessEnv());
  if (!r) {
    PrintError(kCmd, r.error());
    return kExitError;
  }
  DirUndo db_undo(r->db_dir);
  DirUndo bucket_undo(r->bucket_dir);
  // DoFormat's engine is closed when it returns, so the undo may remove its files.
  bool bucket_created = false;
  Result<meta::VolumeConfig> config = DoFormat(a, *r, &bucket_created);
  if (!config) {
    bucket_undo.Undo();
    db_undo.Undo();
    std::string message = config.error().message();
    if (bucket_created) {
      // The S3 client has no way to remove a bucket; say what is left.
      message += " (the bucket was created by this command and is left, empty)";
    }
    PrintError(kCmd, message);
    return kExitError;
  }
  if (r->secrets_stored && db_undo.created()) {
    // The record holds a secret: keep the database this command created
    // readable by its owner only.
    std::error_code ec;
    fs::permissions(r->db_dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  }

  const meta::VolumeConfig& c = *config;
  std::string credentials;
  if (c.storage == "s3") {
    credentials = r->secrets_stored
                      ? "access key " + RedactAccessKey(c.access_key) + " stored in the volume"
                      : r->credentials_note +
                            ": every mount needs --access-key and --secret-key, or "
                            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY";
  }
  if (a.json) {
    nlohmann::json j = {{"name", c.name},         {"uuid", c.uuid},
                        {"meta", r->meta_shown},  {"storage", c.storage},
                        {"bucket", c.bucket},     {"block_size", c.block_size},
                        {"capacity", c.capacity}, {"format_version", c.format_version}};
    if (c.storage == "s3") {
      j["region"] = c.region;
      j["access_key"] = RedactAccessKey(r->store.credentials.access_key);
      j["secrets_stored"] = r->secrets_stored;
    }
    std::cout << fuse::DumpJson(j, 2) << "\n";
    return kExitOk;
  }
  std::cout << "formatted volume " << c.name << "\n"
            << "  uuid         " << c.uuid << "\n"
            << "  meta         " << r->meta_shown << "\n"
            << "  storage      " << c.storage << (c.bucket.empty() ? "" : " " + c.bucket) << "\n";
  if (c.storage == "s3") {
    std::cout << "  region       " << c.region << "\n"
              << "  credentials  " << credentials << "\n";
  }
  std::cout << "  block size   " << FormatBytes(c.block_size) << "\n"
            << "  capacity     " << (c.capacity == 0 ? "unlimited" : FormatBytes(c.capacity))
            << "\n";
  return kExitOk;
}

}  // namespace shoal::cli
