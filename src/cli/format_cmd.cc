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

// Writes, reads back and deletes one object, so that a store that does not
// work is found before a volume points at it.
Status ProbeStore(object::ObjectStore& store, const std::string& volume) {
  std::string key = volume + "/.format-probe-" + std::to_string(::getpid());
  std::string data = "shoal format probe " +
                     std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
  auto fail = [&](std::string_view step, const Status& s) {
    return Status(s.code(), "the object store " + store.Describe() + " does not work (" +
                                std::string(step) + " of a probe object failed: " + s.message() +
                                "): check that it exists and is writable");
  };
  if (Status s = store.Put(key, data); !s.ok()) return fail("writing", s);
  Result<std::string> got = store.Get(key);
  if (!got) return fail("reading", got.error());
  if (*got != data) {
    return fail("reading",
                IoError("read back " + std::to_string(got->size()) +
                        " bytes that differ from the " + std::to_string(data.size()) + " written"));
  }
  if (Status s = store.Delete(key); !s.ok()) return fail("deleting", s);
  return OkStatus();
}

struct Request {
  meta::VolumeConfig config;
  std::string store_url;
  std::string db_dir;      // the RocksDB directory, when the meta URL names one
  std::string bucket_dir;  // the data directory, for storage file
  std::string meta_shown;  // the meta URL with any password hidden
};

Result<Request> Validate(const FormatArgs& a) {
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

  if (a.storage == "s3") {
    return Unsupported("storage 's3' is not supported yet: use --storage file");
  }
  if (a.storage == "file") {
    if (a.bucket.empty()) {
      return Invalid("--bucket is required for storage file: give the directory to keep data in");
    }
    r.bucket_dir = fuse::AbsolutePath(a.bucket);
    r.config.bucket = r.bucket_dir;
    r.store_url = "file://" + r.bucket_dir;
  } else if (a.storage == "mem") {
    // Data in memory lives as long as the mount: for tests and trials only.
    r.store_url = "mem://";
  } else {
    return Invalid("storage '" + a.storage + "' is unknown: use file (or mem for trials)");
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

// Does the work; the caller undoes the directories on failure.
Result<meta::VolumeConfig> DoFormat(const FormatArgs& a, const Request& r) {
  ASSIGN_OR_RETURN(std::shared_ptr<kv::Engine> engine, kv::OpenKv(a.meta_url, /*create=*/true));
  Result<meta::VolumeConfig> existing = meta::Meta::Load(*engine);
  if (existing) {
    return Exists("a volume '" + existing->name + "' already exists in " + r.meta_shown +
                  "; refusing to overwrite it: choose another meta URL");
  }
  if (existing.error().code() != Code::kNotFound) return existing.error();

  Result<std::shared_ptr<object::ObjectStore>> opened = object::OpenObjectStore(r.store_url);
  if (!opened) {
    return Status(opened.error().code(),
                  "the object store cannot be opened: " + opened.error().message() +
                      ": check --storage and --bucket");
  }
  std::shared_ptr<object::ObjectStore> store = std::move(*opened);
  RETURN_IF_ERROR(ProbeStore(*store, r.config.name));

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
  Result<Request> r = Validate(a);
  if (!r) {
    PrintError(kCmd, r.error());
    return kExitError;
  }
  DirUndo db_undo(r->db_dir);
  DirUndo bucket_undo(r->bucket_dir);
  // DoFormat's engine is closed when it returns, so the undo may remove its files.
  Result<meta::VolumeConfig> config = DoFormat(a, *r);
  if (!config) {
    bucket_undo.Undo();
    db_undo.Undo();
    PrintError(kCmd, config.error());
    return kExitError;
  }

  const meta::VolumeConfig& c = *config;
  if (a.json) {
    nlohmann::json j = {{"name", c.name},         {"uuid", c.uuid},
                        {"meta", r->meta_shown},  {"storage", c.storage},
                        {"bucket", c.bucket},     {"block_size", c.block_size},
                        {"capacity", c.capacity}, {"format_version", c.format_version}};
    std::cout << fuse::DumpJson(j, 2) << "\n";
    return kExitOk;
  }
  std::cout << "formatted volume " << c.name << "\n"
            << "  uuid        " << c.uuid << "\n"
            << "  meta        " << r->meta_shown << "\n"
            << "  storage     " << c.storage << (c.bucket.empty() ? "" : " " + c.bucket) << "\n"
            << "  block size  " << FormatBytes(c.block_size) << "\n"
            << "  capacity    " << (c.capacity == 0 ? "unlimited" : FormatBytes(c.capacity))
            << "\n";
  return kExitOk;
}

}  // namespace shoal::cli
