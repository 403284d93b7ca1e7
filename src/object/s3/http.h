// HttpClient: the one seam between the S3 store and the network, so that
// tests can put a fake or a fault-injecting proxy in its place.
//
// CurlHttpClient (NewCurlHttpClient) keeps a pool of libcurl easy handles.
// A request borrows a handle, so each thread in flight has its own
// connection; a returned handle keeps its connection open for the next
// request to the same host. DNS answers and TLS sessions are shared between
// handles. Timeouts: connecting is bounded, and each request carries its own
// limits (object/retry.h): a transfer that moves no byte for `limits.stall`,
// or takes longer than `limits.total`, fails with kTimeout, so no request
// waits forever. A request that failed without an answer leaves its
// connection closed: the next one opens a new connection.
//
// Threading: Send may be called from many threads at once.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "object/retry.h"
#include "object/s3/sigv4.h"

namespace shoal::object::s3 {

struct HttpRequest {
  std::string method;  // GET, HEAD, PUT, POST, DELETE
  std::string url;     // complete and already percent-encoded
  HeaderList headers;  // sent as given (Host is set by the client from the URL)
  // Not owned: must stay valid until Send returns.
  std::string_view body;
  // How long this attempt may take; a zero stall means 30 s.
  AttemptLimits limits;
};

// Why a request got no complete response. Everything but kResolve, kTls and
// kOther may go away when the request is sent again.
enum class TransportError {
  kNone,
  kResolve,    // the host name does not resolve
  kConnect,    // refused or unreachable
  kTimeout,    // connecting took too long, or the transfer stalled
  kReset,      // the connection broke while sending or receiving
  kTruncated,  // the body ended before its Content-Length
  kTls,        // certificate or handshake failure
  kOther,
};

struct HttpResponse {
  TransportError error = TransportError::kNone;
  std::string error_message;  // what libcurl said, when error != kNone

  long status = 0;     // NOLINT(google-runtime-int): libcurl's type
  HeaderList headers;  // names in lower case, of the final response only
  std::string body;

  // The value of the first header called `name` (lower case), or nullptr.
  const std::string* Header(std::string_view name) const;
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // Never throws; a failure without a response is in HttpResponse::error.
  virtual HttpResponse Send(const HttpRequest& request) = 0;
};

struct HttpOptions {
  std::chrono::milliseconds connect_timeout{10'000};
  // A CA bundle file for https; empty means the system's store.
  std::string ca_bundle;
  // Idle handles kept for reuse; more may be in use at once.
  size_t max_idle_handles = 64;

  // The defaults, with ca_bundle from AWS_CA_BUNDLE or else CURL_CA_BUNDLE.
  static HttpOptions FromEnvironment();
};

std::unique_ptr<HttpClient> NewCurlHttpClient(const HttpOptions& options);

// How libcurl's result code `code` (a CURLcode) is classified.
TransportError ClassifyCurlError(int code);

}  // namespace shoal::object::s3
