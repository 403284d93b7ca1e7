// The file that holds one cached block (format version 1).
//
// All integers little-endian. Offsets in bytes:
//
//   0      4  magic "SHCB"
//   4      2  version, 1
//   6      2  reserved, 0
//   8      4  K: key length
//   12     4  S: segment size, bytes of data per checksum (kSegmentSize when written)
//   16     8  L: data length
//   24     8  XXH3-64 (seed 0) of bytes [0, 24), the key and the segment checksums
//   32     K  the block's object key
//   32+K   8N N = ceil(L / S) segment checksums: XXH3-64 (seed 0) of data
//              bytes [i*S, min(L, (i+1)*S))
//   M      L  the data, where M = 32 + K + 8N is the meta size
//
// The file is exactly M + L bytes long; a longer or shorter one is corrupt.
// Checksums per segment let a ranged read verify only the segments it
// reads (a 128 KiB read of a 4 MiB block reads and checks 3 segments at most).
// The key makes a file self-describing: a restart recovers staged keys from
// it, and a read checks that the file is the block asked for.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace shoal::cache {

inline constexpr size_t kFixedHeaderSize = 32;
// 64 KiB: a 4 MiB block has 64 checksums (512 bytes), and a random read
// never verifies more than 64 KiB it did not ask for at either end.
inline constexpr uint64_t kSegmentSize = 64 << 10;
// Keys longer than this are refused (object keys are far shorter).
inline constexpr uint32_t kMaxKeySize = 4096;
// Blocks larger than this are refused (the volume block size is 4 MiB by
// default; charges are kept in 32 bits).
inline constexpr uint64_t kMaxDataSize = 1ull << 30;

// Bytes before the data in the file of a block with this key and data size.
uint64_t BlockMetaSize(size_t key_size, uint64_t data_size);

// Everything of the file before the data: header, key, segment checksums.
std::string EncodeBlockMeta(std::string_view key, std::string_view data);

// What the header says, once verified.
struct BlockMeta {
  uint64_t meta_size = 0;  // offset of the data in the file
  uint64_t data_size = 0;
  uint32_t segment_size = 0;
  std::string_view key;   // points into the bytes given to DecodeBlockMeta
  std::string_view sums;  // 8 bytes per segment, ditto
};

// The meta size announced by the first kFixedHeaderSize bytes of a file, so
// that the caller knows how much to read for DecodeBlockMeta. kCorrupt for a
// bad magic, an unknown version or impossible sizes.
Result<uint64_t> PeekMetaSize(std::string_view fixed_header);

// Parses and verifies the meta bytes (at least PeekMetaSize() of them; more
// are ignored) of a file of `file_size` bytes. kCorrupt when anything does
// not check out, with a message saying what.
Result<BlockMeta> DecodeBlockMeta(std::string_view meta, uint64_t file_size);

// Verifies `data`, which holds data bytes starting at segment `first` and
// ending at a segment boundary or at the end of the data. kCorrupt naming the
// first bad segment.
Status VerifySegments(const BlockMeta& meta, uint64_t first, std::string_view data);

}  // namespace shoal::cache
