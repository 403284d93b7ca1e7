// The XML documents of the S3 API that S3Store reads and writes, kept apart
// from the network so that they are tested on their own (s3_xml_test.cc).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "object/object_store.h"

namespace shoal::object::s3 {

// <Error><Code>NoSuchKey</Code><Message>..</Message><RequestId>..</RequestId></Error>.
// Fields are empty when the body is not such a document (HEAD has no body).
struct ErrorBody {
  std::string code;
  std::string message;
  std::string request_id;
  std::string region;    // AuthorizationHeaderMalformed names the bucket's region
  std::string endpoint;  // PermanentRedirect names the endpoint to use
};
ErrorBody ParseErrorBody(std::string_view body);

// One page of ListObjectsV2. Keys are as the server sent them: the caller
// decodes them when `url_encoded` (the response said EncodingType url).
struct ListPage {
  std::vector<ObjectInfo> objects;
  std::vector<std::string> common_prefixes;
  bool truncated = false;
  std::string next_token;  // NextContinuationToken
  bool url_encoded = false;
};
Result<ListPage> ParseListObjectsV2(std::string_view body);

// UploadId of an InitiateMultipartUploadResult.
Result<std::string> ParseUploadId(std::string_view body);

// The <Error> entries of a DeleteResult: key and "Code: Message".
Result<std::vector<std::pair<std::string, std::string>>> ParseDeleteErrors(std::string_view body);

// <CompleteMultipartUpload> for parts 1..n with these ETags.
std::string CompleteMultipartXml(const std::vector<std::string>& etags);
// <Delete><Quiet>true</Quiet> with one <Object> per key.
std::string DeleteObjectsXml(const std::vector<std::string>& keys);

// Decodes the "url" encoding of listing responses: %XX escapes and '+' for a space.
std::string UrlDecode(std::string_view text);

// "2026-01-02T03:04:05.678Z" as nanoseconds since the epoch; -1 if malformed.
int64_t ParseIsoTime(std::string_view text);

}  // namespace shoal::object::s3
