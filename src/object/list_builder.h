// ListBuilder: the listing rules every store shares, so that they agree.
//
// A listing is the ascending sequence of entries drawn from the keys that
// start with `prefix`. A key is its own entry, unless `delimiter` occurs in it
// after the prefix: then its entry is the common prefix that ends with the
// first such delimiter, and all keys with that common prefix share one entry.
// Entries are listed when their name (key or common prefix) is strictly
// greater than `start_after`; at most `limit` entries are returned, and
// `next_start_after` names the last one. So passing next_start_after back as
// start_after continues exactly after it, also when it is a common prefix: no
// key under that prefix is listed again.
//
// A store offers every key it holds in ascending order to Classify(); it may
// leave out keys that Prunable() says cannot change the result.
#pragma once

#include <string>
#include <string_view>

#include "object/object_store.h"

namespace shoal::object {

// kInvalid when the options cannot be served (limit 0).
Status CheckListOptions(const ListOptions& options);

class ListBuilder {
 public:
  explicit ListBuilder(const ListOptions& options) : options_(options) {}

  enum class Action {
    kIgnore,     // not listed (outside the prefix, not after start_after, or rolled up)
    kAddObject,  // listed as an object: call AddObject with its info
    kStop,       // the listing is full; Finish() it
  };

  // `key` must be greater than every key offered before.
  Action Classify(std::string_view key);

  // Records the object that Classify() answered kAddObject for. A store that
  // finds the object gone meanwhile may skip the call.
  void AddObject(ObjectInfo info);

  // True when no key that starts with `key_prefix` can add an entry, so a
  // store may skip all of them (a directory, a range of a map).
  bool Prunable(std::string_view key_prefix) const;

  // While not empty, keys that start with this are rolled into an entry
  // already decided (listed or before start_after): a store may skip them.
  std::string_view skip_prefix() const { return skip_prefix_; }

  ListResult Finish() { return std::move(result_); }

 private:
  size_t entries() const { return result_.objects.size() + result_.common_prefixes.size(); }

  const ListOptions& options_;
  ListResult result_;
  std::string skip_prefix_;
};

// The smallest string greater than every string that starts with `prefix`,
// or "" when there is none (prefix is empty or all 0xff bytes).
std::string PrefixSuccessor(std::string_view prefix);

}  // namespace shoal::object
