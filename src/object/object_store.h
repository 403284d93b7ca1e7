// ObjectStore: where file data lives. Objects are immutable blobs named by a
// key; shoal never modifies an object in place, it writes new ones.
//
// Implementations: mem (tests), file (a local directory), fault (wraps another
// and injects failures), and s3 (object/s3/s3_store.h: any S3-compatible
// store). They are chosen by URL with OpenObjectStore(): "mem://",
// "file:///var/lib/shoal/data", "s3://host:port/bucket", "https://host/bucket".
//
// Threading: every method may be called from many threads at once.
// Failures: kNotFound for a missing key (Get, Head, Delete of a missing key is
// NOT an error: Delete is idempotent); kUnavailable / kIo for a store that
// fails, with a message naming the operation and the key.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace shoal::object {

struct ObjectInfo {
  std::string key;
  uint64_t size = 0;
  int64_t mtime_ns = 0;  // last modification, nanoseconds since the epoch
  std::string etag;      // opaque; may be empty for stores that have none
};

struct ListOptions {
  std::string prefix;       // only keys that start with this
  std::string start_after;  // only keys strictly greater than this
  // When not empty, keys that contain the delimiter after the prefix are rolled
  // up into common prefixes (like S3): "a/b/c" with prefix "a/" and "/" gives
  // the common prefix "a/b/".
  std::string delimiter;
  size_t limit = 1000;  // at most this many objects plus common prefixes
};

struct ListResult {
  std::vector<ObjectInfo> objects;         // sorted by key
  std::vector<std::string> common_prefixes;  // sorted
  bool truncated = false;                  // more keys follow; continue with start_after
  std::string next_start_after;            // the last key or prefix returned
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // A description that is safe to print: never contains a secret.
  virtual std::string Describe() const = 0;

  // Stores `data` under `key`, replacing any object there. Atomic: a reader
  // sees the old object, no object, or the whole new one, never a part.
  virtual Status Put(std::string_view key, std::string_view data) = 0;

  // Reads `length` bytes from `offset` (length 0 with offset 0 means the
  // whole object). A range past the end is cut short; a read starting at or
  // past the end returns an empty string. kNotFound when there is no object.
  virtual Result<std::string> Get(std::string_view key, uint64_t offset = 0,
                                  uint64_t length = 0) = 0;

  virtual Result<ObjectInfo> Head(std::string_view key) = 0;

  // Removes the object; removing a missing object is not an error.
  virtual Status Delete(std::string_view key) = 0;

  virtual Result<ListResult> List(const ListOptions& options) = 0;
};

// Opens a store from a URL: "mem://" (a fresh, empty store each call),
// "file:///abs/dir" (the directory is created if missing), or an S3 URL
// (credentials from the URL or the environment; object/s3/s3_options.h has
// an overload that takes them). An unknown scheme or a malformed URL is
// kInvalid with a message listing the forms accepted.
Result<std::shared_ptr<ObjectStore>> OpenObjectStore(std::string_view url);

}  // namespace shoal::object
