// OpenObjectStore: from a URL to a store.
#include <memory>
#include <string>

#include "common/url.h"
#include "object/file_store.h"
#include "object/mem_store.h"
#include "object/object_store.h"
#include "object/s3/s3_options.h"
#include "object/s3/s3_store.h"

namespace shoal::object {
namespace {

constexpr std::string_view kAccepted =
    "object stores are given as mem://, file:///absolute/directory, "
    "s3://host[:port]/bucket[/prefix][?region=R&path_style=true|false&tls=true|false], "
    "http(s)://host[:port]/bucket[/prefix] or https://bucket.s3.REGION.amazonaws.com[/prefix]";

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

// Credentials: the first non-empty of those given, those in the URL, those
// in the environment.
Result<std::shared_ptr<ObjectStore>> OpenS3(std::string_view text,
                                            const s3::Credentials& credentials) {
  ASSIGN_OR_RETURN(s3::S3Options options, s3::ParseS3Url(text));
  if (!credentials.empty()) {
    options.credentials = credentials;
  } else if (options.credentials.empty()) {
    options.credentials = s3::CredentialsFromEnvironment();
  }
  if (options.credentials.access_key.empty() || options.credentials.secret_key.empty()) {
    return Invalid("s3 store " + options.Describe() +
                   ": no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and "
                   "AWS_SESSION_TOKEN for temporary credentials)");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<s3::S3Store> store, s3::S3Store::Open(std::move(options)));
  return std::shared_ptr<ObjectStore>(std::move(store));
}

}  // namespace

Result<std::shared_ptr<ObjectStore>> OpenObjectStore(std::string_view text) {
  return OpenObjectStore(text, s3::Credentials{});
}

Result<std::shared_ptr<ObjectStore>> OpenObjectStore(std::string_view text,
                                                     const s3::Credentials& credentials) {
  Result<Url> url = ParseUrl(text);
  if (!url.has_value()) {
    return Invalid(url.error().message() + "; " + std::string(kAccepted));
  }
  if (url->scheme == "mem") return OpenMem(*url);
  if (url->scheme == "file") return OpenFile(*url);
  if (url->scheme == "s3" || url->scheme == "http" || url->scheme == "https") {
    return OpenS3(text, credentials);
  }
  return Invalid("'" + url->Redacted() + "' has the unknown scheme '" + url->scheme + "'; " +
                 std::string(kAccepted));
}

}  // namespace shoal::object
