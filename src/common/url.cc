#include "common/url.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <string>

namespace shoal {
namespace {

constexpr std::string_view kExpectedForm =
    "expected scheme://[user[:password]@]host[:port]/path[?key=value&...], as in "
    "file:///var/lib/shoal/data or redis://host:6379/1";

// Query parameters whose values are secrets: Redacted() hides their values.
constexpr std::string_view kSecretWords[] = {"secret", "password",   "passwd",
                                             "token",  "credential", "signature"};

bool IsUnreserved(unsigned char c) {
  return std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~';
}

bool IsSubDelim(unsigned char c) {
  return std::string_view("!$&'()*+,;=").find(static_cast<char>(c)) != std::string_view::npos;
}

bool IsSecretParameter(std::string_view name) {
  std::string lower(name);
  std::ranges::transform(lower, lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return std::ranges::any_of(
      kSecretWords, [&](std::string_view w) { return lower.find(w) != std::string::npos; });
}

// Hides what may be a password in text that did not parse, so that an error
// message can quote it. A password with an unescaped '/', '?' or '#' breaks
// the URL's structure, so this does not trust it: it hides everything from the
// first ':' after "scheme://" to the last '@' anywhere, and every query.
std::string RedactRaw(std::string_view text) {
  size_t start = text.find("://");
  start = start == std::string_view::npos ? 0 : start + 3;
  std::string out(text);
  size_t at = text.rfind('@');
  if (at != std::string_view::npos && at >= start) {
    size_t colon = text.find(':', start);
    if (colon != std::string_view::npos && colon < at) {
      out = std::string(text.substr(0, colon + 1)) + "***" + std::string(text.substr(at));
      start = colon + 4;
    }
  }
  size_t query = out.find('?', start);
  if (query != std::string::npos) out.replace(query + 1, std::string::npos, "***");
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes. `what` names the part for the error message; the
// caller adds the (redacted) URL. Never quotes the text itself, which may be
// a password.
Result<std::string> PercentDecode(std::string_view text, std::string_view what) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    int hi = i + 1 < text.size() ? HexValue(text[i + 1]) : -1;
    int lo = i + 2 < text.size() ? HexValue(text[i + 2]) : -1;
    if (hi < 0 || lo < 0) {
      return Invalid(std::string(what) +
                     " has a '%' that is not followed by two hex digits (write '%25' for "
                     "a literal '%')");
    }
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  if (out.find('\0') != std::string::npos) {
    return Invalid(std::string(what) + " contains a NUL byte (%00)");
  }
  return out;
}

// `keep` lists the characters besides the unreserved ones left as they are.
std::string PercentEncode(std::string_view text, std::string_view keep) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (IsUnreserved(c) || (c != '%' && keep.find(ch) != std::string_view::npos)) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Status ParseHost(std::string_view hostport, Url* url) {
  std::string_view port_text;
  bool has_port = false;
  if (!hostport.empty() && hostport.front() == '[') {
    size_t close = hostport.find(']');
    if (close == std::string_view::npos) return Invalid("'[' of an IPv6 address has no ']'");
    url->host = std::string(hostport.substr(1, close - 1));
    std::string_view rest = hostport.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return Invalid("unexpected text after the IPv6 address");
      has_port = true;
      port_text = rest.substr(1);
    }
    for (char c : url->host) {
      if (HexValue(c) < 0 && c != ':' && c != '.') {
        return Invalid("'" + url->host + "' is not an IPv6 address");
      }
    }
  } else {
    size_t colon = hostport.find(':');
    if (colon != std::string_view::npos) {
      if (hostport.find(':', colon + 1) != std::string_view::npos) {
        return Invalid(
            "the host has more than one ':' (write IPv6 addresses in brackets, as in "
            "[::1]:6379)");
      }
      has_port = true;
      port_text = hostport.substr(colon + 1);
      hostport = hostport.substr(0, colon);
    }
    for (char ch : hostport) {
      auto c = static_cast<unsigned char>(ch);
      if (!IsUnreserved(c) && !IsSubDelim(c)) {
        return Invalid("the host contains the character '" + std::string(1, ch) +
                       "', which a host name cannot hold");
      }
    }
    url->host = std::string(hostport);
  }
  if (has_port) {
    int port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
        port < 1 || port > 65535) {
      // Not quoted: with a '/' in an unescaped password, this text is part of the password.
      return Invalid("the port is not a number from 1 to 65535");
    }
    url->port = port;
  }
  return OkStatus();
}

Status ParseQuery(std::string_view query, Url* url) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (item.empty()) continue;  // "a=1&&b=2"
    size_t eq = item.find('=');
    ASSIGN_OR_RETURN(std::string key, PercentDecode(item.substr(0, eq), "a query parameter name"));
    if (key.empty()) return Invalid("a query parameter has no name before '='");
    std::string value;
    if (eq != std::string_view::npos) {
      ASSIGN_OR_RETURN(value, PercentDecode(item.substr(eq + 1), "query parameter '" + key + "'"));
    }
    if (!url->query.emplace(key, std::move(value)).second) {
      return Invalid("query parameter '" + key + "' is given more than once");
    }
  }
  return OkStatus();
}

Status ParseInto(std::string_view text, Url* url) {
  size_t sep = text.find("://");
  if (sep == std::string_view::npos || sep == 0) return Invalid(std::string(kExpectedForm));
  std::string_view scheme = text.substr(0, sep);
  if (std::isalpha(static_cast<unsigned char>(scheme.front())) == 0 ||
      !std::ranges::all_of(scheme, [](unsigned char c) {
        return std::isalnum(c) != 0 || c == '+' || c == '-' || c == '.';
      })) {
    return Invalid("scheme '" + std::string(scheme) +
                   "' must be a letter followed by letters, digits, '+', '-' or '.'; " +
                   std::string(kExpectedForm));
  }
  url->scheme.resize(scheme.size());
  std::ranges::transform(scheme, url->scheme.begin(),
                         [](unsigned char c) { return static_cast<char>(std::tolower(c)); });

  std::string_view rest = text.substr(sep + 3);
  if (rest.find('#') != std::string_view::npos) {
    return Invalid("a URL fragment ('#...') means nothing here (write '%23' for a literal '#')");
  }
  size_t qmark = rest.find('?');
  if (qmark != std::string_view::npos) {
    RETURN_IF_ERROR(ParseQuery(rest.substr(qmark + 1), url));
    rest = rest.substr(0, qmark);
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    ASSIGN_OR_RETURN(url->path, PercentDecode(rest.substr(slash), "the path"));
  }
  size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    size_t colon = userinfo.find(':');
    ASSIGN_OR_RETURN(url->user, PercentDecode(userinfo.substr(0, colon), "the user name"));
    if (colon != std::string_view::npos) {
      ASSIGN_OR_RETURN(url->password, PercentDecode(userinfo.substr(colon + 1), "the password"));
    }
  }
  return ParseHost(authority, url);
}

}  // namespace

std::string Url::Redacted() const {
  std::string out = scheme + "://";
  if (!user.empty() || !password.empty()) {
    out += PercentEncode(user, "!$&'()*+,;=");
    if (!password.empty()) out += ":***";
    out += '@';
  }
  if (host.find(':') != std::string::npos) {
    out += "[" + host + "]";
  } else {
    out += host;
  }
  if (port != 0) out += ":" + std::to_string(port);
  out += PercentEncode(path, "/!$&'()*+,;=:@");
  char sep = '?';
  for (const auto& [key, value] : query) {
    out += sep;
    sep = '&';
    out += PercentEncode(key, "!$'()*+,;:@/");
    if (value.empty()) continue;
    out += '=';
    out += IsSecretParameter(key) ? "***" : PercentEncode(value, "!$'()*+,;:@/");
  }
  return out;
}

Result<Url> ParseUrl(std::string_view text) {
  Url url;
  Status st = ParseInto(text, &url);
  if (!st.ok()) {
    size_t sep = text.find("://");
    bool is_url = sep != std::string_view::npos && sep > 0;
    return Invalid("'" + RedactRaw(text) + "' is " + (is_url ? "not a valid URL" : "not a URL") +
                   ": " + st.message());
  }
  return url;
}

}  // namespace shoal
