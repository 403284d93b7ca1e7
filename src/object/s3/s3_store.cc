#include "object/s3/s3_store.h"

#include <curl/curl.h>
#include <time.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <system_error>
#include <thread>
#include <utility>

#include "object/list_builder.h"
#include "object/s3/s3_xml.h"

namespace shoal::object::s3 {
namespace {

using Clock = std::chrono::steady_clock;

// S3 refuses parts under 5 MiB (except the last) and more than 10,000 parts.
constexpr uint64_t kMinPartSize = 5 << 20;
constexpr uint64_t kMaxParts = 10'000;
// ListObjectsV2 returns at most this many entries a page.
constexpr size_t kMaxPageKeys = 1000;

// What a message says after the retries ran out.
constexpr std::string_view kRetryHint = "--io-retries and --io-max-time allow more";

// "20150830T123600Z", now.
std::string AmzDate() {
  time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  struct tm tm;
  gmtime_r(&now, &tm);
  char buf[32];
  strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

// The length of the longest prefix of `s` made of whole, valid UTF-8
// characters; `*incomplete` tells whether what follows is only the start of a
// valid character cut off by the end of `s`.
size_t ValidUtf8Length(std::string_view s, bool* incomplete = nullptr) {
  if (incomplete != nullptr) *incomplete = false;
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return i;
    }
    size_t k = 1;
    for (; k <= n && i + k < s.size(); ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (k <= n) {
      if (incomplete != nullptr) *incomplete = true;
      return i;
    }
    // Overlong forms, surrogates and code points past U+10FFFF.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
      return i;
    }
    i += n + 1;
  }
  return i;
}

bool IsValidUtf8(std::string_view s) { return ValidUtf8Length(s) == s.size(); }

bool IsRetryableTransport(TransportError e) {
  return e == TransportError::kConnect || e == TransportError::kTimeout ||
         e == TransportError::kReset || e == TransportError::kTruncated;
}

std::string_view TransportWhat(TransportError e) {
  switch (e) {
    case TransportError::kResolve:
      return "the host name does not resolve: check the endpoint";
    case TransportError::kConnect:
      return "cannot connect: check the endpoint and that the server is running";
    case TransportError::kTimeout:
      return "the server did not answer in time (connect timeout or stalled transfer)";
    case TransportError::kReset:
      return "the connection broke";
    case TransportError::kTruncated:
      return "the response body was cut short";
    case TransportError::kTls:
      return "TLS failed: check the certificate, or set AWS_CA_BUNDLE to the CA file";
    default:
      return "the request failed";
  }
}

// "bytes 0-9/100": the first and last byte, and the total size.
bool ParseContentRange(std::string_view v, uint64_t* first, uint64_t* last) {
  if (!v.starts_with("bytes ")) return false;
  v.remove_prefix(6);
  size_t dash = v.find('-');
  size_t slash = v.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash) {
    return false;
  }
  auto num = [](std::string_view t, uint64_t* out) {
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), *out);
    return ec == std::errc() && end == t.data() + t.size() && !t.empty();
  };
  return num(v.substr(0, dash), first) && num(v.substr(dash + 1, slash - dash - 1), last) &&
         *first <= *last;
}

// The ETag S3 gives an object made by a multipart upload: the MD5 of the
// parts' MD5s (their ETags, in hex), a dash, and the number of parts.
std::string MultipartEtag(const std::vector<std::string>& part_etags) {
  std::string digests;
  for (std::string_view etag : part_etags) {
    if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
      etag = etag.substr(1, etag.size() - 2);
    }
    std::optional<std::string> digest = HexDecode(etag);
    if (etag.size() != 32 || !digest.has_value()) return "";
    digests += *digest;
  }
  return "\"" + Md5Hex(digests) + "-" + std::to_string(part_etags.size()) + "\"";
}

}  // namespace

struct S3Store::Request {
  Request(std::string op_, std::string method_, std::string key_, std::string object_)
      : op(std::move(op_)),
        key(std::move(key_)),
        object(std::move(object_)),
        method(std::move(method_)) {}

  std::string op;      // "get", "put", ...: for messages
  std::string key;     // the caller's key, for messages; empty for bucket operations
  std::string object;  // the key in the bucket (prefix included); empty for the bucket
  std::string method;
  HeaderList query;
  HeaderList headers;  // beyond host, date, content hash and token
  std::string_view body;
  std::string payload_hash = std::string(kEmptySha256);
  // CompleteMultipartUpload may answer 200 with an <Error> body.
  bool error_in_ok = false;
  // Bytes the answer is expected to carry (a ranged GET), for the attempt's
  // time limit; 0 when unknown.
  uint64_t expect_bytes = 0;
  // The server may think long before it answers (LimitsFor).
  bool patient = false;
};

Result<std::unique_ptr<S3Store>> S3Store::Open(S3Options options) {
  std::shared_ptr<HttpClient> http = NewCurlHttpClient(options.http);
  return Open(std::move(options), std::move(http));
}

Result<std::unique_ptr<S3Store>> S3Store::Open(S3Options options,
                                               std::shared_ptr<HttpClient> http) {
  std::string where = "s3 store " + options.Describe();
  if (options.endpoint.empty()) return Invalid(where + ": no endpoint is given");
  if (options.bucket.empty()) return Invalid(where + ": no bucket is given");
  if (options.region.empty()) return Invalid(where + ": no region is given");
  if (!options.prefix.empty() && !options.prefix.ends_with('/')) {
    return Invalid(where + ": the key prefix '" + options.prefix + "' must end with '/'");
  }
  if (options.part_size < kMinPartSize) {
    return Invalid(where + ": a part size of " + std::to_string(options.part_size) +
                   " bytes is under S3's minimum of 5 MiB");
  }
  if (Status st = options.retry.Validate(); !st.ok()) return Invalid(where + ": " + st.message());
  if (options.credentials.access_key.empty() || options.credentials.secret_key.empty()) {
    return Invalid(where +
                   ": no credentials: give an access key and a secret key (for example in "
                   "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)");
  }
  return std::unique_ptr<S3Store>(new S3Store(std::move(options), std::move(http)));
}

S3Store::S3Store(S3Options options, std::shared_ptr<HttpClient> http)
    : options_(std::move(options)),
      describe_(options_.Describe()),
      http_(std::move(http)),
      random_(std::random_device{}()) {}

std::string S3Store::Describe() const { return describe_; }

std::string S3Store::Where(const Request& r) const {
  std::string base = std::string(options_.use_tls ? "https://" : "http://") + options_.endpoint;
  if (r.object.empty()) {
    return "s3 " + r.op + " (bucket '" + options_.bucket + "' at " + base + ")";
  }
  return "s3 " + r.op + " '" + r.key + "' in bucket '" + options_.bucket + "' at " + base;
}

Status S3Store::CheckKey(std::string_view op, std::string_view key) const {
  auto fail = [&](const std::string& what) {
    return Invalid("s3 " + std::string(op) + " '" + std::string(key.substr(0, 64)) + "': " + what);
  };
  if (key.empty()) return fail("an object key cannot be empty");
  if (options_.prefix.size() + key.size() > kMaxKeyLength) {
    return fail("the key of " + std::to_string(key.size()) + " bytes (with the prefix " +
                std::to_string(options_.prefix.size()) + ") is longer than S3's limit of " +
                std::to_string(kMaxKeyLength));
  }
  if (!IsValidUtf8(key)) return fail("S3 keys must be valid UTF-8");
  // S3 itself takes them, but HTTP stacks in front of S3-compatible servers
  // resolve "." and ".." path segments, which would change the key.
  for (size_t start = 0; start <= key.size();) {
    size_t end = key.find('/', start);
    if (end == std::string_view::npos) end = key.size();
    std::string_view segment = key.substr(start, end - start);
    if (segment == "." || segment == "..") {
      return fail("a key cannot have '.' or '..' between slashes");
    }
    start = end + 1;
  }
  return OkStatus();
}

HttpRequest S3Store::Build(const Request& r) const {
  std::string host =
      options_.path_style ? options_.endpoint : options_.bucket + "." + options_.endpoint;
  std::string path;
  if (options_.path_style) {
    path = "/" + options_.bucket;
    if (!r.object.empty()) path += "/" + UriEncode(r.object, false);
  } else {
    path = "/" + UriEncode(r.object, false);
  }
  HttpRequest h;
  h.method = r.method;
  h.url = std::string(options_.use_tls ? "https://" : "http://") + host + path;
  if (!r.query.empty()) h.url += "?" + CanonicalQuery(r.query);
  h.body = r.body;
  const std::string amz_date = AmzDate();
  h.headers.emplace_back("Host", host);
  h.headers.emplace_back("x-amz-date", amz_date);
  h.headers.emplace_back("x-amz-content-sha256", r.payload_hash);
  if (!options_.credentials.session_token.empty()) {
    h.headers.emplace_back("x-amz-security-token", options_.credentials.session_token);
  }
  for (const auto& header : r.headers) h.headers.push_back(header);

  SignInput in;
  in.method = r.method;
  in.path = path;
  in.query = r.query;
  in.headers = h.headers;
  in.payload_hash = r.payload_hash;
  Signature sig = SignV4(in, options_.credentials, amz_date, options_.region, "s3");
  h.headers.emplace_back("Authorization", std::move(sig.authorization));
  return h;
}

// A 5xx (but 501 and 505), 408 or 429; or the 200 with an <Error> inside that
// CompleteMultipartUpload may give.
bool S3Store::ServerSaysRetry(const Request& request, const HttpResponse& response) {
  if (IsRetryableHttpStatus(response.status)) return true;
  return request.error_in_ok && response.status == 200 &&
         !ParseErrorBody(response.body).code.empty();
}

Result<HttpResponse> S3Store::Execute(const Request& request) {
  RetryBudget budget(options_.retry, Clock::now());
  const AttemptLimits limits =
      LimitsFor(options_.retry, request.body.size() + request.expect_bytes, request.patient);
  HttpResponse response;
  while (true) {
    response = SendAttempt(request, limits);
    bool retry = false;
    if (response.error != TransportError::kNone) {
      retry = IsRetryableTransport(response.error);
    } else if (ServerSaysRetry(request, response)) {
      retry = true;
    } else if (request.method != "HEAD") {
      // libcurl catches a short body; this also catches a long one.
      const std::string* length = response.Header("content-length");
      uint64_t n = 0;
      if (length != nullptr &&
          std::from_chars(length->data(), length->data() + length->size(), n).ec == std::errc() &&
          n != response.body.size()) {
        response.error = TransportError::kTruncated;
        response.error_message = "Content-Length is " + *length + " but the body has " +
                                 std::to_string(response.body.size()) + " bytes";
        retry = true;
      }
    }
    if (!retry) break;
    std::optional<std::chrono::milliseconds> delay;
    {
      std::lock_guard lock(random_mu_);
      delay = budget.Next(Clock::now(), random_);
    }
    if (!delay.has_value()) break;
    std::this_thread::sleep_for(*delay);
  }
  if (response.error != TransportError::kNone) {
    return TransportFailure(request, response, budget.Describe(Clock::now()));
  }
  if (ServerSaysRetry(request, response)) {
    Status st = ResponseError(request, response);
    return Status(st.code(), st.message() + " (gave up after " + budget.Describe(Clock::now()) +
                                 "; " + std::string(kRetryHint) + ")");
  }
  return response;
}

LatencyWindow* S3Store::HedgeWindow(const Request& request) {
  if (!options_.retry.hedge || request.body.size() > kHedgeMaxBytes) return nullptr;
  if (request.method == "HEAD") return &head_latency_;
  // A GET of unknown length may be large: a second copy could double it.
  if (request.method == "GET" && request.expect_bytes > 0 &&
      request.expect_bytes <= kHedgeMaxBytes) {
    return &get_latency_;
  }
  // Not PUT, though it repeats safely on S3: the slower copy lands after the
  // caller went on, which on a server that writes objects in place (s3rver)
  // shows a reader a short object, and anywhere may bring back an object
  // deleted meanwhile (a freed block). Hedged writes need that copy stopped.
  return nullptr;
}

namespace {

// Two copies of one request racing: the first final answer wins.
struct Race {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<HttpResponse> answers;
  int running = 0;
};

}  // namespace

HttpResponse S3Store::SendAttempt(const Request& request, const AttemptLimits& limits) {
  HttpRequest http = Build(request);
  http.limits = limits;
  LatencyWindow* window = HedgeWindow(request);
  std::optional<std::chrono::microseconds> p99 =
      window != nullptr ? window->Quantile(0.99) : std::nullopt;
  const Clock::time_point start = Clock::now();
  auto final_answer = [&request](const HttpResponse& r) {
    return r.error == TransportError::kNone && !ServerSaysRetry(request, r);
  };
  if (!p99.has_value()) {
    HttpResponse r = http_->Send(http);
    if (window != nullptr && final_answer(r)) {
      window->Add(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start));
    }
    return r;
  }

  // The copies run on threads of their own, so that the caller can leave with
  // the first answer while the slower copy (a stalled one) runs out its
  // limits; that copy owns what it sends.
  auto race = std::make_shared<Race>();
  auto body = std::make_shared<std::string>(request.body);
  auto launch = [&](HttpRequest h) {
    h.body = *body;
    std::lock_guard lock(race->mu);
    ++race->running;
    try {
      std::thread([client = http_, race, body, h = std::move(h)] {
        HttpResponse r = client->Send(h);
        std::lock_guard lock(race->mu);
        race->answers.push_back(std::move(r));
        --race->running;
        race->cv.notify_all();
      }).detach();
    } catch (const std::system_error&) {
      --race->running;  // no thread: this copy is not sent
    }
  };
  launch(std::move(http));
  const auto delay = std::max<std::chrono::microseconds>(options_.retry.hedge_floor, *p99);
  std::unique_lock lock(race->mu);
  if (!race->cv.wait_for(lock, delay, [&] { return !race->answers.empty(); })) {
    lock.unlock();
    HttpRequest second = Build(request);  // signed anew
    second.limits = limits;
    launch(std::move(second));
    ++hedges_;
    lock.lock();
  }
  race->cv.wait(
      lock, [&] { return race->running == 0 || std::ranges::any_of(race->answers, final_answer); });
  if (race->answers.empty()) {  // no thread could start: send it here
    HttpRequest here = Build(request);
    here.limits = limits;
    return http_->Send(here);
  }
  auto won = std::ranges::find_if(race->answers, final_answer);
  if (won == race->answers.end()) return race->answers.back();
  window->Add(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start));
  return std::move(*won);
}

Status S3Store::TransportFailure(const Request& request, const HttpResponse& response,
                                 const std::string& attempts) const {
  std::string m = Where(request) + ": " + std::string(TransportWhat(response.error)) + " (" +
                  response.error_message;
  if (IsRetryableTransport(response.error)) {
    m += "; gave up after " + attempts + "; " + std::string(kRetryHint);
  }
  m += ")";
  if (response.error == TransportError::kTruncated) return IoError(Redact(std::move(m)));
  return Unavailable(Redact(std::move(m)));
}

Status S3Store::ResponseError(const Request& request, const HttpResponse& response) const {
  ErrorBody e = ParseErrorBody(response.body);
  std::string code = e.code;
  if (code.empty()) {
    // HEAD answers carry no body: name the status instead.
    switch (response.status) {
      case 404:
        code = request.object.empty() ? "NoSuchBucket" : "NotFound";
        break;
      case 403:
        code = "Forbidden";
        break;
      case 301:
        code = "PermanentRedirect";
        break;
      default:
        code = "no error code";
    }
  }
  const std::string* id = response.Header("x-amz-request-id");
  std::string request_id = id != nullptr ? *id : e.request_id;
  std::string m = Where(request) + ": HTTP " + std::to_string(response.status) + " " + code;
  if (!request_id.empty()) m += " (request id " + request_id + ")";
  m += ": ";
  const std::string* region_header = response.Header("x-amz-bucket-region");
  std::string region = region_header != nullptr ? *region_header : e.region;

  Code status_code = Code::kIo;
  if (code == "NoSuchBucket") {
    status_code = Code::kNotFound;
    m += "bucket '" + options_.bucket + "' does not exist: create it (shoal format does) or " +
         "check the bucket name and endpoint";
  } else if (response.status == 404) {
    status_code = Code::kNotFound;
    m += "no such object";
  } else if (code == "RequestTimeTooSkewed") {
    status_code = Code::kAccess;
    m += "this machine's clock is too far from the server's: set the clock right";
  } else if (code == "ExpiredToken" || code == "TokenRefreshRequired") {
    status_code = Code::kAccess;
    m += "the session token has expired: get new temporary credentials";
  } else if (response.status == 403) {
    status_code = Code::kAccess;
    m += "access refused: check the access key and secret (AWS_ACCESS_KEY_ID, "
         "AWS_SECRET_ACCESS_KEY) and that they may use bucket '" +
         options_.bucket + "'";
  } else if (response.status == 301 || response.status == 307 ||
             code == "AuthorizationHeaderMalformed" ||
             code == "IllegalLocationConstraintException") {
    status_code = Code::kInvalid;
    m += "the bucket is not in region '" + options_.region + "'";
    if (!region.empty()) m += ": it is in '" + region + "', so add ?region=" + region;
    if (!e.endpoint.empty()) m += " (use the endpoint " + e.endpoint + ")";
  } else if (IsRetryableHttpStatus(response.status)) {
    status_code = Code::kUnavailable;
    m += "the server failed or is overloaded; try again later";
  } else if (response.status == 400 || response.status == 405 || response.status == 411 ||
             response.status == 501) {
    status_code = Code::kInvalid;
    m += "the server refused the request";
  } else {
    m += "unexpected answer";
  }
  if (!e.message.empty()) m += " (server: " + e.message + ")";
  return Status(status_code, Redact(std::move(m)));
}

std::string S3Store::Redact(std::string message) const {
  // The secret is never put into a message on purpose; this also keeps a
  // server or library that echoes it from leaking it.
  const std::string& secret = options_.credentials.secret_key;
  for (size_t pos; !secret.empty() && (pos = message.find(secret)) != std::string::npos;) {
    message.replace(pos, secret.size(), "***");
  }
  return message;
}

Status S3Store::Put(std::string_view key, std::string_view data) {
  RETURN_IF_ERROR(CheckKey("put", key));
  if (data.size() > options_.multipart_threshold) return PutMultipart(key, data);
  Request r("put", "PUT", std::string(key), options_.prefix + std::string(key));
  r.headers.emplace_back("Content-Type", "application/octet-stream");
  r.body = data;
  r.payload_hash = Sha256Hex(data);
  ASSIGN_OR_RETURN(HttpResponse resp, Execute(r));
  if (resp.status != 200) return ResponseError(r, resp);
  return OkStatus();
}

Status S3Store::PutMultipart(std::string_view key, std::string_view data) {
  const std::string object = options_.prefix + std::string(key);
  uint64_t part_size = options_.part_size;
  // Keep within S3's part count: larger parts for a huge object.
  while ((data.size() + part_size - 1) / part_size > kMaxParts) part_size *= 2;

  Request create("put (create multipart upload)", "POST", std::string(key), object);
  create.query.emplace_back("uploads", "");
  create.headers.emplace_back("Content-Type", "application/octet-stream");
  ASSIGN_OR_RETURN(HttpResponse created, Execute(create));
  if (created.status != 200) return ResponseError(create, created);
  Result<std::string> upload_id = ParseUploadId(created.body);
  if (!upload_id.has_value()) return upload_id.error().Annotate(Where(create));

  auto abort = [&](Status cause) {
    // Best effort: the parts of an abandoned upload cost storage until a
    // lifecycle rule or this abort removes them.
    Request r("put (abort multipart upload)", "DELETE", std::string(key), object);
    r.query.emplace_back("uploadId", *upload_id);
    (void)Execute(r);
    return cause;
  };

  std::vector<std::string> etags;
  for (uint64_t offset = 0, part = 1; offset < data.size(); offset += part_size, ++part) {
    std::string_view body = data.substr(offset, part_size);
    Request r("put (part " + std::to_string(part) + ")", "PUT", std::string(key), object);
    r.query.emplace_back("partNumber", std::to_string(part));
    r.query.emplace_back("uploadId", *upload_id);
    r.body = body;
    r.payload_hash = Sha256Hex(body);
    Result<HttpResponse> resp = Execute(r);
    if (!resp.has_value()) return abort(resp.error());
    if (resp->status != 200) return abort(ResponseError(r, *resp));
    const std::string* etag = resp->Header("etag");
    if (etag == nullptr || etag->empty()) {
      return abort(IoError(Where(r) + ": the server gave no ETag for the part"));
    }
    etags.push_back(*etag);
  }

  std::string xml = CompleteMultipartXml(etags);
  Request complete("put (complete multipart upload)", "POST", std::string(key), object);
  complete.query.emplace_back("uploadId", *upload_id);
  complete.headers.emplace_back("Content-Type", "application/xml");
  complete.body = xml;
  complete.payload_hash = Sha256Hex(xml);
  complete.error_in_ok = true;
  complete.patient = true;
  Result<HttpResponse> done = Execute(complete);
  if (done.has_value() && done->status == 200) return OkStatus();
  // An attempt may have completed the upload and lost its answer: the
  // retries then find no upload (S3 says 404 NoSuchUpload; other servers
  // fail otherwise). The object tells: its ETag is the one this upload makes,
  // S3's multipart ETag or, on servers that store the object whole (s3rver),
  // the MD5 of all of it. Both follow from the bytes, so neither matches an
  // older object under this key.
  Result<ObjectInfo> info = Head(key);
  if (info.has_value() && info->size == data.size() && !info->etag.empty() &&
      (info->etag == MultipartEtag(etags) || info->etag == "\"" + Md5Hex(data) + "\"")) {
    return OkStatus();
  }
  if (!done.has_value()) return abort(done.error());
  return abort(ResponseError(complete, *done));
}

Result<std::string> S3Store::Get(std::string_view key, uint64_t offset, uint64_t length) {
  RETURN_IF_ERROR(CheckKey("get", key));
  Request r("get", "GET", std::string(key), options_.prefix + std::string(key));
  bool ranged = offset != 0 || length != 0;
  if (ranged) {
    // Always "first-last" or "first-": a suffix range ("-N") means
    // something else, and some servers get it wrong.
    std::string range = "bytes=" + std::to_string(offset) + "-";
    if (length != 0 && length - 1 <= UINT64_MAX - offset) {
      range += std::to_string(offset + length - 1);
    }
    r.headers.emplace_back("Range", std::move(range));
    r.expect_bytes = length;
  }
  ASSIGN_OR_RETURN(HttpResponse resp, Execute(r));
  if (resp.status == 416) return std::string();  // the object is shorter than offset
  if (resp.status == 200) {
    // The whole object, also when a range was asked (a server may ignore it).
    if (!ranged) return std::move(resp.body);
    if (offset >= resp.body.size()) return std::string();
    uint64_t n = resp.body.size() - offset;
    if (length != 0) n = std::min(n, length);
    return resp.body.substr(offset, n);
  }
  if (resp.status != 206) return ResponseError(r, resp);
  const std::string* content_range = resp.Header("content-range");
  uint64_t first = 0, last = 0;
  if (content_range == nullptr || !ParseContentRange(*content_range, &first, &last) ||
      first != offset) {
    return IoError(Where(r) + ": the server answered the range request for bytes from " +
                   std::to_string(offset) + " with Content-Range '" +
                   (content_range != nullptr ? *content_range : "") + "'");
  }
  // Some servers send more than asked (s3rver answers "bytes=0-0" with the
  // whole object): cut to what was asked.
  if (length != 0 && resp.body.size() > length) resp.body.resize(length);
  return std::move(resp.body);
}

Result<ObjectInfo> S3Store::Head(std::string_view key) {
  RETURN_IF_ERROR(CheckKey("head", key));
  Request r("head", "HEAD", std::string(key), options_.prefix + std::string(key));
  ASSIGN_OR_RETURN(HttpResponse resp, Execute(r));
  if (resp.status != 200) return ResponseError(r, resp);
  ObjectInfo info;
  info.key = std::string(key);
  const std::string* length = resp.Header("content-length");
  if (length == nullptr ||
      std::from_chars(length->data(), length->data() + length->size(), info.size).ec !=
          std::errc()) {
    return IoError(Where(r) + ": the answer has no valid Content-Length");
  }
  if (const std::string* modified = resp.Header("last-modified"); modified != nullptr) {
    time_t t = curl_getdate(modified->c_str(), nullptr);
    if (t > 0) info.mtime_ns = static_cast<int64_t>(t) * 1'000'000'000;
  }
  if (const std::string* etag = resp.Header("etag"); etag != nullptr) info.etag = *etag;
  return info;
}

Status S3Store::Delete(std::string_view key) {
  RETURN_IF_ERROR(CheckKey("delete", key));
  Request r("delete", "DELETE", std::string(key), options_.prefix + std::string(key));
  ASSIGN_OR_RETURN(HttpResponse resp, Execute(r));
  if (resp.status == 204 || resp.status == 200) return OkStatus();
  if (resp.status == 404 && ParseErrorBody(resp.body).code != "NoSuchBucket") return OkStatus();
  return ResponseError(r, resp);
}

Status S3Store::DeleteMany(std::span<const std::string> keys) {
  for (size_t start = 0; start < keys.size(); start += kMaxDeleteBatch) {
    std::span<const std::string> batch =
        keys.subspan(start, std::min(kMaxDeleteBatch, keys.size() - start));
    std::vector<std::string> objects;
    objects.reserve(batch.size());
    for (const std::string& key : batch) {
      RETURN_IF_ERROR(CheckKey("delete", key));
      objects.push_back(options_.prefix + key);
    }
    std::string xml = DeleteObjectsXml(objects);
    // DeleteObjects is a request on the bucket, not on a key.
    Request r("delete " + std::to_string(batch.size()) + " keys from '" + batch.front() + "'",
              "POST", "", "");
    r.query.emplace_back("delete", "");
    r.headers.emplace_back("Content-Type", "application/xml");
    r.headers.emplace_back("Content-MD5", Md5Base64(xml));
    r.body = xml;
    r.payload_hash = Sha256Hex(xml);
    ASSIGN_OR_RETURN(HttpResponse resp, Execute(r));
    if (resp.status != 200) return ResponseError(r, resp);
    Result<std::vector<std::pair<std::string, std::string>>> errors = ParseDeleteErrors(resp.body);
    if (!errors.has_value()) return errors.error().Annotate(Where(r));
    for (const auto& [object, what] : *errors) {
      if (what.starts_with("NoSuchKey")) continue;
      std::string key =
          object.starts_with(options_.prefix) ? object.substr(options_.prefix.size()) : object;
      return IoError("s3 delete '" + key + "' in bucket '" + options_.bucket + "': " + what);
    }
  }
  return OkStatus();
}

Result<ListResult> S3Store::List(const ListOptions& options) {
  Request r("list", "GET", options.prefix, "");
  RETURN_IF_ERROR(CheckListOptions(options).Annotate(Where(r)));
  r.op = "list '" + options.prefix + "'";

  // S3 knows only UTF-8 keys. A prefix that no UTF-8 key can start with
  // lists nothing; a start_after that is not UTF-8 is sent cut to its valid
  // part, which lists a few entries too many, dropped below.
  bool incomplete = false;
  if (ValidUtf8Length(options.prefix, &incomplete) != options.prefix.size() && !incomplete) {
    return ListResult{};
  }
  std::string_view start_after =
      std::string_view(options.start_after).substr(0, ValidUtf8Length(options.start_after));

  struct Entry {
    std::string name;
    bool is_prefix;
    ObjectInfo info;
  };
  // One entry more than the limit tells whether the listing is truncated.
  const size_t want = options.limit == SIZE_MAX ? SIZE_MAX : options.limit + 1;
  std::vector<Entry> entries;
  std::string token;
  const std::string& base = options_.prefix;
  do {
    r.query.clear();
    r.query.emplace_back("list-type", "2");
    r.query.emplace_back("encoding-type", "url");
    r.query.emplace_back("prefix", base + options.prefix);
    if (!options.delimiter.empty()) r.query.emplace_back("delimiter", options.delimiter);
    // One more than needed: a common prefix at start_after may be dropped.
    size_t remaining = want - entries.size();
    size_t page = remaining >= kMaxPageKeys ? kMaxPageKeys : remaining + 1;
    r.query.emplace_back("max-keys", std::to_string(page));
    if (!token.empty()) {
      r.query.emplace_back("continuation-token", token);
    } else if (!start_after.empty()) {
      r.query.emplace_back("start-after", base + std::string(start_after));
    }
    ASSIGN_OR_RETURN(HttpResponse resp, Execute(r));
    if (resp.status != 200) return ResponseError(r, resp);
    Result<ListPage> parsed = ParseListObjectsV2(resp.body);
    if (!parsed.has_value()) return parsed.error().Annotate(Where(r));

    // The page's objects and common prefixes, merged in key order, without
    // the store's prefix.
    std::vector<Entry> page_entries;
    auto strip = [&](std::string name, std::string* out) {
      if (parsed->url_encoded) name = UrlDecode(name);
      if (!name.starts_with(base)) return false;
      *out = name.substr(base.size());
      return true;
    };
    for (ObjectInfo& info : parsed->objects) {
      Entry e{"", false, {}};
      if (!strip(std::move(info.key), &e.name)) continue;
      e.info = std::move(info);
      e.info.key = e.name;
      page_entries.push_back(std::move(e));
    }
    for (std::string& p : parsed->common_prefixes) {
      Entry e{"", true, {}};
      if (!strip(std::move(p), &e.name)) continue;
      page_entries.push_back(std::move(e));
    }
    std::ranges::sort(page_entries, {}, &Entry::name);
    for (Entry& e : page_entries) {
      // S3 lists a common prefix whose keys lie after start_after even when
      // the prefix itself does not; the ObjectStore contract does not.
      if (e.name <= options.start_after) continue;
      if (!entries.empty() && e.name <= entries.back().name) continue;
      entries.push_back(std::move(e));
    }
    token = parsed->truncated ? parsed->next_token : "";
  } while (!token.empty() && entries.size() < want);

  ListResult result;
  if (entries.size() > options.limit) {
    result.truncated = true;
    entries.resize(options.limit);
  }
  for (Entry& e : entries) {
    if (e.is_prefix) {
      result.common_prefixes.push_back(e.name);
    } else {
      result.objects.push_back(std::move(e.info));
    }
  }
  if (!entries.empty()) result.next_start_after = entries.back().name;
  return result;
}

Status S3Store::CheckBucket() {
  Request r("check bucket", "HEAD", "", "");
  ASSIGN_OR_RETURN(HttpResponse resp, Execute(r));
  if (resp.status == 200) return OkStatus();
  return ResponseError(r, resp);
}

Status S3Store::EnsureBucket() {
  Status st = CheckBucket();
  if (st.code() != Code::kNotFound) return st;
  Request r("create bucket", "PUT", "", "");
  std::string xml;
  if (options_.region != "us-east-1") {
    xml =
        "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<LocationConstraint>" +
        options_.region + "</LocationConstraint></CreateBucketConfiguration>";
    r.headers.emplace_back("Content-Type", "application/xml");
  }
  r.body = xml;
  r.payload_hash = Sha256Hex(xml);
  ASSIGN_OR_RETURN(HttpResponse resp, Execute(r));
  if (resp.status == 200) return OkStatus();
  std::string code = ParseErrorBody(resp.body).code;
  if (code == "BucketAlreadyOwnedByYou") return OkStatus();  // created meanwhile
  Status error = ResponseError(r, resp);
  if (code == "BucketAlreadyExists") {
    return AccessDenied(error.message() + "; the name is taken by another account: choose another");
  }
  return error;
}

}  // namespace shoal::object::s3
