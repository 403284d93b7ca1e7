#include "object/s3/s3_xml.h"

#include <gtest/gtest.h>

namespace shoal::object::s3 {
namespace {

TEST(S3XmlTest, ErrorBody) {
  ErrorBody e = ParseErrorBody(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>"
      "<Message>The specified key does not exist.</Message><Key>a/b</Key>"
      "<RequestId>4442587FB7D0A2F9</RequestId></Error>");
  EXPECT_EQ(e.code, "NoSuchKey");
  EXPECT_EQ(e.message, "The specified key does not exist.");
  EXPECT_EQ(e.request_id, "4442587FB7D0A2F9");
  EXPECT_TRUE(ParseErrorBody("").code.empty());
  EXPECT_TRUE(ParseErrorBody("<html>bad gateway</html>").code.empty());
  EXPECT_TRUE(ParseErrorBody("not xml <").code.empty());
  EXPECT_EQ(ParseErrorBody("<Error><Code>AuthorizationHeaderMalformed</Code>"
                           "<Region>eu-west-1</Region></Error>")
                .region,
            "eu-west-1");
}

TEST(S3XmlTest, ListObjectsV2) {
  Result<ListPage> page = ParseListObjectsV2(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
      "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<Name>b</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>"
      "<EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>"
      "<NextContinuationToken>tok+en==</NextContinuationToken>"
      "<Contents><Key>p/a%20b</Key><LastModified>2009-10-12T17:50:30.123Z</LastModified>"
      "<ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size>"
      "<StorageClass>STANDARD</StorageClass></Contents>"
      "<Contents><Key>p/c</Key><LastModified>2009-10-12T17:50:30Z</LastModified>"
      "<ETag>\"x\"</ETag><Size>0</Size></Contents>"
      "<CommonPrefixes><Prefix>p/d/</Prefix></CommonPrefixes>"
      "<CommonPrefixes><Prefix>p/e/</Prefix></CommonPrefixes>"
      "</ListBucketResult>");
  ASSERT_TRUE(page.has_value()) << page.error().ToString();
  EXPECT_TRUE(page->truncated);
  EXPECT_TRUE(page->url_encoded);
  EXPECT_EQ(page->next_token, "tok+en==");
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "p/a%20b");
  EXPECT_EQ(page->objects[0].size, 434234u);
  EXPECT_EQ(page->objects[0].etag, "\"fba9dede5f27731c9771645a39863328\"");
  EXPECT_EQ(page->objects[0].mtime_ns, 1255369830123000000);
  EXPECT_EQ(page->objects[1].mtime_ns, 1255369830000000000);
  EXPECT_EQ(page->common_prefixes, (std::vector<std::string>{"p/d/", "p/e/"}));

  Result<ListPage> empty = ParseListObjectsV2(
      "<ListBucketResult><Name>b</Name><IsTruncated>false</IsTruncated></ListBucketResult>");
  ASSERT_TRUE(empty.has_value());
  EXPECT_FALSE(empty->truncated);
  EXPECT_FALSE(empty->url_encoded);
  EXPECT_TRUE(empty->objects.empty());

  EXPECT_EQ(ParseListObjectsV2("<Error/>").error().code(), Code::kCorrupt);
  EXPECT_EQ(ParseListObjectsV2("<<<").error().code(), Code::kCorrupt);
  EXPECT_EQ(ParseListObjectsV2("<ListBucketResult><IsTruncated>true</IsTruncated>"
                               "</ListBucketResult>")
                .error()
                .code(),
            Code::kCorrupt);
}

TEST(S3XmlTest, UploadIdAndDeleteErrors) {
  EXPECT_EQ(ParseUploadId("<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
                          "<UploadId>VXBsb2FkIElE</UploadId></InitiateMultipartUploadResult>")
                .value_or(""),
            "VXBsb2FkIElE");
  EXPECT_FALSE(ParseUploadId("<InitiateMultipartUploadResult/>").has_value());

  auto errors = ParseDeleteErrors(
      "<DeleteResult><Deleted><Key>a</Key></Deleted><Error><Key>b</Key>"
      "<Code>AccessDenied</Code><Message>Access Denied</Message></Error></DeleteResult>");
  ASSERT_TRUE(errors.has_value());
  ASSERT_EQ(errors->size(), 1u);
  EXPECT_EQ((*errors)[0].first, "b");
  EXPECT_EQ((*errors)[0].second, "AccessDenied: Access Denied");
}

TEST(S3XmlTest, RequestDocumentsEscapeKeys) {
  std::string xml = DeleteObjectsXml({"a&b", "c<d"});
  EXPECT_NE(xml.find("<Quiet>true</Quiet>"), std::string::npos) << xml;
  EXPECT_NE(xml.find("<Key>a&amp;b</Key>"), std::string::npos) << xml;
  EXPECT_NE(xml.find("<Key>c&lt;d</Key>"), std::string::npos) << xml;

  std::string complete = CompleteMultipartXml({"\"e1\"", "\"e2\""});
  EXPECT_NE(complete.find("<Part><PartNumber>1</PartNumber><ETag>\"e1\"</ETag></Part>"),
            std::string::npos)
      << complete;
  EXPECT_NE(complete.find("<Part><PartNumber>2</PartNumber><ETag>\"e2\"</ETag></Part>"),
            std::string::npos)
      << complete;
}

TEST(S3XmlTest, UrlDecode) {
  EXPECT_EQ(UrlDecode("a%20b+c%2Bd%2F"), "a b c+d/");
  EXPECT_EQ(UrlDecode("%E1%88%b4"), "\xe1\x88\xb4");
  EXPECT_EQ(UrlDecode("100%"), "100%");
  EXPECT_EQ(UrlDecode("%zz"), "%zz");
}

TEST(S3XmlTest, IsoTime) {
  EXPECT_EQ(ParseIsoTime("1970-01-01T00:00:01Z"), 1'000'000'000);
  EXPECT_EQ(ParseIsoTime("2009-10-12T17:50:30.5Z"), 1255369830500000000);
  EXPECT_EQ(ParseIsoTime("yesterday"), -1);
}

}  // namespace
}  // namespace shoal::object::s3
