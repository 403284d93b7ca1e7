// AWS Signature Version 4: the canonical request, the string to sign and the
// signature, written from AWS's description of the algorithm and checked
// against its published test vectors (sigv4_test.cc).
//
// The signer is pure: it adds no headers and reads no clock. The caller puts
// every header it wants signed (host, x-amz-date, x-amz-content-sha256,
// x-amz-security-token) into the request first, and sends exactly those.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shoal::object::s3 {

// An access key pair, with the session token of temporary credentials.
// Never print one: the secret must not reach logs or error messages.
struct Credentials {
  std::string access_key;
  std::string secret_key;
  std::string session_token;  // empty for long-term keys

  bool empty() const { return access_key.empty() && secret_key.empty(); }
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct SignInput {
  std::string_view method;  // "GET", "PUT", ...
  // The path exactly as sent: already percent-encoded (see UriEncode). S3
  // wants it encoded once and not normalized.
  std::string_view path;
  // Query parameters, not encoded; the signer encodes and sorts them.
  HeaderList query;
  // The headers to sign, names in any case. Repeated names are joined with
  // ',' in the order given, as HTTP does.
  HeaderList headers;
  // Lower-case hex SHA-256 of the body, or "UNSIGNED-PAYLOAD".
  std::string_view payload_hash;
};

struct Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;  // "host;x-amz-date"
  std::string signature;       // lower-case hex
  std::string authorization;   // the value of the Authorization header
};

// `amz_date` is the request time as sent in x-amz-date: "20150830T123600Z".
Signature SignV4(const SignInput& input, const Credentials& credentials, std::string_view amz_date,
                 std::string_view region, std::string_view service);

// Percent-encodes every byte except A-Z a-z 0-9 - . _ ~ (and '/' unless
// `encode_slash`), with upper-case hex, as SigV4 requires.
std::string UriEncode(std::string_view text, bool encode_slash);

// "a=1&b=2": names and values encoded with UriEncode, sorted by name, then value.
std::string CanonicalQuery(const HeaderList& query);

// Digests. Hex output is lower case.
std::string Sha256Hex(std::string_view data);
std::string HmacSha256(std::string_view key, std::string_view data);  // raw 32 bytes
std::string HexEncode(std::string_view bytes);
// The bytes of an even-length hex string (either case); nullopt for anything else.
std::optional<std::string> HexDecode(std::string_view hex);
std::string Base64Encode(std::string_view bytes);
std::string Md5Base64(std::string_view data);  // for Content-MD5
std::string Md5Hex(std::string_view data);

// The SHA-256 of an empty body, sent with every request that has none.
inline constexpr std::string_view kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

}  // namespace shoal::object::s3
