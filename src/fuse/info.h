// Introspection through a mount: `shoal info PATH` and `shoal status MOUNTPOINT`
// read reserved extended attributes that the adapter answers itself with JSON
// built here. The names are never stored, never listed by listxattr, and
// cannot be set or removed (EPERM).
//
//   user.shoal.info      a file's layout from chunk 0:
//                          {"ino", "type", "size", "volume", "block_size",
//                           "chunks": [{"index", "slices": [{"id", "size", "off",
//                                       "len", "pos", "objects": [keys]}]}],
//                           "next_chunk": N}   (only when cut short)
//   user.shoal.info@N    the same from chunk N on; follow "next_chunk" until
//                        it is absent to read a large file's layout.
//   user.shoal.status    the volume (any inode answers the same):
//                          {"volume": {...}, "usage": {...}, "sessions": [...],
//                           "served_by": {"pid", "mountpoint"}}
//
// Answers are cut to kMaxAnswerBytes because the kernel refuses xattr values
// over 64 KiB (XATTR_SIZE_MAX). The user.* namespace is what an unprivileged
// getxattr(2) may read; the kernel refuses it on symlinks and device nodes,
// so those have no info.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/context.h"
#include "common/status.h"
#include "meta/meta.h"
#include "vfs/vfs.h"

namespace shoal::fuse {

inline constexpr std::string_view kInfoXattr = "user.shoal.info";
inline constexpr std::string_view kStatusXattr = "user.shoal.status";
constexpr size_t kMaxAnswerBytes = 60u << 10;

// True for kInfoXattr (with or without "@N") and kStatusXattr.
bool IsReservedXattr(std::string_view name);

// The first chunk asked for by an info name: 0 for "user.shoal.info", N for
// "user.shoal.info@N"; nullopt when `name` is not an info name or N is not a
// number.
std::optional<uint32_t> InfoFirstChunk(std::string_view name);

// The layout of inode `ino` from chunk `first_chunk` on, as described above,
// cut so that its compact dump stays within max_bytes (at least one chunk is
// always included; if that alone is too big its object keys are left out and
// "objects_omitted" is set). Reads attributes through vfs (permission checks
// of GetAttr apply) and slices from meta.
Result<nlohmann::json> FileInfo(vfs::Vfs& vfs, const Context& ctx, meta::Ino ino,
                                uint32_t first_chunk, size_t max_bytes);

// The volume's settings, usage and sessions (without "served_by").
Result<nlohmann::json> VolumeStatus(meta::Meta& meta);

// j.dump() that never throws: invalid UTF-8 (in a file or host name) is
// replaced with U+FFFD. indent < 0: compact.
std::string DumpJson(const nlohmann::json& j, int indent = -1);

// The name of a file type as info prints it: "file", "dir", "symlink", ...
std::string_view TypeName(meta::FileType type);

}  // namespace shoal::fuse
