// S3Options: where an S3 store is and how to reach it, and the URL forms
// that name one.
//
// Accepted URLs (the bucket is required; a path after it is a key prefix):
//   s3://host[:port]/bucket[/prefix][?region=R&path_style=true|false&tls=true|false]
//       https unless tls=false; path-style unless the host is AWS's
//   http://host[:port]/bucket[/prefix], https://host[:port]/bucket[/prefix]
//       path-style (MinIO, s3rver, R2, B2, ...); the same options apply
//   https://bucket.s3.REGION.amazonaws.com[/prefix]
//       AWS, virtual-hosted
// The region is, in order: ?region=, the one in an AWS host name
// (s3.REGION.amazonaws.com), or us-east-1.
//
// Credentials may be given as the URL's user and password (percent-encoded),
// but better not: a URL gets printed. See OpenObjectStore below.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "object/object_store.h"
#include "object/retry.h"
#include "object/s3/http.h"
#include "object/s3/sigv4.h"

namespace shoal::object::s3 {

struct S3Options {
  std::string
      endpoint;  // host[:port], without scheme: "s3.eu-west-1.amazonaws.com", "127.0.0.1:9000"
  bool use_tls = true;
  // Path-style puts the bucket in the path (http://host/bucket/key);
  // virtual-hosted in the host name (https://bucket.host/key).
  bool path_style = true;
  std::string bucket;
  // Every key of the store is stored under this prefix; empty, or ending in '/'.
  std::string prefix;
  std::string region = "us-east-1";
  Credentials credentials;

  // Objects larger than this are uploaded in parts of part_size bytes.
  // S3 wants parts of at least 5 MiB (but the last).
  uint64_t multipart_threshold = 32 << 20;
  uint64_t part_size = 8 << 20;

  // Retries, backoff and stall detection of every request (object/retry.h).
  IoPolicy retry;
  HttpOptions http;

  // The store as a URL that opens it again, without credentials.
  std::string Describe() const;
};

// Parses one of the URL forms above. Credentials come from the URL's user
// and password only. kInvalid naming what is wrong and the forms accepted.
Result<S3Options> ParseS3Url(std::string_view url);

// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN; empty
// fields for variables that are not set.
Credentials CredentialsFromEnvironment();

}  // namespace shoal::object::s3

namespace shoal::object {

// OpenObjectStore (object_store.h) with credentials for S3 stores. For s3://,
// http:// and https:// URLs the credentials used are the first non-empty of:
// `credentials`, the URL's user:password, the AWS_* environment variables;
// none at all is kInvalid. Other stores ignore `credentials`.
// Opening does not touch the network: call S3Store::EnsureBucket() (format)
// or CheckBucket() (mount) to find out whether the bucket is there.
Result<std::shared_ptr<ObjectStore>> OpenObjectStore(std::string_view url,
                                                     const s3::Credentials& credentials);

}  // namespace shoal::object
