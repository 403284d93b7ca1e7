// OpenObjectStore: from a URL to a store.
#include <memory>
#include <string>

#include "common/url.h"
#include "object/file_store.h"
#include "object/mem_store.h"
#include "object/object_store.h"

namespace shoal::object {
namespace {

constexpr std::string_view kAccepted =
    "object stores are given as mem:// or file:///absolute/directory";

Result<std::shared_ptr<ObjectStore>> OpenFile(const Url& url) {
  if (!url.host.empty() && url.host != "localhost") {
    return Invalid("'" + url.Redacted() + "' names the host '" + url.host +
                   "': a file store takes an absolute local path after three slashes, as in "
                   "file:///var/lib/shoal/data");
  }
  if (url.path.empty() || url.path == "/") {
    return Invalid("'" + url.Redacted() +
                   "' names no directory: give one, as in file:///var/lib/shoal/data");
  }
  if (!url.user.empty() || !url.password.empty() || url.port != 0) {
    return Invalid("'" + url.Redacted() + "': a file store takes no user, password or port");
  }
  if (!url.query.empty()) {
    return Invalid("'" + url.Redacted() + "': a file store takes no options, but got '" +
                   url.query.begin()->first + "'");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<FileStore> store, FileStore::Open(url.path));
  return std::shared_ptr<ObjectStore>(std::move(store));
}

Result<std::shared_ptr<ObjectStore>> OpenMem(const Url& url) {
  if (!url.path.empty() && url.path != "/") {
    return Invalid("'" + url.Redacted() + "': a mem store takes no path (use mem://)");
  }
  if (!url.query.empty() || !url.user.empty() || !url.password.empty() || url.port != 0) {
    return Invalid("'" + url.Redacted() + "': a mem store takes no options (use mem://)");
  }
  return std::shared_ptr<ObjectStore>(std::make_shared<MemStore>(url.host));
}

}  // namespace

Result<std::shared_ptr<ObjectStore>> OpenObjectStore(std::string_view text) {
  Result<Url> url = ParseUrl(text);
  if (!url.has_value()) {
    return Invalid(url.error().message() + "; " + std::string(kAccepted));
  }
  if (url->scheme == "mem") return OpenMem(*url);
  if (url->scheme == "file") return OpenFile(*url);
  if (url->scheme == "s3" || url->scheme == "http" || url->scheme == "https") {
    return Unsupported("'" + url->Redacted() + "': S3 object stores are not supported yet; " +
                       std::string(kAccepted));
  }
  return Invalid("'" + url->Redacted() + "' has the unknown scheme '" + url->scheme + "'; " +
                 std::string(kAccepted));
}

}  // namespace shoal::object
