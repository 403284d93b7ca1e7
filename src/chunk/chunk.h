// chunk: the bytes of slices, kept as immutable block objects.
//
// A slice of `size` bytes is stored as ceil(size / block_size) objects, block
// i holding bytes [i*block_size, min(size, (i+1)*block_size)). Object names
// (see docs/format.md):
//
//   <volume>/chunks/<hh>/<id / 1000000>/<id>_<index>_<length>
//
// where hh is two hex digits of a hash of the id, spreading keys over 256
// prefixes. This layer knows nothing of inodes or of the metadata engine: vfs
// gets slice lists from meta and asks this layer for their bytes.
//
// Threading: BlockStore is thread-safe. WriteBuffer is not (vfs guards it).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/slice.h"
#include "common/status.h"
#include "object/object_store.h"

namespace shoal::chunk {

class BlockStore {
 public:
  // block_size is the volume's, fixed at format; it must not be 0 (every call
  // then fails with kInternal).
  BlockStore(std::shared_ptr<object::ObjectStore> store, std::string volume, uint32_t block_size);

  uint32_t block_size() const { return block_size_; }
  object::ObjectStore& store() { return *store_; }

  // The object key of block `index` of slice `id` whose whole size is `size`.
  std::string BlockKey(uint64_t id, uint32_t size, uint32_t index) const;
  // Every object key of a slice.
  std::vector<std::string> SliceKeys(uint64_t id, uint32_t size) const;

  // Uploads `data` as slice `id` (size = data.size(), at most kChunkSize).
  // Returns once every block is stored. Blocks go up a few at a time in
  // parallel. On failure some blocks may already be stored: the caller
  // deletes them with DeleteSlice or leaves them to gc (ids are never reused).
  Status WriteSlice(uint64_t id, std::string_view data);

  // Reads bytes [pos, pos+len) of a chunk whose slice list is `slices` into
  // out (resized to len); uncovered bytes and holes are zeros. A missing
  // block or one shorter than its name says is kIo naming the object.
  Status ReadChunk(const std::vector<Slice>& slices, uint32_t pos, uint32_t len, std::string* out);

  // Deletes every object of a slice (id 0 has none). Missing objects are fine.
  Status DeleteSlice(uint64_t id, uint32_t size);

 private:
  // Objects of a slice of `size` bytes, and the length of block `index`.
  uint32_t BlockCount(uint32_t size) const;
  uint32_t BlockLength(uint32_t size, uint32_t index) const;
  // Reads [off, off+len) of slice (id, size) into dst.
  Status ReadSliceRange(uint64_t id, uint32_t size, uint32_t off, uint32_t len, char* dst);

  std::shared_ptr<object::ObjectStore> store_;
  std::string volume_;
  uint32_t block_size_;
};

// Bytes written to a file but not yet stored: disjoint extents by file
// offset, merged as writes touch or overlap. vfs keeps one per inode with
// dirty data, overlays it on reads, and drains it on flush/fsync/close.
class WriteBuffer {
 public:
  // Buffers `data` at file offset `off` over whatever was buffered there.
  // Appending right after an extent grows it in place: amortized O(1) per byte.
  void Write(uint64_t off, std::string_view data);
  // Overlays buffered bytes onto out, which holds file bytes [off, off+out->size()).
  void Overlay(uint64_t off, std::string* out) const;
  // Drops everything at or past `length` (truncate).
  void Truncate(uint64_t length);
  // For punch hole / zero range: forgets the buffered bytes in [off, off+len),
  // so that Overlay leaves the range alone and Drain does not write them back.
  // The range reads as zeros only because the caller also records a hole for
  // it in the metadata (the buffer does not hold zeros for it).
  void Zero(uint64_t off, uint64_t len);
  uint64_t bytes() const { return bytes_; }
  bool empty() const { return extents_.empty(); }
  uint64_t End() const;  // one past the last buffered byte, 0 when empty

  // One piece of the buffer that lies within a single chunk.
  struct Piece {
    uint32_t chunk_index;
    uint32_t pos;  // offset in the chunk
    std::string data;
  };
  // Takes everything out, cut at chunk boundaries, in file order.
  std::vector<Piece> Drain();

 private:
  // Removes buffered bytes in [lo, hi), splitting extents that straddle it.
  void Cut(uint64_t lo, uint64_t hi);

  // Invariant: extents neither overlap nor touch (touching ones are merged).
  std::map<uint64_t, std::string> extents_;  // file offset -> bytes
  uint64_t bytes_ = 0;
};

}  // namespace shoal::chunk
