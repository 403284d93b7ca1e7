// shoal status: a volume's settings, usage and sessions, read from its meta
// URL, or from a running mount (which is the only way while a RocksDB volume
// is mounted: RocksDB lets one process open it).
#include <unistd.h>

#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/storage.h"
#include "cli/volume.h"
#include "fuse/info.h"
#include "fuse/mountpoint.h"
#include "meta/meta.h"

namespace shoal::cli {
namespace {

constexpr std::string_view kCmd = "status";

using nlohmann::json;

std::string UtcTime(int64_t sec) {
  std::time_t t = static_cast<std::time_t>(sec);
  std::tm tm{};
  if (::gmtime_r(&t, &tm) == nullptr) return std::to_string(sec);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

// Values read from JSON with defaults, so that an answer from an older or
// newer mount prints what it has instead of failing.
template <typename T>
T Get(const json& j, const char* key, T fallback) {
  if (!j.is_object() || !j.contains(key)) return fallback;
  const json& v = j[key];
  if constexpr (std::is_same_v<T, std::string>) {
    return v.is_string() ? v.get<std::string>() : fallback;
  } else if constexpr (std::is_same_v<T, bool>) {
    return v.is_boolean() ? v.get<bool>() : fallback;
  } else {
    return v.is_number() ? v.get<T>() : fallback;
  }
}

// The region and key lines of an s3 volume (status from a meta URL only:
// the volume record is at hand there).
std::string S3Lines(const json& v) {
  std::string out;
  if (v.contains("region")) out += "  region    " + Get<std::string>(v, "region", "") + "\n";
  if (v.contains("secrets_stored")) {
    out += "  keys      ";
    out += Get<bool>(v, "secrets_stored", false)
               ? "access key " + Get<std::string>(v, "access_key", "") +
                     " and its secret stored in the volume"
               : std::string("none stored: mounts take them from flags or the environment");
    out += "\n";
  }
  return out;
}

// The mount's cache and transfer counters (only a mount has them).
void PrintDataPath(const json& d) {
  const json& r = d.value("reads", json::object());
  const json& f = d.value("fetches", json::object());
  const json& ra = d.value("readahead", json::object());
  const json& up = d.value("uploads", json::object());
  const json& c = d.value("cache", json::object());
  uint64_t hits = Get<uint64_t>(r, "hits", 0), misses = Get<uint64_t>(r, "misses", 0);
  uint64_t limit = Get<uint64_t>(c, "limit_bytes", 0);
  std::cout << "cache       "
            << (limit == 0 ? std::string("in memory only")
                           : FormatBytes(Get<uint64_t>(c, "bytes", 0)) + " of " +
                                 FormatBytes(limit) + " on disk in " +
                                 std::to_string(Get<uint64_t>(c, "blocks", 0)) + " blocks")
            << (Get<bool>(c, "scanning", false) ? " (still indexing)" : "") << "\n"
            << "  reads     " << hits << " hits, " << misses << " misses";
  if (hits + misses > 0) std::cout << " (" << (100 * hits / (hits + misses)) << "% hits)";
  std::cout << "\n  fetched   " << Get<uint64_t>(f, "count", 0) << " blocks, "
            << FormatBytes(Get<uint64_t>(f, "bytes", 0)) << ", " << Get<uint64_t>(f, "errors", 0)
            << " errors\n"
            << "  readahead " << Get<uint64_t>(ra, "issued", 0) << " blocks ("
            << Get<uint64_t>(ra, "used", 0) << " used, " << Get<uint64_t>(ra, "wasted", 0)
            << " wasted)\n"
            << "  uploaded  " << Get<uint64_t>(up, "count", 0) << " blocks, "
            << FormatBytes(Get<uint64_t>(up, "bytes", 0)) << "; "
            << Get<uint64_t>(up, "staged_pending", 0) << " staged and waiting";
  if (uint64_t deferred = Get<uint64_t>(up, "deferred", 0); deferred != 0) {
    std::cout << " (" << deferred << " kept after the store failed them)";
  }
  std::cout << "\n"
            << "  buffered  " << FormatBytes(Get<uint64_t>(d, "buffered_bytes", 0)) << "\n"
            << "  damaged   " << Get<uint64_t>(c, "corrupt", 0)
            << " cached blocks failed their checksum (dropped and fetched again)\n";
}

void PrintHuman(const json& status) {
  const json& v = status.value("volume", json::object());
  const json& u = status.value("usage", json::object());
  const json& sessions = status.value("sessions", json::array());
  int64_t now = meta::Now().sec;
  uint64_t capacity = Get<uint64_t>(v, "capacity", 0);
  std::string bucket = Get<std::string>(v, "bucket", "");
  std::cout << "volume      " << Get<std::string>(v, "name", "?") << "\n"
            << "  uuid      " << Get<std::string>(v, "uuid", "?") << "\n"
            << "  storage   " << Get<std::string>(v, "storage", "?")
            << (bucket.empty() ? "" : " " + bucket) << "\n"
            << S3Lines(v) << "  block     " << FormatBytes(Get<uint64_t>(v, "block_size", 0))
            << "\n"
            << "  capacity  " << (capacity == 0 ? "unlimited" : FormatBytes(capacity)) << "\n"
            << "  format    version " << Get<uint64_t>(v, "format_version", 0) << "\n"
            << "  created   " << UtcTime(Get<int64_t>(v, "created_sec", 0)) << "\n";
  uint64_t used = Get<uint64_t>(u, "used_bytes", 0);
  std::cout << "usage       " << FormatBytes(used) << " (" << used << " bytes) in "
            << Get<uint64_t>(u, "inodes", 0) << " inodes";
  if (uint64_t pending = Get<uint64_t>(u, "pending_delete_slices", 0); pending != 0) {
    std::cout << "; " << pending << " slices waiting for deletion";
  }
  std::cout << "\n";
  std::cout << "sessions    " << sessions.size() << (sessions.empty() ? " (not mounted)" : "")
            << "\n";
  for (const json& s : sessions) {
    std::cout << "  #" << Get<uint64_t>(s, "id", 0) << "  " << Get<std::string>(s, "host", "?")
              << " pid " << Get<uint64_t>(s, "pid", 0) << "  on "
              << Get<std::string>(s, "mountpoint", "?") << "  version "
              << Get<std::string>(s, "version", "?") << "  heartbeat "
              << FormatAge(now - Get<int64_t>(s, "heartbeat_sec", now)) << " ago\n";
  }
  if (status.contains("data_path")) PrintDataPath(status["data_path"]);
  if (status.contains("served_by")) {
    const json& by = status["served_by"];
    std::cout << "read from   the mount on " << Get<std::string>(by, "mountpoint", "?") << " (pid "
              << Get<uint64_t>(by, "pid", 0) << ")\n";
  }
}

Result<json> StatusFromUrl(const std::string& url) {
  ASSIGN_OR_RETURN(std::shared_ptr<kv::Engine> engine,
                   OpenMetaEngine(url,
                                  "RocksDB lets only one process open it: run 'shoal status "
                                  "MOUNTPOINT' against the mount instead"));
  ASSIGN_OR_RETURN(std::unique_ptr<meta::Meta> meta, OpenVolume(engine, url));
  ASSIGN_OR_RETURN(json status, fuse::VolumeStatus(*meta));
  const meta::VolumeConfig& c = meta->config();
  if (c.storage == "s3" && status.contains("volume") && status["volume"].is_object()) {
    // The access key id only redacted, the secret never: whoever can run
    // status may not be whoever may use the bucket.
    json& v = status["volume"];
    v["region"] = c.region;
    v["access_key"] = RedactAccessKey(c.access_key);
    v["secrets_stored"] = !c.secret_key.empty();
  }
  return status;
}

}  // namespace

int RunStatus(const StatusArgs& a) {
  Result<json> status;
  if (a.target.find("://") != std::string::npos) {
    status = StatusFromUrl(a.target);
  } else if (::access(a.target.c_str(), F_OK) == 0 || errno == ENOTCONN) {
    status = ReadJsonXattr(fuse::AbsolutePath(a.target), fuse::kStatusXattr);
    if (!status && status.error().code() == Code::kInvalid) {
      status = Invalid(a.target + " is neither a meta URL nor a shoal mount: give " +
                       std::string(kMetaUrlForms) + ", or the mountpoint of a running mount");
    }
  } else {
    status = Invalid("'" + a.target + "' is neither a meta URL nor an existing path: give " +
                     std::string(kMetaUrlForms) + ", or the mountpoint of a running mount");
  }
  if (!status) {
    PrintError(kCmd, status.error());
    return kExitError;
  }
  if (a.json) {
    std::cout << fuse::DumpJson(*status, 2) << "\n";
  } else {
    PrintHuman(*status);
  }
  return kExitOk;
}

}  // namespace shoal::cli
