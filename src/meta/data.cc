// Data operations: chunks' slice lists, length, and slices waiting for their
// objects to be deleted.
#include <fcntl.h>
#include <linux/falloc.h>
#include <unistd.h>

#include <algorithm>

#include "meta/internal.h"

namespace shoal::meta {

using codec::ChunkKey;

namespace {

// Chunk indexes are 32 bits: this is the largest length a file can have.
constexpr uint64_t kMaxFileSize = kChunkSize << 32;

Result<std::vector<Slice>> GetChunk(kv::Txn& txn, Ino ino, uint32_t index) {
  ASSIGN_OR_RETURN(auto v, txn.Get(ChunkKey(ino, index)));
  if (!v) return std::vector<Slice>();
  auto slices = DecodeSlices(*v);
  if (!slices) {
    return slices.error().Annotate("chunk " + std::to_string(index) + " of inode " +
                                   std::to_string(ino));
  }
  return slices;
}

std::string EncodeChunk(const std::vector<Slice>& slices) {
  std::string out;
  out.reserve(slices.size() * kSliceRecordSize);
  for (const Slice& s : slices) AppendSlice(&out, s);
  return out;
}

// Appends slices to a chunk, drops the ones now fully hidden and queues their
// objects for deletion.
Status AddSlices(kv::Txn& txn, Ino ino, uint32_t index, const std::vector<Slice>& added) {
  ASSIGN_OR_RETURN(auto slices, GetChunk(txn, ino, index));
  slices.insert(slices.end(), added.begin(), added.end());
  std::vector<Slice> hidden;
  slices = DropHidden(slices, &hidden);
  QueueSliceDeletes(txn, hidden);
  if (slices.empty()) {
    txn.Delete(ChunkKey(ino, index));
  } else {
    txn.Put(ChunkKey(ino, index), EncodeChunk(slices));
  }
  return OkStatus();
}

// A hole slice over [begin, end) of the file, cut to chunk `index`; or nullopt
// when the range misses the chunk.
std::optional<Slice> HoleIn(uint32_t index, uint64_t begin, uint64_t end) {
  uint64_t chunk_begin = uint64_t{index} * kChunkSize;
  uint64_t b = std::max(begin, chunk_begin);
  uint64_t e = std::min(end, chunk_begin + kChunkSize);
  if (b >= e) return std::nullopt;
  Slice hole;
  hole.pos = static_cast<uint32_t>(b - chunk_begin);
  hole.len = static_cast<uint32_t>(e - b);
  return hole;
}

// Makes [begin, end) of a file read as zeros: hides it in every chunk that has
// data there. Chunks that do not exist already read as zeros.
Status ZeroRange(kv::Txn& txn, Ino ino, uint64_t begin, uint64_t end) {
  if (begin >= end) return OkStatus();
  auto first = static_cast<uint32_t>(begin / kChunkSize);
  uint64_t last = (end - 1) / kChunkSize;
  std::vector<uint32_t> indexes;
  Status bad;
  RETURN_IF_ERROR(txn.Scan(ChunkKey(ino, first),
                           last + 1 >= (1ull << 32)
                               ? kv::PrefixEnd(codec::ChunkPrefix(ino))
                               : ChunkKey(ino, static_cast<uint32_t>(last + 1)),
                           0, true, [&](std::string_view k, std::string_view) {
                             auto index = codec::ChunkIndex(k);
                             if (!index) return (bad = index.error()), false;
                             indexes.push_back(*index);
                             return true;
                           }));
  RETURN_IF_ERROR(bad);
  for (uint32_t index : indexes) {
    if (auto hole = HoleIn(index, begin, end)) RETURN_IF_ERROR(AddSlices(txn, ino, index, {*hole}));
  }
  return OkStatus();
}

Result<Attr*> GetFile(AttrCache& attrs, Ino ino) {
  ASSIGN_OR_RETURN(Attr * a, attrs.Get(ino));
  if (a->type == FileType::kDir) return IsDir("inode " + std::to_string(ino) + " is a directory");
  if (a->type != FileType::kFile) return Invalid("not a regular file");
  return a;
}

}  // namespace

Result<std::vector<Slice>> Meta::ReadChunk(Ino ino, uint32_t chunk_index) {
  std::vector<Slice> slices;
  RETURN_IF_ERROR(engine_->View([&](kv::Txn& txn) -> Status {
    ASSIGN_OR_RETURN(slices, GetChunk(txn, ino, chunk_index));
    return OkStatus();
  }));
  return slices;
}

Result<Attr> Meta::WriteSlices(Ino ino, const std::vector<SliceWrite>& writes, uint64_t min_length,
                               Timespec mtime) {
  if (min_length > kMaxFileSize) return Status(Code::kFileTooBig, "file too big");
  std::map<uint32_t, std::vector<Slice>> by_chunk;
  for (const auto& w : writes) {
    if (w.slice.End() > kChunkSize) return Invalid("slice crosses a chunk boundary");
    by_chunk[w.chunk_index].push_back(w.slice);
  }
  Attr out;
  RETURN_IF_ERROR(
      Update(*engine_, *impl_, [&](kv::Txn& txn, AttrCache& attrs, Delta& delta) -> Status {
        ASSIGN_OR_RETURN(Attr * a, GetFile(attrs, ino));
        for (const auto& [index, slices] : by_chunk) {
          RETURN_IF_ERROR(AddSlices(txn, ino, index, slices));
        }
        if (min_length > a->length) {
          delta.bytes = static_cast<int64_t>(min_length - a->length);
          a->length = min_length;
        }
        a->mtime = a->ctime = mtime;
        attrs.MarkDirty(ino);
        out = *a;
        return OkStatus();
      }));
  return out;
}

Result<Attr> Meta::Truncate(const Context& ctx, Ino ino, uint64_t length, bool skip_perm) {
  if (length > kMaxFileSize) return Status(Code::kFileTooBig, "file too big");
  Attr out;
  RETURN_IF_ERROR(
      Update(*engine_, *impl_, [&](kv::Txn& txn, AttrCache& attrs, Delta& delta) -> Status {
        ASSIGN_OR_RETURN(Attr * a, GetFile(attrs, ino));
        if (!skip_perm) RETURN_IF_ERROR(CheckAccess(ctx, *a, W_OK));
        if (length < a->length) {
          auto last = static_cast<uint32_t>(length / kChunkSize);
          bool cut = length % kChunkSize != 0;
          // Whole chunks past the new end go; the one the end falls in is hidden
          // from the end on, so that growing the file again reads zeros.
          uint32_t first_dropped = cut ? last + 1 : last;
          std::vector<std::string> dropped;
          Status bad;
          std::string end = kv::PrefixEnd(codec::ChunkPrefix(ino));
          if (!cut || last + 1ull < (1ull << 32)) {
            RETURN_IF_ERROR(txn.Scan(ChunkKey(ino, first_dropped), end, 0, false,
                                     [&](std::string_view k, std::string_view v) {
                                       auto slices = DecodeSlices(v);
                                       if (!slices) return (bad = slices.error()), false;
                                       QueueSliceDeletes(txn, *slices);
                                       dropped.emplace_back(k);
                                       return true;
                                     }));
          }
          RETURN_IF_ERROR(bad);
          for (const auto& k : dropped) txn.Delete(k);
          if (cut) RETURN_IF_ERROR(ZeroRange(txn, ino, length, (uint64_t{last} + 1) * kChunkSize));
        }
        delta.bytes = static_cast<int64_t>(length) - static_cast<int64_t>(a->length);
        a->length = length;
        a->mtime = a->ctime = Now();
        attrs.MarkDirty(ino);
        out = *a;
        return OkStatus();
      }));
  return out;
}

Result<Attr> Meta::Fallocate(Ino ino, int mode, uint64_t off, uint64_t len) {
  if (len == 0) return Invalid("fallocate of zero bytes");
  if (off + len < off || off + len > kMaxFileSize) return Status(Code::kFileTooBig, "file too big");
  const bool keep_size = mode & FALLOC_FL_KEEP_SIZE;
  const bool punch = mode & FALLOC_FL_PUNCH_HOLE;
  const bool zero = mode & FALLOC_FL_ZERO_RANGE;
  if ((mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) != 0 ||
      (punch && (zero || !keep_size))) {
    return Unsupported("fallocate mode " + std::to_string(mode) + " is not supported");
  }
  Attr out;
  RETURN_IF_ERROR(
      Update(*engine_, *impl_, [&](kv::Txn& txn, AttrCache& attrs, Delta& delta) -> Status {
        ASSIGN_OR_RETURN(Attr * a, GetFile(attrs, ino));
        uint64_t end = off + len;
        bool changed = false;
        if (punch || zero) {
          RETURN_IF_ERROR(ZeroRange(txn, ino, off, punch ? std::min(end, a->length) : end));
          changed = true;
        }
        if (!keep_size && end > a->length) {
          delta.bytes = static_cast<int64_t>(end - a->length);
          a->length = end;
          changed = true;
        }
        if (changed) {
          a->mtime = a->ctime = Now();
          attrs.MarkDirty(ino);
        }
        out = *a;
        return OkStatus();
      }));
  return out;
}

Status Meta::ReplaceChunk(Ino ino, uint32_t chunk_index, const std::vector<Slice>& expected,
                          const std::vector<Slice>& replacement) {
  return engine_->Txn([&](kv::Txn& txn) -> Status {
    ASSIGN_OR_RETURN(auto current, GetChunk(txn, ino, chunk_index));
    if (current != expected) return Status(Code::kBusy, "the chunk changed during compaction");
    std::vector<Slice> freed;
    for (const Slice& s : expected) {
      bool kept = std::any_of(replacement.begin(), replacement.end(),
                              [&](const Slice& r) { return r.id == s.id; });
      if (!kept) freed.push_back(s);
    }
    QueueSliceDeletes(txn, freed);
    if (replacement.empty()) {
      txn.Delete(ChunkKey(ino, chunk_index));
    } else {
      txn.Put(ChunkKey(ino, chunk_index), EncodeChunk(replacement));
    }
    return OkStatus();
  });
}

Result<std::map<uint32_t, std::vector<Slice>>> Meta::ListChunks(Ino ino) {
  std::map<uint32_t, std::vector<Slice>> out;
  RETURN_IF_ERROR(engine_->View([&](kv::Txn& txn) -> Status {
    out.clear();
    Status bad;
    std::string prefix = codec::ChunkPrefix(ino);
    RETURN_IF_ERROR(txn.Scan(prefix, kv::PrefixEnd(prefix), 0, false,
                             [&](std::string_view k, std::string_view v) {
                               auto index = codec::ChunkIndex(k);
                               auto slices = DecodeSlices(v);
                               if (!index) return (bad = index.error()), false;
                               if (!slices) return (bad = slices.error()), false;
                               out[*index] = std::move(*slices);
                               return true;
                             }));
    return bad;
  }));
  return out;
}

Result<std::vector<Slice>> Meta::PendingSliceDeletes(size_t limit) {
  std::vector<Slice> out;
  RETURN_IF_ERROR(engine_->View([&](kv::Txn& txn) -> Status {
    out.clear();
    std::string prefix = codec::DeletedSlicePrefix();
    return txn.Scan(prefix, kv::PrefixEnd(prefix), limit, true,
                    [&](std::string_view k, std::string_view) {
                      if (auto s = codec::DeletedSlice(k)) {
                        Slice slice;
                        slice.id = s->first;
                        slice.size = s->second;
                        out.push_back(slice);
                      }
                      return true;
                    });
  }));
  return out;
}

Status Meta::ForgetSliceDelete(const Slice& s) {
  return engine_->Txn([&](kv::Txn& txn) -> Status {
    txn.Delete(codec::DeletedSliceKey(s.id, s.size));
    return OkStatus();
  });
}

}  // namespace shoal::meta
