#include "object/s3/s3_options.h"

#include <stdlib.h>

#include <cctype>
#include <string>

#include "common/url.h"

namespace shoal::object::s3 {
namespace {

constexpr std::string_view kForms =
    "S3 stores are given as s3://host[:port]/bucket[/prefix][?region=R&path_style=true|false&"
    "tls=true|false], http(s)://host[:port]/bucket[/prefix] or "
    "https://bucket.s3.REGION.amazonaws.com[/prefix]";

constexpr std::string_view kAwsSuffix = ".amazonaws.com";

// "s3.eu-west-1.amazonaws.com" or "s3-eu-west-1.amazonaws.com" give
// "eu-west-1"; "s3.amazonaws.com" and other hosts give "".
std::string RegionOfAwsHost(std::string_view host) {
  if (!host.ends_with(kAwsSuffix)) return "";
  host.remove_suffix(kAwsSuffix.size());
  // Drop the service label and what precedes it ("bucket.s3.", "s3-").
  size_t s3 = host.rfind("s3.");
  size_t s3dash = host.rfind("s3-");
  size_t start;
  if (s3 != std::string_view::npos && (s3dash == std::string_view::npos || s3 > s3dash)) {
    start = s3 + 3;
  } else if (s3dash != std::string_view::npos) {
    start = s3dash + 3;
  } else {
    return "";
  }
  std::string_view region = host.substr(start);
  // "s3.dualstack.us-east-1" and "s3-accelerate" are not regions.
  if (region.starts_with("dualstack.")) region.remove_prefix(10);
  if (region.empty() || region == "accelerate" || region.find('.') != std::string_view::npos) {
    return "";
  }
  return std::string(region);
}

Result<bool> ParseBool(const std::string& name, const std::string& value) {
  // A bare "?path_style" is a flag that is on.
  if (value.empty() || value == "true" || value == "1" || value == "yes") return true;
  if (value == "false" || value == "0" || value == "no") return false;
  return Invalid("option '" + name + "' is '" + value + "': give true or false");
}

Status CheckBucket(std::string_view bucket) {
  if (bucket.empty()) return Invalid("no bucket is named");
  if (bucket.size() > 255) return Invalid("the bucket name is longer than 255 bytes");
  for (char c : bucket) {
    auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) == 0 && c != '-' && c != '.' && c != '_') {
      return Invalid("the bucket name '" + std::string(bucket) + "' holds the character '" +
                     std::string(1, c) + "': use letters, digits, '-', '.' and '_'");
    }
  }
  return OkStatus();
}

}  // namespace

std::string S3Options::Describe() const {
  std::string out = "s3://" + endpoint + "/" + bucket;
  if (!prefix.empty()) out += "/" + UriEncode(prefix.substr(0, prefix.size() - 1), false);
  out += "?region=" + region + "&path_style=" + (path_style ? "true" : "false") +
         "&tls=" + (use_tls ? "true" : "false");
  return out;
}

Result<S3Options> ParseS3Url(std::string_view text) {
  ASSIGN_OR_RETURN(Url url, ParseUrl(text));
  auto fail = [&](std::string_view what) {
    return Invalid("'" + url.Redacted() + "': " + std::string(what) + "; " + std::string(kForms));
  };
  if (url.scheme != "s3" && url.scheme != "http" && url.scheme != "https") {
    return fail("the scheme '" + url.scheme + "' is not s3, http or https");
  }
  if (url.host.empty()) return fail("no host is named");

  S3Options o;
  o.http = HttpOptions::FromEnvironment();
  o.credentials.access_key = url.user;
  o.credentials.secret_key = url.password;
  o.use_tls = url.scheme != "http";
  std::string host = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  o.endpoint = url.port != 0 ? host + ":" + std::to_string(url.port) : host;

  std::string_view path = url.path;
  if (path.starts_with('/')) path.remove_prefix(1);
  size_t bucket_in_host = url.host.find(".s3.");
  if (bucket_in_host == std::string::npos) bucket_in_host = url.host.find(".s3-");
  bool virtual_hosted =
      url.host.ends_with(kAwsSuffix) && bucket_in_host != std::string::npos && bucket_in_host > 0;
  if (virtual_hosted) {
    o.bucket = url.host.substr(0, bucket_in_host);
    o.endpoint = url.host.substr(bucket_in_host + 1);
    if (url.port != 0) o.endpoint += ":" + std::to_string(url.port);
    o.path_style = false;
  } else {
    size_t slash = path.find('/');
    o.bucket = std::string(path.substr(0, slash));
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
    // AWS wants virtual-hosted requests; other services mostly path-style.
    o.path_style = !url.host.ends_with(kAwsSuffix);
  }
  if (Status st = CheckBucket(o.bucket); !st.ok()) return fail(st.message());
  while (path.ends_with('/')) path.remove_suffix(1);
  if (!path.empty()) o.prefix = std::string(path) + "/";

  std::string region = RegionOfAwsHost(url.host);
  if (!region.empty()) o.region = region;
  for (const auto& [name, value] : url.query) {
    if (name == "region") {
      if (value.empty()) return fail("option 'region' is empty");
      o.region = value;
    } else if (name == "path_style") {
      Result<bool> b = ParseBool(name, value);
      if (!b.has_value()) return fail(b.error().message());
      o.path_style = *b;
    } else if (name == "tls") {
      Result<bool> b = ParseBool(name, value);
      if (!b.has_value()) return fail(b.error().message());
      if (url.scheme != "s3" && *b != o.use_tls) {
        return fail("option 'tls' contradicts the scheme " + url.scheme);
      }
      o.use_tls = *b;
    } else {
      return fail("unknown option '" + name + "' (known: region, path_style, tls)");
    }
  }
  if (!o.path_style && o.bucket.find('.') != std::string::npos && o.use_tls) {
    return fail("the bucket name '" + o.bucket +
                "' has a '.', which breaks TLS with virtual-hosted requests: add "
                "path_style=true");
  }
  return o;
}

Credentials CredentialsFromEnvironment() {
  auto get = [](const char* name) {
    const char* v = getenv(name);
    return std::string(v == nullptr ? "" : v);
  };
  return Credentials{get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY"),
                     get("AWS_SESSION_TOKEN")};
}

}  // namespace shoal::object::s3
