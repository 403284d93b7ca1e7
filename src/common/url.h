// Parsing of backend URLs: "scheme://[user[:password]@]host[:port]/path[?query]".
// Used by every factory (object stores, KV engines) so that they accept and
// reject the same forms.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "common/status.h"

namespace shoal {

struct Url {
  std::string scheme;    // lower case, e.g. "rocksdb"
  std::string user;      // percent-decoded
  std::string password;  // percent-decoded; never print it
  std::string host;      // may be empty ("file:///x")
  int port = 0;          // 0 when absent
  std::string path;      // percent-decoded, starts with '/' when present
  std::map<std::string, std::string> query;

  // The URL with the password replaced by "***": safe for logs and messages.
  std::string Redacted() const;
};

// Fails with kInvalid, naming the URL (redacted) and what is wrong.
Result<Url> ParseUrl(std::string_view text);

}  // namespace shoal
