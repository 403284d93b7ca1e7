// Keys and values of the metadata schema. docs/format.md is the reference;
// change both together and bump kFormatVersion.
//
// Every key starts with one letter naming its kind; integers in keys are
// big-endian so that keys of one inode sort together and in numeric order.
// Values use little-endian fixed-width fields.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "meta/meta.h"

namespace shoal::meta::codec {

// --- keys ---
std::string SettingKey();                                 // "S"
std::string CounterKey(std::string_view name);            // "C" name
std::string AttrKey(Ino ino);                             // "A" ino
std::string EntryKey(Ino parent, std::string_view name);  // "D" parent name
std::string EntryPrefix(Ino parent);                      // "D" parent
std::string ChunkKey(Ino ino, uint32_t index);            // "K" ino index
std::string ChunkPrefix(Ino ino);                         // "K" ino
std::string XattrKey(Ino ino, std::string_view name);     // "X" ino name
std::string XattrPrefix(Ino ino);                         // "X" ino
std::string SymlinkKey(Ino ino);                          // "Y" ino
std::string DeletedSliceKey(uint64_t id, uint32_t size);  // "G" id size
std::string DeletedSlicePrefix();                         // "G"
std::string HolderKey(Ino ino, uint64_t session);         // "H" ino session
std::string HolderPrefix(Ino ino);                        // "H" ino
std::string HolderPrefix();                               // "H"
std::string SessionKey(uint64_t session);                 // "U" session
std::string SessionPrefix();                              // "U"
std::string FlockKey(Ino ino);                            // "F" ino
std::string PlockKey(Ino ino);                            // "P" ino
std::string FlockPrefix();
std::string PlockPrefix();

// Decoders of key parts; kCorrupt when the key is not of that kind.
Result<std::string_view> EntryName(std::string_view key);  // name of a "D" key
Result<uint32_t> ChunkIndex(std::string_view key);         // index of a "K" key
Result<std::string_view> XattrName(std::string_view key);  // name of an "X" key
Result<Ino> InoOfKey(std::string_view key);                // ino of "A","F","P" keys
// (ino, session) of an "H" key.
Result<std::pair<Ino, uint64_t>> DecodeHolderKey(std::string_view key);
Result<std::pair<uint64_t, uint32_t>> DeletedSlice(std::string_view key);

// --- values ---
std::string EncodeAttr(const Attr& a);
Result<Attr> DecodeAttr(std::string_view v);
std::string EncodeEntry(Ino ino, FileType type);
Result<std::pair<Ino, FileType>> DecodeEntry(std::string_view v);
std::string EncodeU64(uint64_t v);
Result<uint64_t> DecodeU64(std::string_view v);
std::string EncodeVolume(const VolumeConfig& c);  // JSON
Result<VolumeConfig> DecodeVolume(std::string_view v);
std::string EncodeSession(const SessionInfo& s);  // JSON
Result<SessionInfo> DecodeSession(std::string_view v);

struct FlockRecord {
  uint64_t session = 0;
  uint64_t owner = 0;
  LockType type = LockType::kUnlock;
};
struct PlockRecord {
  uint64_t session = 0;
  uint64_t owner = 0;
  PosixLock lock;
};
std::string EncodeFlocks(const std::vector<FlockRecord>& r);
Result<std::vector<FlockRecord>> DecodeFlocks(std::string_view v);
std::string EncodePlocks(const std::vector<PlockRecord>& r);
Result<std::vector<PlockRecord>> DecodePlocks(std::string_view v);

}  // namespace shoal::meta::codec
