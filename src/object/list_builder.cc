#include "object/list_builder.h"

namespace shoal::object {

Status CheckListOptions(const ListOptions& options) {
  if (options.limit == 0) {
    return Invalid("limit is 0: ask for at least one entry (the default is 1000)");
  }
  return OkStatus();
}

ListBuilder::Action ListBuilder::Classify(std::string_view key) {
  if (!key.starts_with(options_.prefix)) return Action::kIgnore;
  if (!skip_prefix_.empty() && key.starts_with(skip_prefix_)) return Action::kIgnore;
  if (key <= options_.start_after) return Action::kIgnore;

  std::string_view common;
  if (!options_.delimiter.empty()) {
    size_t pos = key.find(options_.delimiter, options_.prefix.size());
    if (pos != std::string_view::npos) common = key.substr(0, pos + options_.delimiter.size());
  }
  if (!common.empty()) {
    // Every later key with this common prefix belongs to the same entry.
    skip_prefix_ = std::string(common);
    if (common <= options_.start_after) return Action::kIgnore;
  }
  if (entries() >= options_.limit) {
    result_.truncated = true;
    return Action::kStop;
  }
  if (common.empty()) return Action::kAddObject;
  result_.common_prefixes.emplace_back(common);
  result_.next_start_after = std::string(common);
  return Action::kIgnore;
}

void ListBuilder::AddObject(ObjectInfo info) {
  result_.next_start_after = info.key;
  result_.objects.push_back(std::move(info));
}

bool ListBuilder::Prunable(std::string_view key_prefix) const {
  const std::string& prefix = options_.prefix;
  if (!key_prefix.starts_with(prefix) && !prefix.starts_with(key_prefix)) return true;
  if (!skip_prefix_.empty() && key_prefix.starts_with(skip_prefix_)) return true;
  // Every key under key_prefix is <= start_after.
  const std::string& after = options_.start_after;
  if (key_prefix < after && !after.starts_with(key_prefix)) return true;
  // Every key under key_prefix rolls up into one common prefix at or before start_after.
  if (!options_.delimiter.empty() && key_prefix.size() > prefix.size()) {
    size_t pos = key_prefix.find(options_.delimiter, prefix.size());
    if (pos != std::string_view::npos && key_prefix.starts_with(prefix) &&
        key_prefix.substr(0, pos + options_.delimiter.size()) <= after) {
      return true;
    }
  }
  return false;
}

std::string PrefixSuccessor(std::string_view prefix) {
  std::string s(prefix);
  while (!s.empty() && static_cast<unsigned char>(s.back()) == 0xff) s.pop_back();
  if (!s.empty()) s.back() = static_cast<char>(static_cast<unsigned char>(s.back()) + 1);
  return s;
}

}  // namespace shoal::object
