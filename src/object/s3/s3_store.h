// S3Store: an ObjectStore in a bucket of any S3-compatible service (AWS S3,
// Cloudflare R2, Backblaze B2, MinIO, ...).
//
// Requests are signed with SigV4 (sigv4.h) and sent through an HttpClient
// (http.h). Each request is retried as options.retry says (object/retry.h:
// backoff with full jitter, a budget of attempts and time, stalls detected
// by size) when it may succeed on a second try: a 5xx or 408/429 answer (503
// SlowDown included), a timeout or stall, a broken connection, a body cut
// short or garbled. Other 4xx answers fail at once. A multipart upload
// retries each part alone; a CompleteMultipartUpload whose answer was lost
// (the retry finds no upload) is confirmed by a HEAD of the object's ETag. Every error names the
// operation, the key, the bucket and endpoint, the HTTP status, S3's error code and the request id,
// and says what to do; none ever holds the secret key.
//
// Mapping to the ObjectStore contract:
//   Put      PutObject, signed with the SHA-256 of the body (S3 checks it);
//            above multipart_threshold a multipart upload in part_size parts,
//            sent one after another (aborted, best effort, when one fails).
//   Get      GetObject with an explicit Range; 416 (offset past the end) is an
//            empty string.
//   Delete   DeleteObject; a 404 for the key is success.
//   List     ListObjectsV2, with common prefixes that are not after
//            start_after dropped, so that results match ListBuilder's rules.
// Keys must be valid UTF-8 (S3's rule), non-empty, at most 1024 bytes with
// the prefix, and without "." or ".." segments (which some servers resolve
// as paths; FileStore refuses them too).
//
// Threading: every method may be called from many threads at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "object/object_store.h"
#include "object/s3/http.h"
#include "object/s3/s3_options.h"

namespace shoal::object::s3 {

class S3Store : public ObjectStore {
 public:
  // Does not touch the network. kInvalid for options that cannot work
  // (no bucket, no endpoint, a part size under 5 MiB).
  static Result<std::unique_ptr<S3Store>> Open(S3Options options);
  // The same over a given client (tests).
  static Result<std::unique_ptr<S3Store>> Open(S3Options options, std::shared_ptr<HttpClient> http);

  std::string Describe() const override;
  Status Put(std::string_view key, std::string_view data) override;
  Result<std::string> Get(std::string_view key, uint64_t offset = 0, uint64_t length = 0) override;
  Result<ObjectInfo> Head(std::string_view key) override;
  Status Delete(std::string_view key) override;
  Result<ListResult> List(const ListOptions& options) override;

  // Deletes many keys with DeleteObjects, 1000 a request. Missing keys are
  // not an error; the first key that could not be deleted is.
  Status DeleteMany(std::span<const std::string> keys);

  // OK when the bucket exists and these credentials may use it; kNotFound
  // when it does not exist; kAccess when the credentials are refused.
  Status CheckBucket();
  // CheckBucket, and creates the bucket (in options.region) when it does
  // not exist. A bucket that exists but belongs to someone else is kAccess.
  Status EnsureBucket();

  // Second copies sent of requests slower than their p99 (IoPolicy::hedge).
  uint64_t hedges() const { return hedges_.load(); }

  // S3's limit on the length of a key (the prefix included).
  static constexpr size_t kMaxKeyLength = 1024;
  // DeleteObjects takes at most this many keys a request.
  static constexpr size_t kMaxDeleteBatch = 1000;

 private:
  struct Request;

  S3Store(S3Options options, std::shared_ptr<HttpClient> http);

  // Sends `request`, retrying as described above. A response of any HTTP
  // status is returned (after retries for the retryable ones); a request
  // that never got a response is kUnavailable.
  Result<HttpResponse> Execute(const Request& request);
  // One attempt of `request`; hedged (IoPolicy::hedge) when it is small and
  // idempotent and the window of its kind knows its p99.
  HttpResponse SendAttempt(const Request& request, const AttemptLimits& limits);
  // The latency window of `request`'s kind, or null when it is never hedged.
  LatencyWindow* HedgeWindow(const Request& request);
  HttpRequest Build(const Request& request) const;
  static bool ServerSaysRetry(const Request& request, const HttpResponse& response);

  Status CheckKey(std::string_view op, std::string_view key) const;
  // The error for an unexpected response.
  Status ResponseError(const Request& request, const HttpResponse& response) const;
  // `attempts`: "3 attempts in 4.2 s".
  Status TransportFailure(const Request& request, const HttpResponse& response,
                          const std::string& attempts) const;
  std::string Where(const Request& request) const;
  // `message` with every occurrence of the secret key replaced by "***".
  std::string Redact(std::string message) const;

  Status PutMultipart(std::string_view key, std::string_view data);

  const S3Options options_;
  const std::string describe_;
  const std::shared_ptr<HttpClient> http_;
  std::mutex random_mu_;
  std::mt19937_64 random_;  // the backoff's jitter
  LatencyWindow get_latency_, head_latency_;
  std::atomic<uint64_t> hedges_{0};
};

}  // namespace shoal::object::s3
