#include "object/s3/fake_s3.h"

#include <strings.h>

#include <chrono>
#include <cstdio>
#include <pugixml.hpp>
#include <string>
#include <vector>

#include "object/s3/s3_xml.h"
#include "object/s3/sigv4.h"

namespace shoal::object::s3::testing {
namespace {

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Strict %XX decoding ('+' stays '+', as in a path or a signed query).
std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && Hex(s[i + 1]) >= 0 && Hex(s[i + 2]) >= 0) {
      out += static_cast<char>(Hex(s[i + 1]) * 16 + Hex(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string Escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

HttpResponse Answer(long status, std::string body = "") {  // NOLINT(google-runtime-int)
  HttpResponse r;
  r.status = status;
  r.headers.emplace_back("x-amz-request-id", "FAKE");
  r.headers.emplace_back("content-length", std::to_string(body.size()));
  r.body = std::move(body);
  return r;
}

HttpResponse Error(long status, std::string_view code) {  // NOLINT(google-runtime-int)
  return Answer(status, "<Error><Code>" + std::string(code) +
                            "</Code><Message>fake</Message><RequestId>FAKE</RequestId></Error>");
}

const std::string* Find(const HeaderList& headers, std::string_view name) {
  for (const auto& [n, v] : headers) {
    if (n.size() == name.size() && strncasecmp(n.c_str(), name.data(), name.size()) == 0) {
      return &v;
    }
  }
  return nullptr;
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string IsoTime(int64_t ns) {
  time_t t = static_cast<time_t>(ns / 1'000'000'000);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[64];
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  char out[80];
  snprintf(out, sizeof(out), "%s.%03dZ", buf, static_cast<int>(ns / 1'000'000 % 1000));
  return out;
}

std::string HttpDate(int64_t ns) {
  time_t t = static_cast<time_t>(ns / 1'000'000'000);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[64];
  strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

}  // namespace

HttpResponse FakeS3::Send(const HttpRequest& request) {
  ++requests_;
  // http://host/bucket[/key][?query]
  std::string_view url = request.url;
  size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return Error(400, "InvalidURI");
  size_t slash = url.find('/', scheme + 3);
  if (slash == std::string_view::npos) return Error(400, "InvalidURI");
  std::string_view target = url.substr(slash + 1);
  std::string_view query_text;
  if (size_t q = target.find('?'); q != std::string_view::npos) {
    query_text = target.substr(q + 1);
    target = target.substr(0, q);
  }
  size_t key_slash = target.find('/');
  std::string bucket_name = PercentDecode(target.substr(0, key_slash));
  std::string key =
      key_slash == std::string_view::npos ? "" : PercentDecode(target.substr(key_slash + 1));
  std::map<std::string, std::string> query;
  while (!query_text.empty()) {
    size_t amp = query_text.find('&');
    std::string_view item = query_text.substr(0, amp);
    query_text = amp == std::string_view::npos ? "" : query_text.substr(amp + 1);
    size_t eq = item.find('=');
    query[PercentDecode(item.substr(0, eq))] =
        eq == std::string_view::npos ? "" : PercentDecode(item.substr(eq + 1));
  }

  // What S3 checks before anything else.
  const std::string* auth = Find(request.headers, "Authorization");
  if (auth == nullptr || auth->find("Credential=" + access_key_ + "/") == std::string::npos) {
    return Error(403, "InvalidAccessKeyId");
  }
  size_t signed_at = auth->find("SignedHeaders=");
  std::string signed_headers =
      signed_at == std::string::npos
          ? ""
          : ";" + auth->substr(signed_at + 14, auth->find(',', signed_at) - signed_at - 14) + ";";
  for (const char* required : {";host;", ";x-amz-date;", ";x-amz-content-sha256;"}) {
    if (signed_headers.find(required) == std::string::npos) {
      return Error(403, "SignatureDoesNotMatch");
    }
  }
  const std::string* hash = Find(request.headers, "x-amz-content-sha256");
  if (hash == nullptr || *hash != Sha256Hex(request.body))
    return Error(400, "XAmzContentSHA256Mismatch");

  std::lock_guard lock(mu_);
  const std::string& method = request.method;
  if (key.empty()) {
    if (method == "HEAD") return Answer(buckets_.contains(bucket_name) ? 200 : 404);
    if (method == "PUT") {
      if (buckets_.contains(bucket_name)) return Error(409, "BucketAlreadyOwnedByYou");
      buckets_[bucket_name];
      return Answer(200);
    }
  }
  auto b = buckets_.find(bucket_name);
  if (b == buckets_.end()) return Error(404, "NoSuchBucket");
  Bucket& bucket = b->second;

  if (key.empty() && method == "GET" && query["list-type"] == "2")
    return ListObjects(bucket, query);
  if (key.empty() && method == "POST" && query.contains("delete")) {
    const std::string* md5 = Find(request.headers, "Content-MD5");
    if (md5 == nullptr || *md5 != Md5Base64(request.body)) return Error(400, "InvalidDigest");
    pugi::xml_document doc;
    if (!doc.load_buffer(request.body.data(), request.body.size())) {
      return Error(400, "MalformedXML");
    }
    size_t n = 0;
    for (pugi::xml_node o : doc.child("Delete").children("Object")) {
      bucket.erase(std::string(o.child("Key").text().as_string()));
      ++n;
    }
    if (n == 0 || n > 1000) return Error(400, "MalformedXML");
    return Answer(200, "<DeleteResult></DeleteResult>");
  }
  if (key.empty()) return Error(405, "MethodNotAllowed");

  if (method == "POST" && query.contains("uploads")) {
    std::string id = "upload-" + std::to_string(next_upload_++);
    uploads_[id] = Upload{bucket_name, key, {}};
    return Answer(200, "<InitiateMultipartUploadResult><Bucket>" + Escape(bucket_name) +
                           "</Bucket><Key>" + Escape(key) + "</Key><UploadId>" + id +
                           "</UploadId></InitiateMultipartUploadResult>");
  }
  if (query.contains("uploadId")) {
    auto u = uploads_.find(query["uploadId"]);
    if (u == uploads_.end()) return Error(404, "NoSuchUpload");
    if (method == "PUT") {
      int part = std::stoi(query["partNumber"]);
      u->second.parts[part] = std::string(request.body);
      HttpResponse r = Answer(200);
      r.headers.emplace_back("etag", "\"" + Md5Hex(request.body) + "\"");
      return r;
    }
    if (method == "DELETE") {
      uploads_.erase(u);
      return Answer(204);
    }
    if (method == "POST") {
      pugi::xml_document doc;
      if (!doc.load_buffer(request.body.data(), request.body.size())) {
        return Error(400, "MalformedXML");
      }
      std::string data;
      std::string md5s;
      int expected = 1;
      for (pugi::xml_node p : doc.child("CompleteMultipartUpload").children("Part")) {
        int number = p.child("PartNumber").text().as_int();
        auto part = u->second.parts.find(number);
        if (number != expected++ || part == u->second.parts.end() ||
            std::string(p.child("ETag").text().as_string()) != "\"" + Md5Hex(part->second) + "\"") {
          return Error(400, "InvalidPart");
        }
        if (part->second.size() < (5 << 20) && number != static_cast<int>(u->second.parts.size())) {
          return Error(400, "EntityTooSmall");
        }
        data += part->second;
        // S3's multipart ETag is the MD5 of the parts' binary MD5s.
        md5s += HexDecode(Md5Hex(part->second)).value_or("");
      }
      bucket[key] =
          Object{std::move(data), "\"" + Md5Hex(md5s) + "-" + std::to_string(expected - 1) + "\"",
                 NowNs()};
      uploads_.erase(u);
      return Answer(200, "<CompleteMultipartUploadResult><Key>" + Escape(key) +
                             "</Key></CompleteMultipartUploadResult>");
    }
  }

  if (method == "PUT") {
    std::string etag = "\"" + Md5Hex(request.body) + "\"";
    bucket[key] = Object{std::string(request.body), etag, NowNs()};
    HttpResponse r = Answer(200);
    r.headers.emplace_back("etag", etag);
    return r;
  }
  if (method == "DELETE") {
    bucket.erase(key);
    return Answer(204);
  }
  auto o = bucket.find(key);
  if (o == bucket.end()) return method == "HEAD" ? Answer(404) : Error(404, "NoSuchKey");
  const std::string& data = o->second.data;
  HttpResponse r;
  if (method == "HEAD") {
    r = Answer(200);
    r.headers[1].second = std::to_string(data.size());
  } else if (const std::string* range = Find(request.headers, "Range"); range != nullptr) {
    unsigned long long first = 0, last = UINT64_MAX;
    int n = sscanf(range->c_str(), "bytes=%llu-%llu", &first, &last);
    if (n < 1) return Error(400, "InvalidRange");
    if (first >= data.size()) return Error(416, "InvalidRange");
    last = std::min<unsigned long long>(last, data.size() - 1);
    r = Answer(206, data.substr(first, last - first + 1));
    r.headers.emplace_back("content-range", "bytes " + std::to_string(first) + "-" +
                                                std::to_string(last) + "/" +
                                                std::to_string(data.size()));
  } else {
    r = Answer(200, data);
  }
  r.headers.emplace_back("etag", o->second.etag);
  r.headers.emplace_back("last-modified", HttpDate(o->second.mtime_ns));
  return r;
}

// ListObjectsV2 as AWS documents it: entries (keys and common prefixes)
// after start-after or the continuation token, max-keys of them.
HttpResponse FakeS3::ListObjects(const Bucket& bucket,
                                 const std::map<std::string, std::string>& q) {
  auto get = [&](const char* name) {
    auto it = q.find(name);
    return it == q.end() ? std::string() : it->second;
  };
  const std::string prefix = get("prefix");
  const std::string delimiter = get("delimiter");
  const std::string token = get("continuation-token");
  const std::string after = token.empty() ? get("start-after") : token;
  size_t max_keys = q.contains("max-keys") ? std::stoul(get("max-keys")) : 1000;
  max_keys = std::min<size_t>(max_keys, 1000);
  const bool encode = get("encoding-type") == "url";
  auto name = [&](std::string_view s) {
    return Escape(encode ? UriEncode(s, false) : std::string(s));
  };

  std::string contents, prefixes, last;
  size_t count = 0;
  bool truncated = false;
  std::string last_prefix;
  for (auto it = bucket.upper_bound(after); it != bucket.end(); ++it) {
    const std::string& key = it->first;
    if (!key.starts_with(prefix)) continue;
    std::string common;
    if (!delimiter.empty()) {
      size_t pos = key.find(delimiter, prefix.size());
      if (pos != std::string::npos) common = key.substr(0, pos + delimiter.size());
    }
    // A continuation resumes after a common prefix: its keys are done.
    if (!common.empty() && (common == last_prefix || (!token.empty() && common == token))) {
      continue;
    }
    if (count == max_keys) {
      truncated = true;
      break;
    }
    ++count;
    if (!common.empty()) {
      last_prefix = common;
      last = common;
      prefixes += "<CommonPrefixes><Prefix>" + name(common) + "</Prefix></CommonPrefixes>";
    } else {
      last = key;
      contents += "<Contents><Key>" + name(key) + "</Key><LastModified>" +
                  IsoTime(it->second.mtime_ns) + "</LastModified><ETag>" + Escape(it->second.etag) +
                  "</ETag><Size>" + std::to_string(it->second.data.size()) + "</Size></Contents>";
    }
  }
  std::string body = "<ListBucketResult><Name>b</Name><Prefix>" + name(prefix) +
                     "</Prefix><KeyCount>" + std::to_string(count) + "</KeyCount><IsTruncated>" +
                     (truncated ? "true" : "false") + "</IsTruncated>";
  if (encode) body += "<EncodingType>url</EncodingType>";
  if (truncated) body += "<NextContinuationToken>" + Escape(last) + "</NextContinuationToken>";
  body += contents + prefixes + "</ListBucketResult>";
  return Answer(200, body);
}

}  // namespace shoal::object::s3::testing
