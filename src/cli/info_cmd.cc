// shoal info: how a file inside a mount is stored: its chunks, their slices
// and the objects that hold them. Read from the mount through the reserved
// xattr user.shoal.info (see fuse/info.h), page by page.
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/volume.h"
#include "fuse/info.h"
#include "fuse/mountpoint.h"

namespace shoal::cli {
namespace {

constexpr std::string_view kCmd = "info";
// A file has at most 2^32 chunks; this bounds the loop against a mount that
// keeps answering with the same page.
constexpr int kMaxPages = 1 << 20;

using nlohmann::json;

// All pages of a file's info merged into one answer.
Result<json> ReadInfo(const std::string& path) {
  ASSIGN_OR_RETURN(json info, ReadJsonXattr(path, fuse::kInfoXattr));
  if (!info.is_object() || !info.contains("chunks") || !info["chunks"].is_array()) {
    return Corrupt("the mount answered info for " + path + " without a chunk list");
  }
  for (int page = 0; page < kMaxPages && info.contains("next_chunk"); ++page) {
    const json& next = info["next_chunk"];
    if (!next.is_number_unsigned()) return Corrupt("the mount answered a bad next_chunk");
    auto from = next.get<uint64_t>();
    std::string name = std::string(fuse::kInfoXattr) + "@" + std::to_string(from);
    ASSIGN_OR_RETURN(json more, ReadJsonXattr(path, name));
    if (!more.is_object() || !more.contains("chunks") || !more["chunks"].is_array()) {
      return Corrupt("the mount answered info for " + path + " without a chunk list");
    }
    for (json& c : more["chunks"]) {
      // A page must move forward, or the loop would never end.
      if (!c.contains("index") || !c["index"].is_number_unsigned() ||
          c["index"].get<uint64_t>() < from) {
        return Corrupt("the mount answered chunks out of order for " + path);
      }
      info["chunks"].push_back(std::move(c));
    }
    if (more.contains("next_chunk")) {
      info["next_chunk"] = more["next_chunk"];
    } else {
      info.erase("next_chunk");
    }
  }
  return info;
}

void PrintHuman(const std::string& path, const json& info, bool objects) {
  uint64_t size = info.value("size", uint64_t{0});
  std::cout << path << "\n"
            << "  volume  " << info.value("volume", std::string("?")) << "\n"
            << "  inode   " << info.value("ino", uint64_t{0}) << "\n"
            << "  type    " << info.value("type", std::string("?")) << "\n"
            << "  size    " << FormatBytes(size) << " (" << size << " bytes)\n";
  const json& chunks = info["chunks"];
  if (info.value("type", std::string()) != "file") return;
  std::cout << "  chunks  " << chunks.size() << " of "
            << FormatBytes(info.value("block_size", uint64_t{0})) << " blocks\n"
            << "  (a slice's visible bytes sit at pos..pos+len of the 64 MiB chunk and start at "
               "off within the slice's size stored bytes)\n";
  for (const json& c : chunks) {
    std::cout << "  chunk " << c.value("index", uint64_t{0}) << "\n";
    for (const json& s : c.value("slices", json::array())) {
      uint64_t id = s.value("id", uint64_t{0});
      std::cout << "    " << (id == 0 ? std::string("hole") : "slice " + std::to_string(id))
                << "  pos " << s.value("pos", uint64_t{0}) << "  len "
                << s.value("len", uint64_t{0});
      if (id != 0) {
        std::cout << "  off " << s.value("off", uint64_t{0}) << "  size "
                  << s.value("size", uint64_t{0});
        if (s.contains("objects")) std::cout << "  objects " << s["objects"].size();
      }
      std::cout << "\n";
      if (objects && s.contains("objects")) {
        for (const json& k : s["objects"]) {
          std::cout << "      " << (k.is_string() ? k.get<std::string>() : k.dump()) << "\n";
        }
      }
    }
    if (c.value("objects_omitted", false)) {
      std::cout << "    (object keys omitted: the chunk's list is too long to pass through "
                   "the kernel)\n";
    }
  }
}

}  // namespace

int RunInfo(const InfoArgs& a) {
  std::string path = fuse::AbsolutePath(a.path);
  Result<json> info = ReadInfo(path);
  if (!info) {
    PrintError(kCmd, info.error());
    return kExitError;
  }
  if (a.json) {
    std::cout << fuse::DumpJson(*info, 2) << "\n";
  } else {
    PrintHuman(path, *info, a.objects);
  }
  return kExitOk;
}

}  // namespace shoal::cli
