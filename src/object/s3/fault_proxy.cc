#include "object/s3/fault_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <optional>

namespace shoal::object::s3::testing {
namespace {

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// The value of header `name` in a header block, or nullopt.
std::optional<std::string> HeaderValue(std::string_view head, std::string_view name) {
  size_t pos = 0;
  while (pos < head.size()) {
    size_t end = head.find("\r\n", pos);
    if (end == std::string_view::npos) end = head.size();
    std::string_view line = head.substr(pos, end - pos);
    size_t colon = line.find(':');
    if (colon == name.size() && strncasecmp(line.data(), name.data(), name.size()) == 0) {
      std::string_view v = line.substr(colon + 1);
      while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      return std::string(v);
    }
    pos = end + 2;
  }
  return std::nullopt;
}

// Reads one HTTP message (head and Content-Length body) from fd; with
// `to_eof`, everything until the peer closes. nullopt on a broken read.
std::optional<std::string> ReadMessage(int fd, bool to_eof) {
  std::string data;
  char buf[64 << 10];
  size_t want = std::string::npos;
  while (data.size() < want) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < 0) return std::nullopt;
    if (n == 0) return to_eof ? std::optional<std::string>(data) : std::nullopt;
    data.append(buf, static_cast<size_t>(n));
    if (want == std::string::npos && !to_eof) {
      size_t head_end = data.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        std::optional<std::string> length =
            HeaderValue(std::string_view(data).substr(0, head_end + 2), "Content-Length");
        want = head_end + 4 + (length.has_value() ? std::stoull(*length) : 0);
      }
    }
  }
  return data;
}

// Replaces the Connection header of a message's head with "close".
std::string WithConnectionClose(const std::string& message) {
  size_t head_end = message.find("\r\n\r\n");
  if (head_end == std::string::npos) return message;
  std::string out;
  size_t pos = 0;
  while (pos < head_end) {
    size_t end = message.find("\r\n", pos);
    std::string_view line(message.data() + pos, end - pos);
    if (!(line.size() >= 11 && strncasecmp(line.data(), "connection:", 11) == 0)) {
      out.append(line).append("\r\n");
    }
    pos = end + 2;
  }
  out += "Connection: close\r\n\r\n";
  out.append(message, head_end + 4);
  return out;
}

std::string ErrorAnswer(int status, std::string_view reason, std::string_view code) {
  std::string body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" +
                     std::string(code) + "</Code><Message>injected by FaultProxy</Message>" +
                     "<RequestId>FAULTPROXY</RequestId></Error>";
  return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
         "\r\nContent-Type: application/xml\r\nx-amz-request-id: FAULTPROXY\r\n"
         "Content-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

int ConnectUpstream(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

FaultProxy::FaultProxy(int upstream_port) : upstream_port_(upstream_port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
    return;
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

FaultProxy::~FaultProxy() {
  stopping_ = true;
  {
    std::lock_guard lock(mu_);
    stop_cv_.notify_all();
  }
  if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  std::vector<Worker> workers;
  {
    std::lock_guard lock(mu_);
    workers.swap(workers_);
  }
  for (Worker& w : workers) w.thread.join();
}

void FaultProxy::FailNext(Fault fault, int count, std::string method) {
  std::lock_guard lock(mu_);
  for (int i = 0; i < count; ++i) pending_.push_back({fault, method});
}

void FaultProxy::FailRandomly(double share, std::vector<Fault> kinds, uint64_t seed) {
  std::lock_guard lock(mu_);
  random_share_ = kinds.empty() ? 0 : share;
  random_kinds_ = std::move(kinds);
  random_.seed(seed);
}

void FaultProxy::Clear() {
  std::lock_guard lock(mu_);
  pending_.clear();
  random_share_ = 0;
  random_kinds_.clear();
}

Fault FaultProxy::Take(const std::string& method) {
  std::lock_guard lock(mu_);
  for (auto it = pending_.begin(); it != pending_.end(); ++it) {
    if (it->method.empty() || it->method == method) {
      Fault f = it->fault;
      pending_.erase(it);
      return f;
    }
  }
  if (random_share_ > 0 && std::uniform_real_distribution<double>(0, 1)(random_) < random_share_) {
    return random_kinds_[std::uniform_int_distribution<size_t>(0,
                                                               random_kinds_.size() - 1)(random_)];
  }
  return Fault::kNone;
}

void FaultProxy::AcceptLoop() {
  while (!stopping_) {
    int client = ::accept(listen_fd_, nullptr, nullptr);
    if (client < 0) {
      if (stopping_) return;
      continue;
    }
    std::lock_guard lock(mu_);
    std::erase_if(workers_, [](Worker& w) {
      if (!w.done->load()) return false;
      w.thread.join();
      return true;
    });
    auto done = std::make_shared<std::atomic<bool>>(false);
    workers_.push_back({std::thread([this, client, done] {
                          Serve(client);
                          ::close(client);
                          done->store(true);
                        }),
                        done});
  }
}

void FaultProxy::Serve(int client) {
  std::optional<std::string> request = ReadMessage(client, false);
  if (!request.has_value()) return;
  ++requests_;
  std::string method = request->substr(0, request->find(' '));
  Fault fault = Take(method);
  if (fault != Fault::kNone) ++injected_;
  switch (fault) {
    case Fault::kInternalError:
      WriteAll(client, ErrorAnswer(500, "Internal Server Error", "InternalError"));
      return;
    case Fault::kSlowDown:
      WriteAll(client, ErrorAnswer(503, "Slow Down", "SlowDown"));
      return;
    case Fault::kStall: {
      std::unique_lock lock(mu_);
      stop_cv_.wait_for(lock, stall_time_, [this] { return stopping_.load(); });
      return;
    }
    case Fault::kReset: {
      linger l{1, 0};  // close() sends RST
      ::setsockopt(client, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
      return;
    }
    default:
      break;
  }
  int upstream = ConnectUpstream(upstream_port_);
  if (upstream < 0) return;
  std::optional<std::string> answer;
  if (WriteAll(upstream, WithConnectionClose(*request))) answer = ReadMessage(upstream, true);
  ::close(upstream);
  if (!answer.has_value()) return;
  std::string relay = WithConnectionClose(*answer);
  if (fault == Fault::kTruncate) {
    size_t head_end = relay.find("\r\n\r\n");
    size_t body = head_end == std::string::npos ? 0 : relay.size() - head_end - 4;
    relay.resize(relay.size() - (body + 1) / 2);
  }
  WriteAll(client, relay);
}

}  // namespace shoal::object::s3::testing
