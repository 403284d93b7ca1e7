#include "object/s3/http.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <strings.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <mutex>
#include <vector>

namespace shoal::object::s3 {
namespace {

// Largest body we reserve memory for up front from Content-Length; a bigger
// one grows as it arrives.
constexpr curl_off_t kMaxReserve = 256 << 20;

void GlobalInitOnce() {
  // libcurl's global init is not thread-safe against itself and must run
  // before any handle exists; this is the one process-wide flag it needs.
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// An attempt whose request gives no stall limit.
constexpr std::chrono::milliseconds kDefaultStall{30'000};

TransportError Classify(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return TransportError::kResolve;
    case CURLE_COULDNT_CONNECT:
      return TransportError::kConnect;
    case CURLE_OPERATION_TIMEDOUT:
      return TransportError::kTimeout;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
    // A garbled answer: an answer cut before its status line reads as
    // "HTTP/0.9", which libcurl reports so. Shoal's own URLs are always http
    // or https, so this code means nothing else here.
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_BAD_CONTENT_ENCODING:
      return TransportError::kReset;
    case CURLE_PARTIAL_FILE:
      return TransportError::kTruncated;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
      return TransportError::kTls;
    default:
      return TransportError::kOther;
  }
}

// What one transfer collects through libcurl's callbacks.
struct Transfer {
  CURL* handle = nullptr;
  HttpResponse* response = nullptr;
  bool reserved = false;
  int status = 0;  // of the last status line
  // Set when the transfer was stopped after the headers of an empty 206.
  bool empty_partial = false;
};

// A 206 whose Content-Range says the object is empty ("bytes 0-0/0") can
// carry no body, whatever its Content-Length claims; some servers (s3rver)
// send Content-Length 1 and then nothing, which would stall the transfer.
bool IsEmptyPartial(const Transfer& t) {
  if (t.status != 206) return false;
  const std::string* range = t.response->Header("content-range");
  return range != nullptr && range->ends_with("/0");
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.starts_with("HTTP/")) {
    // A new status line (after a 100 Continue or a redirect): start over.
    t->response->headers.clear();
    size_t space = line.find(' ');
    t->status =
        space == std::string_view::npos ? 0 : atoi(std::string(line.substr(space + 1, 3)).c_str());
    return size * n;
  }
  if (line.empty() && IsEmptyPartial(*t)) {
    t->empty_partial = true;
    return 0;  // stops the transfer: there is nothing more to read
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string name(line.substr(0, colon));
  std::ranges::transform(name, name.begin(),
                         [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  t->response->headers.emplace_back(std::move(name), std::string(value));
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  if (!t->reserved) {
    t->reserved = true;
    curl_off_t length = -1;
    if (curl_easy_getinfo(t->handle, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) == CURLE_OK &&
        length > 0) {
      t->response->body.reserve(static_cast<size_t>(std::min(length, kMaxReserve)));
    }
  }
  t->response->body.append(data, size * n);
  return size * n;
}

class CurlHttpClient : public HttpClient {
 public:
  explicit CurlHttpClient(HttpOptions options) : options_(std::move(options)) {
    GlobalInitOnce();
    share_ = curl_share_init();
    curl_share_setopt(share_, CURLSHOPT_LOCKFUNC, &CurlHttpClient::Lock);
    curl_share_setopt(share_, CURLSHOPT_UNLOCKFUNC, &CurlHttpClient::Unlock);
    curl_share_setopt(share_, CURLSHOPT_USERDATA, this);
    curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  }

  ~CurlHttpClient() override {
    for (CURL* h : idle_) curl_easy_cleanup(h);
    curl_share_cleanup(share_);
  }

  HttpResponse Send(const HttpRequest& request) override {
    CURL* h = Borrow();
    HttpResponse response;
    Transfer transfer{h, &response};
    Configure(h, request, &transfer);

    curl_slist* headers = nullptr;
    for (const auto& [name, value] : request.headers) {
      std::string line = name + ": " + value;
      headers = curl_slist_append(headers, line.c_str());
    }
    // No "Expect: 100-continue" round trip; no form content type on uploads.
    headers = curl_slist_append(headers, "Expect:");
    bool has_type = std::ranges::any_of(request.headers, [](const auto& h) {
      return h.first.size() == 12 && strncasecmp(h.first.c_str(), "content-type", 12) == 0;
    });
    if (!has_type) headers = curl_slist_append(headers, "Content-Type:");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);

    char error[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
    CURLcode code = curl_easy_perform(h);
    curl_slist_free_all(headers);
    if (code == CURLE_WRITE_ERROR && transfer.empty_partial) {
      response.status = transfer.status;
      // Its Content-Length was wrong: drop it, so no one checks the body against it.
      std::erase_if(response.headers, [](const auto& h) { return h.first == "content-length"; });
      curl_easy_cleanup(h);  // the connection has unread bytes (or none it promised)
      return response;
    }
    if (code != CURLE_OK) {
      response.error = Classify(code);
      response.error_message = error[0] != '\0' ? error : curl_easy_strerror(code);
      response.status = 0;
      // The connection may be in any state: do not reuse this handle.
      curl_easy_cleanup(h);
      return response;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
    Return(h);
    return response;
  }

 private:
  void Configure(CURL* h, const HttpRequest& request, Transfer* transfer) {
    curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(h, CURLOPT_SHARE, share_);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);  // S3 keys may hold "." and ".." segments
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(options_.connect_timeout.count()));
    // No byte in either direction for limits.stall (whole seconds: libcurl's
    // unit, rounded up) is a stall.
    auto stall = request.limits.stall.count() > 0 ? request.limits.stall : kDefaultStall;
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, static_cast<long>((stall.count() + 999) / 1000));
    if (request.limits.total.count() > 0) {
      curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(request.limits.total.count()));
    }
    if (!options_.ca_bundle.empty())
      curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_bundle.c_str());
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &OnHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, transfer);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &OnBody);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, transfer);

    if (request.method == "GET") {
      curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (request.method == "HEAD") {
      curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (request.method == "DELETE" && request.body.empty()) {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
    } else {
      // POSTFIELDS sends the body without copying it, for any method.
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(request.body.size()));
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.empty() ? "" : request.body.data());
      if (request.method != "POST") {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
      }
    }
  }

  CURL* Borrow() {
    {
      std::lock_guard lock(pool_mu_);
      if (!idle_.empty()) {
        CURL* h = idle_.back();
        idle_.pop_back();
        // Forget the last request's options; keep its connection.
        curl_easy_reset(h);
        return h;
      }
    }
    return curl_easy_init();
  }

  void Return(CURL* h) {
    std::lock_guard lock(pool_mu_);
    if (idle_.size() < options_.max_idle_handles) {
      idle_.push_back(h);
      return;
    }
    curl_easy_cleanup(h);
  }

  static void Lock(CURL*, curl_lock_data data, curl_lock_access, void* user) {
    static_cast<CurlHttpClient*>(user)->share_mu_[Slot(data)].lock();
  }
  static void Unlock(CURL*, curl_lock_data data, void* user) {
    static_cast<CurlHttpClient*>(user)->share_mu_[Slot(data)].unlock();
  }
  static size_t Slot(curl_lock_data data) {
    auto i = static_cast<size_t>(data);
    return i < kShareSlots ? i : 0;
  }

  static constexpr size_t kShareSlots = CURL_LOCK_DATA_LAST;

  const HttpOptions options_;
  CURLSH* share_ = nullptr;
  std::array<std::mutex, kShareSlots> share_mu_;
  std::mutex pool_mu_;
  std::vector<CURL*> idle_;
};

}  // namespace

const std::string* HttpResponse::Header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (n == name) return &v;
  }
  return nullptr;
}

HttpOptions HttpOptions::FromEnvironment() {
  HttpOptions options;
  for (const char* var : {"AWS_CA_BUNDLE", "CURL_CA_BUNDLE"}) {
    const char* value = getenv(var);
    if (value != nullptr && value[0] != '\0') {
      options.ca_bundle = value;
      break;
    }
  }
  return options;
}

std::unique_ptr<HttpClient> NewCurlHttpClient(const HttpOptions& options) {
  return std::make_unique<CurlHttpClient>(options);
}

TransportError ClassifyCurlError(int code) { return Classify(static_cast<CURLcode>(code)); }

}  // namespace shoal::object::s3
