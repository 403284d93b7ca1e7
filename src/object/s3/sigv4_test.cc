// The signer against AWS's published SigV4 test suite (credentials
// AKIDEXAMPLE, 20150830T123600Z, us-east-1, service "service") and the S3
// examples of AWS's S3 documentation. s3rver does not check signatures, so
// these vectors are the only check that real S3 will accept ours.
#include "object/s3/sigv4.h"

#include <gtest/gtest.h>

#include <string>

namespace shoal::object::s3 {
namespace {

const Credentials kSuiteCredentials{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
constexpr std::string_view kSuiteDate = "20150830T123600Z";
constexpr std::string_view kScope = "20150830/us-east-1/service/aws4_request";

struct Vector {
  std::string name;
  std::string method;
  std::string path;
  HeaderList query;
  HeaderList headers;  // besides Host and X-Amz-Date
  std::string body;
  std::string canonical_request;
  std::string string_to_sign_hash;  // last line of the string to sign
  std::string signed_headers;
  std::string signature;
};

Signature SignSuite(const Vector& v, const Credentials& credentials = kSuiteCredentials) {
  SignInput in;
  in.method = v.method;
  in.path = v.path;
  in.query = v.query;
  in.headers = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", std::string(kSuiteDate)}};
  in.headers.insert(in.headers.end(), v.headers.begin(), v.headers.end());
  std::string payload = Sha256Hex(v.body);
  in.payload_hash = payload;
  return SignV4(in, credentials, kSuiteDate, "us-east-1", "service");
}

void ExpectVector(const Vector& v, const Signature& sig) {
  EXPECT_EQ(sig.canonical_request, v.canonical_request) << v.name;
  EXPECT_EQ(sig.string_to_sign, "AWS4-HMAC-SHA256\n" + std::string(kSuiteDate) + "\n" +
                                    std::string(kScope) + "\n" + v.string_to_sign_hash)
      << v.name;
  EXPECT_EQ(sig.signed_headers, v.signed_headers) << v.name;
  EXPECT_EQ(sig.signature, v.signature) << v.name;
  EXPECT_EQ(sig.authorization, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/" + std::string(kScope) +
                                   ", SignedHeaders=" + v.signed_headers +
                                   ", Signature=" + v.signature)
      << v.name;
}

const std::string kEmpty(kEmptySha256);
const std::string kUnreserved =
    "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

std::vector<Vector> SuiteVectors() {
  return {
      {"get-vanilla",
       "GET",
       "/",
       {},
       {},
       "",
       "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" +
           kEmpty,
       "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
       "host;x-amz-date",
       "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
      {"get-vanilla-empty-query-key",
       "GET",
       "/",
       {{"Param1", "value1"}},
       {},
       "",
       "GET\n/\nParam1=value1\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
       "host;x-amz-date\n" +
           kEmpty,
       "1e24db194ed7d0eec2de28d7369675a243488e08526e8c1c73571282f7c517ab",
       "host;x-amz-date",
       "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"},
      {"get-vanilla-query-order-key-case",
       "GET",
       "/",
       {{"Param2", "value2"}, {"Param1", "value1"}},
       {},
       "",
       "GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\n"
       "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" +
           kEmpty,
       "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0",
       "host;x-amz-date",
       "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
      {"get-vanilla-query-order-key",
       "GET",
       "/",
       {{"Param1", "value2"}, {"Param1", "Value1"}},
       {},
       "",
       "GET\n/\nParam1=Value1&Param1=value2\nhost:example.amazonaws.com\n"
       "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" +
           kEmpty,
       "704b4cef673542d84cdff252633f065e8daeba5f168b77116f8b1bcaf3d38f89",
       "host;x-amz-date",
       "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1"},
      {"get-vanilla-query-order-value",
       "GET",
       "/",
       {{"Param1", "value2"}, {"Param1", "value1"}},
       {},
       "",
       "GET\n/\nParam1=value1&Param1=value2\nhost:example.amazonaws.com\n"
       "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" +
           kEmpty,
       "c968629d70850097a2d8781c9bf7edcb988b04cac14cca9be4acc3595f884606",
       "host;x-amz-date",
       "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694"},
      {"get-vanilla-query-unreserved",
       "GET",
       "/",
       {{kUnreserved, kUnreserved}},
       {},
       "",
       "GET\n/\n" + kUnreserved + "=" + kUnreserved +
           "\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" +
           kEmpty,
       "c30d4703d9f799439be92736156d47ccfb2d879ddf56f5befa6d1d6aab979177",
       "host;x-amz-date",
       "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"},
      {"get-vanilla-utf8-query",
       "GET",
       "/",
       {{"\xe1\x88\xb4", "bar"}},
       {},
       "",
       "GET\n/\n%E1%88%B4=bar\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
       "host;x-amz-date\n" +
           kEmpty,
       "eb30c5bed55734080471a834cc727ae56beb50e5f39d1bff6d0d38cb192a7073",
       "host;x-amz-date",
       "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"},
      {"get-unreserved",
       "GET",
       "/" + kUnreserved,
       {},
       {},
       "",
       "GET\n/" + kUnreserved +
           "\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" +
           kEmpty,
       "6a968768eefaa713e2a6b16b589a8ea192661f098f37349f4e2c0082757446f9",
       "host;x-amz-date",
       "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
      {"get-header-key-duplicate",
       "GET",
       "/",
       {},
       {{"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}},
       "",
       "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value2,value2,value1\n"
       "x-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n" +
           kEmpty,
       "dc7f04a3abfde8d472b0ab1a418b741b7c67174dad1551b4117b15527fbe966c",
       "host;my-header1;x-amz-date",
       "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"},
      {"get-header-value-order",
       "GET",
       "/",
       {},
       {{"My-Header1", "value4"},
        {"My-Header1", "value1"},
        {"My-Header1", "value3"},
        {"My-Header1", "value2"}},
       "",
       "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value4,value1,value3,value2\n"
       "x-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n" +
           kEmpty,
       "31ce73cd3f3d9f66977ad3dd957dc47af14df92fcd8509f59b349e9137c58b86",
       "host;my-header1;x-amz-date",
       "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"},
      {"get-header-value-trim",
       "GET",
       "/",
       {},
       {{"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}},
       "",
       "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\n"
       "x-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\n" +
           kEmpty,
       "a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7",
       "host;my-header1;my-header2;x-amz-date",
       "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
      {"post-vanilla",
       "POST",
       "/",
       {},
       {},
       "",
       "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" +
           kEmpty,
       "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87",
       "host;x-amz-date",
       "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
      {"post-vanilla-query",
       "POST",
       "/",
       {{"Param1", "value1"}},
       {},
       "",
       "POST\n/\nParam1=value1\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
       "host;x-amz-date\n" +
           kEmpty,
       "9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd",
       "host;x-amz-date",
       "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
      {"post-header-key-sort",
       "POST",
       "/",
       {},
       {{"My-Header1", "value1"}},
       "",
       "POST\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nx-amz-date:20150830T123600Z\n\n"
       "host;my-header1;x-amz-date\n" +
           kEmpty,
       "9368318c2967cf6de74404b30c65a91e8f6253e0a8659d6d5319f1a812f87d65",
       "host;my-header1;x-amz-date",
       "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"},
      {"post-header-value-case",
       "POST",
       "/",
       {},
       {{"My-Header1", "VALUE1"}},
       "",
       "POST\n/\n\nhost:example.amazonaws.com\nmy-header1:VALUE1\nx-amz-date:20150830T123600Z\n\n"
       "host;my-header1;x-amz-date\n" +
           kEmpty,
       "d51ced243e649e3de6ef63afbbdcbca03131a21a7103a1583706a64618606a93",
       "host;my-header1;x-amz-date",
       "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"},
  };
}

TEST(SigV4SuiteTest, PublishedVectors) {
  std::vector<Vector> vectors = SuiteVectors();
  ASSERT_EQ(vectors.size(), 15u);
  for (const Vector& v : vectors) ExpectVector(v, SignSuite(v));
}

// post-x-www-form-urlencoded-parameters: a body, and a Content-Type with
// parameters. (Later copies of the suite add a Content-Length to the request
// without updating the signature; this is the consistent original.)
TEST(SigV4SuiteTest, PostFormBody) {
  Vector v{"post-x-www-form-urlencoded-parameters",
           "POST",
           "/",
           {},
           {{"Content-Type", "application/x-www-form-urlencoded; charset=utf8"}},
           "Param1=value1",
           "POST\n/\n\ncontent-type:application/x-www-form-urlencoded; charset=utf8\n"
           "host:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
           "content-type;host;x-amz-date\n"
           "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
           "2e1cf7ed91881a30569e46552437e4156c823447bf1781b921b5d486c568dd1c",
           "content-type;host;x-amz-date",
           "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe"};
  ExpectVector(v, SignSuite(v));
}

// post-sts-header-before: a session token is a signed x-amz-security-token header.
TEST(SigV4SuiteTest, SessionTokenIsSigned) {
  const std::string token =
      "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSP"
      "fIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT"
      "7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlz"
      "m8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";
  Vector v{"post-sts-header-before",
           "POST",
           "/",
           {},
           {{"X-Amz-Security-Token", token}},
           "",
           "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n"
           "x-amz-security-token:" +
               token + "\n\nhost;x-amz-date;x-amz-security-token\n" + kEmpty,
           "c237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6",
           "host;x-amz-date;x-amz-security-token",
           "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"};
  Credentials with_token = kSuiteCredentials;
  with_token.session_token = token;
  ExpectVector(v, SignSuite(v, with_token));
}

// The examples of "Signature Calculations for the Authorization Header" in
// AWS's S3 API reference: bucket examplebucket, 20130524T000000Z, us-east-1.
class S3DocExamplesTest : public ::testing::Test {
 protected:
  Signature Sign(std::string_view method, std::string_view path, HeaderList query, HeaderList extra,
                 std::string_view payload_hash) {
    SignInput in;
    in.method = method;
    in.path = path;
    in.query = std::move(query);
    in.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
                  {"x-amz-date", "20130524T000000Z"},
                  {"x-amz-content-sha256", std::string(payload_hash)}};
    in.headers.insert(in.headers.end(), extra.begin(), extra.end());
    in.payload_hash = payload_hash;
    return SignV4(in, credentials_, "20130524T000000Z", "us-east-1", "s3");
  }

  const Credentials credentials_{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                                 ""};
};

TEST_F(S3DocExamplesTest, GetObjectWithRange) {
  Signature sig = Sign("GET", "/test.txt", {}, {{"Range", "bytes=0-9"}}, kEmptySha256);
  EXPECT_EQ(sig.canonical_request,
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
            "x-amz-content-sha256:" +
                kEmpty +
                "\nx-amz-date:20130524T000000Z\n\n"
                "host;range;x-amz-content-sha256;x-amz-date\n" +
                kEmpty);
  EXPECT_EQ(sig.string_to_sign,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  EXPECT_EQ(sig.signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  EXPECT_EQ(sig.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST_F(S3DocExamplesTest, PutObjectWithBodyHash) {
  std::string payload = Sha256Hex("Welcome to Amazon S3.");
  EXPECT_EQ(payload, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  // The key "test$file.text", encoded as a path: '$' is not unreserved.
  EXPECT_EQ(UriEncode("/test$file.text", false), "/test%24file.text");
  Signature sig = Sign(
      "PUT", UriEncode("/test$file.text", false), {},
      {{"Date", "Fri, 24 May 2013 00:00:00 GMT"}, {"x-amz-storage-class", "REDUCED_REDUNDANCY"}},
      payload);
  EXPECT_EQ(sig.signed_headers, "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class");
  EXPECT_EQ(sig.signature, "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST_F(S3DocExamplesTest, GetBucketLifecycle) {
  Signature sig = Sign("GET", "/", {{"lifecycle", ""}}, {}, kEmptySha256);
  EXPECT_NE(sig.canonical_request.find("\nlifecycle=\n"), std::string::npos);
  EXPECT_EQ(sig.signature, "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

TEST_F(S3DocExamplesTest, ListObjectsQuerySorted) {
  Signature sig = Sign("GET", "/", {{"prefix", "J"}, {"max-keys", "2"}}, {}, kEmptySha256);
  EXPECT_NE(sig.canonical_request.find("\nmax-keys=2&prefix=J\n"), std::string::npos);
  EXPECT_EQ(sig.signature, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(SigV4Test, UriEncode) {
  EXPECT_EQ(UriEncode("a b/c+d", false), "a%20b/c%2Bd");
  EXPECT_EQ(UriEncode("a b/c+d", true), "a%20b%2Fc%2Bd");
  EXPECT_EQ(UriEncode("\xc3\xa9~x_-.", true), "%C3%A9~x_-.");
  EXPECT_EQ(UriEncode(std::string("\x01\x7f\xff", 3), true), "%01%7F%FF");
}

TEST(SigV4Test, DigestsAndEncodings) {
  EXPECT_EQ(Sha256Hex(""), kEmptySha256);
  EXPECT_EQ(Base64Encode("hello"), "aGVsbG8=");
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Md5Base64(""), "1B2M2Y8AsgTpgAmY7PhCfg==");
  // RFC 4231 test case 2.
  EXPECT_EQ(HexEncode(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(SigV4Test, SignatureChangesWithEveryInput) {
  Vector base = SuiteVectors()[0];
  std::string reference = SignSuite(base).signature;
  Vector other = base;
  other.path = "/x";
  EXPECT_NE(SignSuite(other).signature, reference);
  other = base;
  other.body = "x";
  EXPECT_NE(SignSuite(other).signature, reference);
  Credentials wrong = kSuiteCredentials;
  wrong.secret_key += "x";
  EXPECT_NE(SignSuite(base, wrong).signature, reference);
  // The secret never appears in what is sent.
  EXPECT_EQ(SignSuite(base).authorization.find(kSuiteCredentials.secret_key), std::string::npos);
}

TEST(HexTest, DecodeUndoesEncodeAndRefusesNonHex) {
  const std::string bytes("\x00\x7f\x80\xff ab", 7);
  EXPECT_EQ(HexDecode(HexEncode(bytes)), bytes);
  EXPECT_EQ(HexDecode("DEADbeef"), std::string("\xde\xad\xbe\xef", 4));
  EXPECT_EQ(HexDecode(""), std::string());
  EXPECT_FALSE(HexDecode("abc").has_value());
  EXPECT_FALSE(HexDecode("zz").has_value());
  EXPECT_FALSE(HexDecode("+1").has_value());
}

}  // namespace
}  // namespace shoal::object::s3
