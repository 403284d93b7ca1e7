#include <xxhash.h>

#include <algorithm>
#include <utility>

#include "cache/mem_cache.h"
#include "chunk/chunk.h"
#include "chunk/fetcher.h"
#include "chunk/task_pool.h"
#include "chunk/uploader.h"

namespace shoal::chunk {
namespace {

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

// Threads that write fetched blocks into the cache.
constexpr int kFillThreads = 2;

}  // namespace

BlockStore::BlockStore(std::shared_ptr<object::ObjectStore> store, std::string volume,
                       uint32_t block_size, BlockStoreOptions options)
    : store_(std::move(store)),
      volume_(std::move(volume)),
      block_size_(block_size),
      options_(std::move(options)),
      cache_(options_.cache) {
  if (cache_ == nullptr && options_.memory_cache_bytes > 0) {
    cache_ = std::make_shared<cache::MemCache>(options_.memory_cache_bytes);
  }
  // Staging in a cache of our own would not survive a crash: write-back
  // needs the caller's (disk) cache.
  options_.writeback = options_.writeback && options_.cache != nullptr;
  download_pool_ = std::make_unique<TaskPool>("shoal-get", options_.download_concurrency);
  upload_pool_ = std::make_unique<TaskPool>("shoal-put", options_.upload_concurrency);
  writeback_pool_ = std::make_unique<TaskPool>("shoal-put-bg", options_.upload_concurrency);
  // Only a cache of the caller's (on disk) is filled in the background.
  if (options_.cache != nullptr)
    fill_pool_ = std::make_unique<TaskPool>("shoal-fill", kFillThreads);
  fetcher_ = std::make_unique<Fetcher>(*store_, cache_.get(), *download_pool_, fill_pool_.get(),
                                       options_.readahead_bytes);
  uploader_ =
      std::make_unique<Uploader>(*store_, cache_.get(), *upload_pool_, *writeback_pool_, options_);
}

BlockStore::~BlockStore() {
  uploader_->Stop();
  fetcher_->Stop();
  // Runs what is queued (it ends at once now) before the fetcher and the
  // uploader that the tasks point to go away.
  writeback_pool_.reset();
  upload_pool_.reset();
  download_pool_.reset();
  fill_pool_.reset();
}

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

Status BlockStore::WriteSlice(uint64_t id, std::string_view data, Status* deferred) {
  return WriteBlocks(
      id, data.size(),
      [data](uint64_t off, uint64_t len, std::string*) { return data.substr(off, len); }, deferred);
}

Status BlockStore::WriteSlice(uint64_t id, const Pages& data, Status* deferred) {
  return WriteBlocks(
      id, data.size(),
      [&data](uint64_t off, uint64_t len, std::string* scratch) {
        return data.View(off, len, scratch);
      },
      deferred);
}

Status BlockStore::WriteBlocks(uint64_t id, uint64_t data_size, const BlockView& view,
                               Status* deferred) {
  RETURN_IF_ERROR(CheckBlockSize(block_size_));
  if (id == 0) return Invalid("slice id 0 means a hole and has no objects; allocate a real id");
  if (data_size > kChunkSize) {
    return Invalid("a slice of " + std::to_string(data_size) + " bytes is larger than a chunk (" +
                   std::to_string(kChunkSize) + " bytes); cut it at chunk boundaries");
  }
  const auto size = static_cast<uint32_t>(data_size);
  const uint32_t count = BlockCount(size);
  std::vector<std::string> scratch(count);  // copies of blocks that straddle pages
  std::vector<Uploader::Block> blocks;
  blocks.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    blocks.push_back(
        Uploader::Block{BlockKey(id, size, i),
                        view(uint64_t{i} * block_size_, BlockLength(size, i), &scratch[i]), i});
  }
  return uploader_->Write(id, blocks, deferred);
}

Status BlockStore::CheckRead(uint32_t pos, uint32_t len) const {
  RETURN_IF_ERROR(CheckBlockSize(block_size_));
  if (uint64_t{pos} + len > kChunkSize) {
    return Invalid("a read of " + std::to_string(len) + " bytes at " + std::to_string(pos) +
                   " reaches past the end of a chunk (" + std::to_string(kChunkSize) + " bytes)");
  }
  return OkStatus();
}

Status BlockStore::ReadChunk(const std::vector<Slice>& slices, uint32_t pos, uint32_t len,
                             std::string* out) {
  RETURN_IF_ERROR(CheckRead(pos, len));
  ASSIGN_OR_RETURN(std::vector<Piece> pieces, PiecesOf(slices, pos, len));
  return ReadPieces(pieces, len, out);
}

Result<std::vector<Piece>> BlockStore::PiecesOf(const std::vector<Slice>& slices, uint32_t pos,
                                                uint32_t len) const {
  std::vector<Piece> pieces;
  for (const Segment& seg : ResolveRange(slices, pos, len)) {
    if (seg.id == 0 || seg.len == 0) continue;  // zeros
    const uint64_t end = uint64_t{seg.off} + seg.len;
    if (end > seg.size) {
      return Corrupt("the slice list asks for bytes [" + std::to_string(seg.off) + ", " +
                     std::to_string(end) + ") of slice " + std::to_string(seg.id) +
                     ", which has only " + std::to_string(seg.size) +
                     " bytes; the metadata is damaged, run fsck on the volume");
    }
    for (uint32_t i = seg.off / block_size_; uint64_t{i} * block_size_ < end; ++i) {
      const uint64_t block_start = uint64_t{i} * block_size_;
      const uint64_t from = std::max<uint64_t>(seg.off, block_start);
      const uint64_t to = std::min<uint64_t>(end, block_start + BlockLength(seg.size, i));
      Piece p;
      p.key = BlockKey(seg.id, seg.size, i);
      p.slice_id = seg.id;
      p.index = i;
      p.block_len = BlockLength(seg.size, i);
      p.off = static_cast<uint32_t>(from - block_start);
      p.len = static_cast<uint32_t>(to - from);
      p.dst = uint64_t{seg.pos} - pos + (from - seg.off);
      pieces.push_back(std::move(p));
    }
  }
  return pieces;
}

Status BlockStore::ReadPieces(const std::vector<Piece>& pieces, uint32_t len, std::string* out) {
  out->assign(len, '\0');
  return fetcher_->Read(pieces, out->data());
}

std::unique_ptr<ReadStream> BlockStore::OpenStream(SliceLister lister) {
  return std::unique_ptr<ReadStream>(new ReadStream(*this, std::move(lister)));
}

Status BlockStore::DeleteSlice(uint64_t id, uint32_t size) {
  RETURN_IF_ERROR(CheckBlockSize(block_size_));
  // Try every block even after a failure, so that one bad request leaks as
  // little as possible; report the first failure.
  Status first;
  for (const std::string& key : SliceKeys(id, size)) {
    uploader_->Forget(key);
    if (cache_ != nullptr) cache_->Remove(key);
    Status st = store_->Delete(key);
    if (!st.ok() && first.ok()) {
      first = st.Annotate("deleting slice " + std::to_string(id) + " object " + key);
    }
  }
  return first;
}

Status BlockStore::Flush() { return uploader_->Flush(); }

size_t BlockStore::RecoverStaged() { return uploader_->Recover(); }

BlockStoreStats BlockStore::Stats() const {
  BlockStoreStats s;
  fetcher_->FillStats(&s);
  uploader_->FillStats(&s);
  s.readahead_used = readahead_used_;
  s.readahead_wasted = readahead_wasted_;
  if (cache_ != nullptr) s.cache = cache_->Stats();
  return s;
}

}  // namespace shoal::chunk
