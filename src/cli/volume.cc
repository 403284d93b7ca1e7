#include "cli/volume.h"

#include <sys/stat.h>
#include <sys/xattr.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "cli/args.h"
#include "fuse/mountpoint.h"

namespace shoal::cli {
namespace {

// Tries before giving up on a value that keeps growing between the size
// probe and the read (a file being written while info runs).
constexpr int kXattrAttempts = 5;

std::string Join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const std::string& s : items) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

}  // namespace

std::vector<std::string> ShoalMounts() {
  std::vector<std::string> out;
  Result<std::vector<fuse::MountEntry>> table = fuse::ReadMountTable();
  if (!table) return out;
  for (const fuse::MountEntry& e : *table) {
    if (e.fstype == fuse::kMountType) out.push_back(e.mountpoint);
  }
  return out;
}

Result<std::shared_ptr<kv::Engine>> OpenMetaEngine(std::string_view url,
                                                   std::string_view busy_hint) {
  RETURN_IF_ERROR(CheckMetaUrl(url));
  Result<std::shared_ptr<kv::Engine>> engine = kv::OpenKv(url, /*create=*/false);
  if (engine) return engine;
  const Status& s = engine.error();
  if (s.code() == Code::kNotFound) {
    return NotFound("no volume in " + std::string(url) + ": run 'shoal format " + std::string(url) +
                    " NAME --storage file --bucket DIR' first");
  }
  if (s.code() == Code::kBusy) {
    std::vector<std::string> mounts = ShoalMounts();
    std::string where =
        mounts.empty() ? std::string("") : " (shoal mounts here: " + Join(mounts, ", ") + ")";
    return Status(Code::kBusy, s.message() + ": " + std::string(busy_hint) + where);
  }
  return s;
}

Result<std::unique_ptr<meta::Meta>> OpenVolume(std::shared_ptr<kv::Engine> engine,
                                               std::string_view url) {
  Result<std::unique_ptr<meta::Meta>> m = meta::Meta::Open(std::move(engine));
  if (m) return m;
  if (m.error().code() == Code::kNotFound) {
    return NotFound("no volume in " + std::string(url) + ": run 'shoal format " + std::string(url) +
                    " NAME --storage file --bucket DIR' first");
  }
  return m.error();
}

Result<nlohmann::json> ReadJsonXattr(const std::string& path, std::string_view name_view) {
  std::string name(name_view);
  auto fail = [&](int err) -> Status {
    switch (err) {
      case ENOENT:
        return NotFound(path + " does not exist: give a path inside a shoal mount");
      case ENOTCONN:
        return Unavailable("the shoal process serving " + path +
                           " has died (transport endpoint is not connected): run 'shoal umount' "
                           "on its mountpoint and mount again");
      case EACCES:
      case EPERM:
        return AccessDenied(path + " cannot be read: " + std::strerror(err) +
                            ": run as a user who may read it");
      case ENODATA:
      case ENOTSUP: {
        struct stat st {};
        if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
          return Invalid(path +
                         " is neither a regular file nor a directory: the kernel passes info "
                         "requests for those only");
        }
        return Invalid(path + " is not in a shoal mount: give a path inside one");
      }
      default:
        return IoError("reading " + name + " of " + path + " failed: " + std::strerror(err));
    }
  };
  for (int attempt = 0; attempt < kXattrAttempts; ++attempt) {
    ssize_t need = ::getxattr(path.c_str(), name.c_str(), nullptr, 0);
    if (need < 0) return fail(errno);
    std::string buf(static_cast<size_t>(need) + 4096, '\0');
    ssize_t got = ::getxattr(path.c_str(), name.c_str(), buf.data(), buf.size());
    if (got < 0) {
      if (errno == ERANGE) continue;
      return fail(errno);
    }
    buf.resize(static_cast<size_t>(got));
    nlohmann::json j = nlohmann::json::parse(buf, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      return Corrupt("the mount answered " + name + " of " + path +
                     " with text that is not JSON: is it a shoal mount of the same version?");
    }
    return j;
  }
  return IoError(name + " of " + path + " kept changing size while being read: try again");
}

}  // namespace shoal::cli
