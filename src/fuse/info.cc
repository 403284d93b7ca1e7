#include "fuse/info.h"

#include <charconv>
#include <map>
#include <string>
#include <vector>

namespace shoal::fuse {
namespace {

using nlohmann::json;

json SliceJson(chunk::BlockStore& blocks, const Slice& s, bool with_objects) {
  json j = {{"id", s.id}, {"size", s.size}, {"off", s.off}, {"len", s.len}, {"pos", s.pos}};
  if (with_objects) {
    json keys = json::array();
    if (s.id != 0) {
      for (std::string& k : blocks.SliceKeys(s.id, s.size)) keys.push_back(std::move(k));
    }
    j["objects"] = std::move(keys);
  }
  return j;
}

json ChunkJson(chunk::BlockStore& blocks, uint32_t index, const std::vector<Slice>& slices,
               bool with_objects) {
  json list = json::array();
  for (const Slice& s : slices) list.push_back(SliceJson(blocks, s, with_objects));
  return json{{"index", index}, {"slices", std::move(list)}};
}

}  // namespace

bool IsReservedXattr(std::string_view name) {
  return name == kStatusXattr || InfoFirstChunk(name).has_value();
}

std::optional<uint32_t> InfoFirstChunk(std::string_view name) {
  if (!name.starts_with(kInfoXattr)) return std::nullopt;
  std::string_view rest = name.substr(kInfoXattr.size());
  if (rest.empty()) return 0u;
  if (rest.front() != '@' || rest.size() == 1) return std::nullopt;
  rest.remove_prefix(1);
  uint32_t n = 0;
  auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), n);
  if (ec != std::errc() || ptr != rest.data() + rest.size()) return std::nullopt;
  return n;
}

std::string DumpJson(const nlohmann::json& j, int indent) {
  return j.dump(indent, ' ', /*ensure_ascii=*/false, json::error_handler_t::replace);
}

std::string_view TypeName(meta::FileType type) {
  switch (type) {
    case meta::FileType::kFile:
      return "file";
    case meta::FileType::kDir:
      return "dir";
    case meta::FileType::kSymlink:
      return "symlink";
    case meta::FileType::kFifo:
      return "fifo";
    case meta::FileType::kCharDev:
      return "chardev";
    case meta::FileType::kBlockDev:
      return "blockdev";
    case meta::FileType::kSocket:
      return "socket";
  }
  return "unknown";
}

Result<nlohmann::json> FileInfo(vfs::Vfs& vfs, const Context& ctx, meta::Ino ino,
                                uint32_t first_chunk, size_t max_bytes) {
  ASSIGN_OR_RETURN(meta::Attr attr, vfs.GetAttr(ctx, ino));
  json out = {{"ino", ino},
              {"type", TypeName(attr.type)},
              {"size", attr.length},
              {"volume", vfs.meta().config().name},
              {"block_size", vfs.blocks().block_size()},
              {"chunks", json::array()}};
  if (attr.type != meta::FileType::kFile) return out;

  ASSIGN_OR_RETURN(auto chunks, vfs.meta().ListChunks(ino));
  // Room for the fields above plus "next_chunk" and the separators.
  size_t used = DumpJson(out).size() + 32;
  json& list = out["chunks"];
  for (auto it = chunks.lower_bound(first_chunk); it != chunks.end(); ++it) {
    json c = ChunkJson(vfs.blocks(), it->first, it->second, /*with_objects=*/true);
    size_t size = DumpJson(c).size() + 1;
    if (used + size > max_bytes) {
      if (!list.empty()) {
        out["next_chunk"] = it->first;
        break;
      }
      // One chunk alone is too big: keys can be derived from id and size, so
      // they are the part to drop.
      c = ChunkJson(vfs.blocks(), it->first, it->second, /*with_objects=*/false);
      c["objects_omitted"] = true;
      size = DumpJson(c).size() + 1;
      list.push_back(std::move(c));
      used += size;
      if (std::next(it) != chunks.end()) out["next_chunk"] = std::next(it)->first;
      break;
    }
    list.push_back(std::move(c));
    used += size;
  }
  return out;
}

Result<nlohmann::json> VolumeStatus(meta::Meta& meta) {
  const meta::VolumeConfig& c = meta.config();
  json out;
  out["volume"] = {{"name", c.name},
                   {"uuid", c.uuid},
                   {"storage", c.storage},
                   {"bucket", c.bucket},
                   {"block_size", c.block_size},
                   {"format_version", c.format_version},
                   {"capacity", c.capacity},
                   {"created_sec", c.created_sec}};
  ASSIGN_OR_RETURN(meta::VolumeUsage usage, meta.Usage());
  out["usage"] = {{"used_bytes", usage.used_bytes},
                  {"inodes", usage.inodes},
                  {"pending_delete_slices", usage.pending_delete_slices}};
  ASSIGN_OR_RETURN(std::vector<meta::SessionInfo> sessions, meta.ListSessions());
  json list = json::array();
  for (const meta::SessionInfo& s : sessions) {
    list.push_back({{"id", s.id},
                    {"host", s.host},
                    {"pid", s.pid},
                    {"mountpoint", s.mountpoint},
                    {"version", s.version},
                    {"started_sec", s.started_sec},
                    {"heartbeat_sec", s.heartbeat_sec}});
  }
  out["sessions"] = std::move(list);
  return out;
}

}  // namespace shoal::fuse
