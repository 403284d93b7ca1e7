#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <system_error>
#include <thread>

#include "chunk/chunk.h"

namespace shoal::chunk {
namespace {

// Blocks of one slice uploaded at once. A 64 MiB slice of 4 MiB blocks is 16
// objects; four in flight hide most of a store's per-request latency without
// letting one flush take every connection a store allows.
constexpr uint32_t kMaxParallelPuts = 4;

// Which of the 256 key prefixes a slice's blocks go under: the low byte of
// XXH64 (seed 0) over the id's 8 little-endian bytes. Part of the format.
uint32_t PrefixOf(uint64_t id) {
  unsigned char le[8];
  for (int i = 0; i < 8; ++i) le[i] = static_cast<unsigned char>(id >> (8 * i));
  return static_cast<uint32_t>(XXH64(le, sizeof(le), 0) % 256);
}

// Ensures a BlockStore made with block size 0 fails every call instead of dividing by zero.
Status CheckBlockSize(uint32_t block_size) {
  if (block_size == 0) return Internal("the block store was made with block size 0");
  return OkStatus();
}

std::string Damaged() {
  return "the volume's data is damaged; run fsck on the volume to find the files affected";
}

}  // namespace

BlockStore::BlockStore(std::shared_ptr<object::ObjectStore> store, std::string volume,
                       uint32_t block_size)
    : store_(std::move(store)), volume_(std::move(volume)), block_size_(block_size) {}

uint32_t BlockStore::BlockCount(uint32_t size) const {
  if (block_size_ == 0) return 0;
  return static_cast<uint32_t>((uint64_t{size} + block_size_ - 1) / block_size_);
}

uint32_t BlockStore::BlockLength(uint32_t size, uint32_t index) const {
  uint64_t start = uint64_t{index} * block_size_;
  if (start >= size) return 0;
  return static_cast<uint32_t>(std::min<uint64_t>(block_size_, size - start));
}

std::string BlockStore::BlockKey(uint64_t id, uint32_t size, uint32_t index) const {
  char hh[3];
  static constexpr char kHex[] = "0123456789abcdef";
  uint32_t prefix = PrefixOf(id);
  hh[0] = kHex[prefix >> 4];
  hh[1] = kHex[prefix & 0xf];
  hh[2] = '\0';
  std::string key = volume_;
  key += "/chunks/";
  key += hh;
  key += '/';
  key += std::to_string(id / 1000000);
  key += '/';
  key += std::to_string(id);
  key += '_';
  key += std::to_string(index);
  key += '_';
  key += std::to_string(BlockLength(size, index));
  return key;
}

std::vector<std::string> BlockStore::SliceKeys(uint64_t id, uint32_t size) const {
  std::vector<std::string> keys;
  if (id == 0) return keys;
  uint32_t count = BlockCount(size);
  keys.reserve(count);
  for (uint32_t i = 0; i < count; ++i) keys.push_back(BlockKey(id, size, i));
  return keys;
}

Status BlockStore::WriteSlice(uint64_t id, std::string_view data) {
  RETURN_IF_ERROR(CheckBlockSize(block_size_));
  if (id == 0) return Invalid("slice id 0 means a hole and has no objects; allocate a real id");
  if (data.size() > kChunkSize) {
    return Invalid("a slice of " + std::to_string(data.size()) + " bytes is larger than a chunk (" +
                   std::to_string(kChunkSize) + " bytes); cut it at chunk boundaries");
  }
  const auto size = static_cast<uint32_t>(data.size());
  const uint32_t count = BlockCount(size);

  // Workers (the caller's thread and up to kMaxParallelPuts-1 helpers) take
  // block indexes from `next` until none remain or one Put has failed.
  std::vector<Status> results(count);
  std::atomic<uint32_t> next{0};
  std::atomic<bool> failed{false};
  auto work = [&] {
    for (uint32_t i = next++; i < count && !failed.load(); i = next++) {
      std::string key = BlockKey(id, size, i);
      Status st = store_->Put(key, data.substr(uint64_t{i} * block_size_, BlockLength(size, i)));
      if (!st.ok()) {
        results[i] = st.Annotate("storing block " + std::to_string(i) + " of slice " +
                                 std::to_string(id) + " as " + key);
        failed = true;
      }
    }
  };
  std::vector<std::thread> helpers;
  uint32_t wanted = std::min(count, kMaxParallelPuts);
  helpers.reserve(wanted);  // so that only starting a thread can throw below
  try {
    while (helpers.size() + 1 < wanted) helpers.emplace_back(work);
  } catch (const std::system_error&) {
    // No more threads to be had: the ones started and this thread do the rest.
  }
  work();
  for (std::thread& t : helpers) t.join();
  for (const Status& st : results) {
    if (!st.ok()) return st;
  }
  return OkStatus();
}

Status BlockStore::ReadChunk(const std::vector<Slice>& slices, uint32_t pos, uint32_t len,
                             std::string* out) {
  RETURN_IF_ERROR(CheckBlockSize(block_size_));
  if (uint64_t{pos} + len > kChunkSize) {
    return Invalid("a read of " + std::to_string(len) + " bytes at " + std::to_string(pos) +
                   " reaches past the end of a chunk (" + std::to_string(kChunkSize) + " bytes)");
  }
  out->assign(len, '\0');
  for (const Segment& seg : ResolveRange(slices, pos, len)) {
    if (seg.id == 0) continue;  // already zeros
    RETURN_IF_ERROR(
        ReadSliceRange(seg.id, seg.size, seg.off, seg.len, out->data() + (seg.pos - pos)));
  }
  return OkStatus();
}

Status BlockStore::ReadSliceRange(uint64_t id, uint32_t size, uint32_t off, uint32_t len,
                                  char* dst) {
  if (len == 0) return OkStatus();  // a zero-length Get would mean "the whole object"
  const uint64_t end = uint64_t{off} + len;
  if (end > size) {
    return Corrupt("the slice list asks for bytes [" + std::to_string(off) + ", " +
                   std::to_string(end) + ") of slice " + std::to_string(id) + ", which has only " +
                   std::to_string(size) +
                   " bytes; the metadata is damaged, run fsck on the volume");
  }
  // Read from each block only the part the range needs.
  for (uint32_t i = off / block_size_; uint64_t{i} * block_size_ < end; ++i) {
    const uint64_t block_start = uint64_t{i} * block_size_;
    const uint64_t from = std::max<uint64_t>(off, block_start);
    const uint64_t to = std::min<uint64_t>(end, block_start + BlockLength(size, i));
    const uint64_t want = to - from;
    std::string key = BlockKey(id, size, i);
    Result<std::string> got = store_->Get(key, from - block_start, want);
    if (!got.has_value()) {
      if (got.error().code() == Code::kNotFound) {
        return IoError("object " + key + " is missing (expected " + std::to_string(want) +
                       " bytes at offset " + std::to_string(from - block_start) +
                       ", got none): " + Damaged());
      }
      return got.error().Annotate("reading block " + std::to_string(i) + " of slice " +
                                  std::to_string(id) + " from " + key);
    }
    if (got->size() < want) {
      return IoError("object " + key + " is short (expected " + std::to_string(want) +
                     " bytes at offset " + std::to_string(from - block_start) + ", got " +
                     std::to_string(got->size()) + "): " + Damaged());
    }
    if (got->size() > want) {
      return IoError("object store " + store_->Describe() + " returned " +
                     std::to_string(got->size()) + " bytes of " + key + " for a read of " +
                     std::to_string(want) + "; the store does not honour range reads");
    }
    std::memcpy(dst + (from - off), got->data(), want);
  }
  return OkStatus();
}

Status BlockStore::DeleteSlice(uint64_t id, uint32_t size) {
  RETURN_IF_ERROR(CheckBlockSize(block_size_));
  // Try every block even after a failure, so that one bad request leaks as
  // little as possible; report the first failure.
  Status first;
  for (const std::string& key : SliceKeys(id, size)) {
    Status st = store_->Delete(key);
    if (!st.ok() && first.ok()) {
      first = st.Annotate("deleting slice " + std::to_string(id) + " object " + key);
    }
  }
  return first;
}

}  // namespace shoal::chunk
