#include "object/s3/s3_xml.h"

#include <time.h>

#include <charconv>
#include <cstdio>
#include <pugixml.hpp>
#include <sstream>

namespace shoal::object::s3 {
namespace {

bool Load(pugi::xml_document* doc, std::string_view body) {
  return static_cast<bool>(doc->load_buffer(body.data(), body.size()));
}

std::string Text(const pugi::xml_node& node, const char* name) {
  return node.child(name).text().as_string();
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string Save(const pugi::xml_document& doc) {
  std::ostringstream out;
  doc.save(out, "", pugi::format_raw);
  return out.str();
}

}  // namespace

ErrorBody ParseErrorBody(std::string_view body) {
  ErrorBody e;
  pugi::xml_document doc;
  if (body.empty() || !Load(&doc, body)) return e;
  pugi::xml_node error = doc.child("Error");
  if (!error) return e;
  e.code = Text(error, "Code");
  e.message = Text(error, "Message");
  e.request_id = Text(error, "RequestId");
  e.region = Text(error, "Region");
  e.endpoint = Text(error, "Endpoint");
  return e;
}

Result<ListPage> ParseListObjectsV2(std::string_view body) {
  pugi::xml_document doc;
  if (!Load(&doc, body)) return Corrupt("the listing is not well-formed XML");
  pugi::xml_node root = doc.child("ListBucketResult");
  if (!root) return Corrupt("the listing has no ListBucketResult element");
  ListPage page;
  page.truncated = std::string_view(root.child("IsTruncated").text().as_string()) == "true";
  page.next_token = Text(root, "NextContinuationToken");
  page.url_encoded = Text(root, "EncodingType") == "url";
  for (pugi::xml_node c : root.children("Contents")) {
    ObjectInfo info;
    info.key = Text(c, "Key");
    info.size = c.child("Size").text().as_ullong();
    info.mtime_ns = ParseIsoTime(Text(c, "LastModified"));
    if (info.mtime_ns < 0) info.mtime_ns = 0;
    info.etag = Text(c, "ETag");
    page.objects.push_back(std::move(info));
  }
  for (pugi::xml_node p : root.children("CommonPrefixes")) {
    page.common_prefixes.push_back(Text(p, "Prefix"));
  }
  if (page.truncated && page.next_token.empty()) {
    return Corrupt("the listing is truncated but has no NextContinuationToken");
  }
  return page;
}

Result<std::string> ParseUploadId(std::string_view body) {
  pugi::xml_document doc;
  if (!Load(&doc, body)) return Corrupt("the answer to CreateMultipartUpload is not XML");
  std::string id = Text(doc.child("InitiateMultipartUploadResult"), "UploadId");
  if (id.empty()) return Corrupt("the answer to CreateMultipartUpload has no UploadId");
  return id;
}

Result<std::vector<std::pair<std::string, std::string>>> ParseDeleteErrors(std::string_view body) {
  pugi::xml_document doc;
  if (!Load(&doc, body)) return Corrupt("the answer to DeleteObjects is not XML");
  pugi::xml_node root = doc.child("DeleteResult");
  if (!root) return Corrupt("the answer to DeleteObjects has no DeleteResult element");
  std::vector<std::pair<std::string, std::string>> errors;
  for (pugi::xml_node e : root.children("Error")) {
    errors.emplace_back(Text(e, "Key"), Text(e, "Code") + ": " + Text(e, "Message"));
  }
  return errors;
}

std::string CompleteMultipartXml(const std::vector<std::string>& etags) {
  pugi::xml_document doc;
  pugi::xml_node root = doc.append_child("CompleteMultipartUpload");
  root.append_attribute("xmlns") = "http://s3.amazonaws.com/doc/2006-03-01/";
  for (size_t i = 0; i < etags.size(); ++i) {
    pugi::xml_node part = root.append_child("Part");
    part.append_child("PartNumber").text().set(static_cast<unsigned>(i + 1));
    part.append_child("ETag").text().set(etags[i].c_str());
  }
  return Save(doc);
}

std::string DeleteObjectsXml(const std::vector<std::string>& keys) {
  pugi::xml_document doc;
  pugi::xml_node root = doc.append_child("Delete");
  root.append_attribute("xmlns") = "http://s3.amazonaws.com/doc/2006-03-01/";
  root.append_child("Quiet").text().set("true");
  for (const std::string& key : keys) {
    root.append_child("Object").append_child("Key").text().set(key.c_str());
  }
  return Save(doc);
}

std::string UrlDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%' && i + 2 < text.size() && HexValue(text[i + 1]) >= 0 &&
               HexValue(text[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2]));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

int64_t ParseIsoTime(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.fraction]Z
  std::string s(text);
  struct tm tm = {};
  int consumed = 0;
  if (sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
             &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return -1;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  time_t seconds = timegm(&tm);
  if (seconds < 0) return -1;
  int64_t nanos = 0;
  std::string_view rest = std::string_view(s).substr(static_cast<size_t>(consumed));
  if (rest.starts_with('.')) {
    int64_t scale = 100'000'000;
    for (size_t i = 1; i < rest.size() && rest[i] >= '0' && rest[i] <= '9'; ++i) {
      nanos += (rest[i] - '0') * scale;
      scale /= 10;
    }
  }
  return static_cast<int64_t>(seconds) * 1'000'000'000 + nanos;
}

}  // namespace shoal::object::s3
