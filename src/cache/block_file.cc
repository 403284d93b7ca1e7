#include "cache/block_file.h"

// For XXH3_state_t on the stack (the streaming functions are in the shared library too).
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <algorithm>
#include <cstring>

namespace shoal::cache {
namespace {

constexpr char kMagic[4] = {'S', 'H', 'C', 'B'};
constexpr uint16_t kVersion = 1;

void PutLe(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}

uint64_t GetLe(std::string_view in, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t{static_cast<uint8_t>(in[at + i])} << (8 * i);
  return v;
}

uint64_t SegmentCount(uint64_t data_size, uint64_t segment_size) {
  return (data_size + segment_size - 1) / segment_size;
}

uint64_t MetaChecksum(std::string_view fixed24, std::string_view key, std::string_view sums) {
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  XXH3_64bits_update(&state, fixed24.data(), fixed24.size());
  XXH3_64bits_update(&state, key.data(), key.size());
  XXH3_64bits_update(&state, sums.data(), sums.size());
  return XXH3_64bits_digest(&state);
}

}  // namespace

uint64_t BlockMetaSize(size_t key_size, uint64_t data_size) {
  return kFixedHeaderSize + key_size + 8 * SegmentCount(data_size, kSegmentSize);
}

std::string EncodeBlockMeta(std::string_view key, std::string_view data) {
  std::string out;
  out.reserve(BlockMetaSize(key.size(), data.size()));
  out.append(kMagic, sizeof(kMagic));
  PutLe(&out, kVersion, 2);
  PutLe(&out, 0, 2);
  PutLe(&out, key.size(), 4);
  PutLe(&out, kSegmentSize, 4);
  PutLe(&out, data.size(), 8);
  std::string sums;
  for (uint64_t at = 0; at < data.size(); at += kSegmentSize) {
    std::string_view seg = data.substr(at, kSegmentSize);
    PutLe(&sums, XXH3_64bits(seg.data(), seg.size()), 8);
  }
  PutLe(&out, MetaChecksum(out, key, sums), 8);
  out += key;
  out += sums;
  return out;
}

Result<uint64_t> PeekMetaSize(std::string_view fixed) {
  if (fixed.size() < kFixedHeaderSize) {
    return Corrupt("the file is " + std::to_string(fixed.size()) +
                   " bytes long, shorter than a block header (" + std::to_string(kFixedHeaderSize) +
                   " bytes)");
  }
  if (std::memcmp(fixed.data(), kMagic, sizeof(kMagic)) != 0) {
    return Corrupt("the file does not start with a block header");
  }
  uint64_t version = GetLe(fixed, 4, 2);
  if (version != kVersion) {
    return Corrupt("the block header has version " + std::to_string(version) + ", not " +
                   std::to_string(kVersion));
  }
  uint64_t key_size = GetLe(fixed, 8, 4);
  uint64_t segment_size = GetLe(fixed, 12, 4);
  uint64_t data_size = GetLe(fixed, 16, 8);
  if (key_size == 0 || key_size > kMaxKeySize || segment_size == 0 || data_size > kMaxDataSize) {
    return Corrupt("the block header has impossible sizes (key " + std::to_string(key_size) +
                   ", segment " + std::to_string(segment_size) + ", data " +
                   std::to_string(data_size) + ")");
  }
  return kFixedHeaderSize + key_size + 8 * SegmentCount(data_size, segment_size);
}

Result<BlockMeta> DecodeBlockMeta(std::string_view meta, uint64_t file_size) {
  ASSIGN_OR_RETURN(uint64_t meta_size, PeekMetaSize(meta));
  if (meta.size() < meta_size) {
    return Corrupt("the block header announces " + std::to_string(meta_size) +
                   " bytes of header, more than the " + std::to_string(meta.size()) + " given");
  }
  BlockMeta m;
  m.meta_size = meta_size;
  m.data_size = GetLe(meta, 16, 8);
  m.segment_size = static_cast<uint32_t>(GetLe(meta, 12, 4));
  const uint64_t key_size = GetLe(meta, 8, 4);
  m.key = meta.substr(kFixedHeaderSize, key_size);
  m.sums = meta.substr(kFixedHeaderSize + key_size, meta_size - kFixedHeaderSize - key_size);
  if (MetaChecksum(meta.substr(0, 24), m.key, m.sums) != GetLe(meta, 24, 8)) {
    return Corrupt("the block header fails its checksum");
  }
  if (file_size != meta_size + m.data_size) {
    return Corrupt("the file is " + std::to_string(file_size) + " bytes long; its header says " +
                   std::to_string(meta_size + m.data_size));
  }
  return m;
}

Status VerifySegments(const BlockMeta& meta, uint64_t first, std::string_view data) {
  for (uint64_t i = first, at = 0; at < data.size(); ++i, at += meta.segment_size) {
    std::string_view seg = data.substr(at, meta.segment_size);
    const uint64_t start = i * meta.segment_size;
    const uint64_t want_len = std::min<uint64_t>(meta.segment_size, meta.data_size - start);
    if (start >= meta.data_size || seg.size() != want_len) {
      return Corrupt("data segment " + std::to_string(i) + " is cut short");
    }
    if (XXH3_64bits(seg.data(), seg.size()) != GetLe(meta.sums, 8 * i, 8)) {
      return Corrupt("data segment " + std::to_string(i) + " fails its checksum");
    }
  }
  return OkStatus();
}

}  // namespace shoal::cache
