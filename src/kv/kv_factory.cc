// OpenKv: engines by URL, and PrefixEnd.
#include <memory>
#include <string>

#include "common/url.h"
#include "kv/kv.h"
#include "kv/mem_kv.h"
#include "kv/redis_kv.h"
#include "kv/rocksdb_kv.h"

namespace shoal::kv {
namespace {

constexpr std::string_view kAcceptedForms =
    "metadata engines accept rocksdb:///abs/path, "
    "redis://[user:password@]host[:port][/db][?prefix=NAME&timeout=SECONDS] and mem:// "
    "(postgres:// comes later)";

Status BadUrl(const Url& url, std::string_view what) {
  return Invalid("metadata URL '" + url.Redacted() + "' " + std::string(what) + "; " +
                 std::string(kAcceptedForms));
}

Result<bool> ParseBool(const Url& url, const std::string& key, const std::string& value) {
  if (value == "1" || value == "true" || value == "yes" || value.empty()) return true;
  if (value == "0" || value == "false" || value == "no") return false;
  return BadUrl(url, "has " + key + "=" + value + ", which is not true or false");
}

Result<std::shared_ptr<Engine>> OpenRocksDbUrl(const Url& url, bool create) {
  if (!url.host.empty() || url.port != 0 || !url.user.empty() || !url.password.empty()) {
    return BadUrl(url,
                  "names a host; rocksdb takes a local absolute path after three slashes, "
                  "as in rocksdb:///var/lib/shoal/demo.meta");
  }
  if (url.path.empty() || url.path == "/") {
    return BadUrl(url, "has no path; write rocksdb:///var/lib/shoal/demo.meta");
  }
  RocksDbOptions options;
  options.create = create;
  for (const auto& [key, value] : url.query) {
    if (key == "sync") {
      ASSIGN_OR_RETURN(options.sync_writes, ParseBool(url, key, value));
    } else {
      return BadUrl(url, "has the unknown option '" + key + "' (rocksdb knows only sync=true)");
    }
  }
  return OpenRocksDb(url.path, options);
}

Result<std::shared_ptr<Engine>> OpenRedisUrl(const Url& url) {
  auto options = RedisOptionsFromUrl(url);
  if (!options) return BadUrl(url, options.error().message());
  ASSIGN_OR_RETURN(std::shared_ptr<RedisEngine> engine, OpenRedis(*options));
  return engine;
}

}  // namespace

Result<std::shared_ptr<Engine>> OpenKv(std::string_view text, bool create) {
  auto url = ParseUrl(text);
  if (!url) return Invalid(url.error().message() + "; " + std::string(kAcceptedForms));

  if (url->scheme == "mem") {
    if (!url->host.empty() || url->port != 0 || !url->user.empty() || !url->password.empty() ||
        (!url->path.empty() && url->path != "/") || !url->query.empty()) {
      return BadUrl(*url, "has a host, path or options, which mem:// does not take");
    }
    return std::make_shared<MemEngine>();
  }
  if (url->scheme == "rocksdb") return OpenRocksDbUrl(*url, create);
  // `create` means nothing to redis: an empty prefix is an empty database.
  if (url->scheme == "redis") return OpenRedisUrl(*url);
  return BadUrl(*url, "has the unknown scheme '" + url->scheme + "'");
}

std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  // Drop trailing 0xff bytes, which cannot be incremented, then increment the
  // last byte: every key starting with `prefix` is below the result.
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) end.pop_back();
  if (!end.empty()) end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

}  // namespace shoal::kv
