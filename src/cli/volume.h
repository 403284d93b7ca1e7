// Helpers the subcommands share: opening a volume with messages that say
// what to do, and reading the JSON a mount serves through reserved xattrs.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/status.h"
#include "kv/kv.h"
#include "meta/meta.h"
#include "object/object_store.h"

namespace shoal::cli {

// OpenKv(url, create=false) for a volume that must exist. When the engine is
// held by another process (kBusy: RocksDB's lock, usually held by a running
// mount), the message gets `busy_hint` (what to do instead) and the shoal
// mounts of this machine.
Result<std::shared_ptr<kv::Engine>> OpenMetaEngine(std::string_view url,
                                                   std::string_view busy_hint);

// Meta::Open with kNotFound turned into "no volume in URL: run 'shoal format' first".
Result<std::unique_ptr<meta::Meta>> OpenVolume(std::shared_ptr<kv::Engine> engine,
                                               std::string_view url);

// The mountpoints of the shoal mounts in this mount namespace, for hints.
std::vector<std::string> ShoalMounts();

// Reads the reserved xattr `name` of `path` (see fuse/info.h) and parses it.
// kInvalid "... is not in a shoal mount" when the file system does not
// answer it.
Result<nlohmann::json> ReadJsonXattr(const std::string& path, std::string_view name);

}  // namespace shoal::cli
