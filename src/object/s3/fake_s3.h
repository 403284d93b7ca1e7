// FakeS3 (tests only): an HttpClient that answers S3 requests itself, from
// memory, with AWS's documented semantics, so that S3Store's mapping of the
// ObjectStore contract (listing above all) is tested without a server and
// without a test server's quirks.
//
// It serves path-style URLs: buckets (HEAD, PUT), objects (PUT, GET with
// Range, HEAD, DELETE), ListObjectsV2 (prefix, delimiter, start-after,
// continuation-token, max-keys, encoding-type=url), DeleteObjects and
// multipart uploads. It checks what S3 checks of every request: the access
// key, the signed headers, and x-amz-content-sha256 against the body.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "object/s3/http.h"

namespace shoal::object::s3::testing {

class FakeS3 : public HttpClient {
 public:
  explicit FakeS3(std::string access_key) : access_key_(std::move(access_key)) {}

  HttpResponse Send(const HttpRequest& request) override;

  int requests() const { return requests_.load(); }

 private:
  struct Object {
    std::string data;
    std::string etag;
    int64_t mtime_ns = 0;
  };
  using Bucket = std::map<std::string, Object, std::less<>>;
  struct Upload {
    std::string bucket;
    std::string key;
    std::map<int, std::string> parts;
  };

  HttpResponse ListObjects(const Bucket& bucket, const std::map<std::string, std::string>& q);

  const std::string access_key_;
  std::atomic<int> requests_{0};
  std::mutex mu_;
  std::map<std::string, Bucket> buckets_;
  std::map<std::string, Upload> uploads_;
  uint64_t next_upload_ = 0;
};

}  // namespace shoal::object::s3::testing
