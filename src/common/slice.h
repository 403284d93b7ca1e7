// Slices: how a chunk's bytes are recorded. See docs/format.md.
//
// A file is cut into chunks of kChunkSize bytes at fixed offsets. A chunk
// holds an ordered list of slices, oldest first. A slice is one contiguous run
// of bytes written together and stored as immutable block objects; the slice
// record says which part of it is visible where in the chunk:
//
//   chunk:   |----pos---->[  visible: len bytes  ]
//   slice:        [--off-->[  visible: len bytes  ]<--->]   (size bytes stored)
//
// id 0 is a hole: its bytes read as zeros and it has no objects. Reads
// resolve overlapping slices newest-first; bytes no slice covers are zeros.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace shoal {

constexpr uint64_t kChunkSize = 64ull << 20;  // fixed by the format: 64 MiB

struct Slice {
  uint64_t id = 0;    // 0: a hole
  uint32_t size = 0;  // bytes stored in the slice's objects
  uint32_t off = 0;   // start of the visible part within the slice
  uint32_t len = 0;   // visible length
  uint32_t pos = 0;   // where the visible part starts within the chunk

  uint64_t End() const { return uint64_t{pos} + len; }
  bool operator==(const Slice&) const = default;
};

// A resolved piece of a chunk: bytes [pos, pos+len) of the chunk come from
// slice `id` at offset `off` (id 0: zeros).
struct Segment {
  uint64_t id = 0;
  uint32_t size = 0;  // the whole slice's stored size (names its objects)
  uint32_t off = 0;
  uint32_t len = 0;
  uint32_t pos = 0;
};

// The visible layout of a chunk: disjoint segments sorted by pos, covering
// only the bytes some slice covers (gaps read as zeros). Newest slice wins.
std::vector<Segment> ResolveSlices(const std::vector<Slice>& slices);

// The layout of [pos, pos+len) of a chunk with zero-filled gaps made explicit
// as id-0 segments, so that the result covers the range exactly.
std::vector<Segment> ResolveRange(const std::vector<Slice>& slices, uint32_t pos, uint32_t len);

// The slices of `slices` that still have at least one visible byte, in their
// original order; `hidden` receives the others (fully overwritten).
std::vector<Slice> DropHidden(const std::vector<Slice>& slices, std::vector<Slice>* hidden);

// Binary encoding of a chunk's slice list: kSliceRecordSize bytes per slice,
// appended in order (see docs/format.md).
constexpr size_t kSliceRecordSize = 24;
void AppendSlice(std::string* out, const Slice& s);
Result<std::vector<Slice>> DecodeSlices(std::string_view data);

}  // namespace shoal
