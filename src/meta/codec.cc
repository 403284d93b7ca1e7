#include "meta/codec.h"

#include <cstring>
#include <nlohmann/json.hpp>

namespace shoal::meta::codec {
namespace {

void PutBe64(std::string* s, uint64_t v) {
  for (int i = 7; i >= 0; --i) s->push_back(static_cast<char>((v >> (i * 8)) & 0xff));
}
void PutBe32(std::string* s, uint32_t v) {
  for (int i = 3; i >= 0; --i) s->push_back(static_cast<char>((v >> (i * 8)) & 0xff));
}
uint64_t GetBe(std::string_view s, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<uint8_t>(s[at + i]);
  return v;
}

// Little-endian value writer and reader.
class Writer {
 public:
  template <typename T>
  void Put(T v) {
    for (size_t i = 0; i < sizeof(T); ++i) {
      out_.push_back(static_cast<char>((static_cast<uint64_t>(v) >> (i * 8)) & 0xff));
    }
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  template <typename T>
  bool Get(T* v) {
    if (in_.size() - at_ < sizeof(T)) return false;
    uint64_t x = 0;
    for (size_t i = 0; i < sizeof(T); ++i) {
      x |= static_cast<uint64_t>(static_cast<uint8_t>(in_[at_ + i])) << (i * 8);
    }
    *v = static_cast<T>(x);
    at_ += sizeof(T);
    return true;
  }
  bool Done() const { return at_ == in_.size(); }

 private:
  std::string_view in_;
  size_t at_ = 0;
};

std::string KindAndIno(char kind, Ino ino) {
  std::string k(1, kind);
  PutBe64(&k, ino);
  return k;
}

constexpr uint8_t kAttrVersion = 1;

}  // namespace

std::string SettingKey() { return "S"; }
std::string CounterKey(std::string_view name) { return "C" + std::string(name); }
std::string AttrKey(Ino ino) { return KindAndIno('A', ino); }
std::string EntryKey(Ino parent, std::string_view name) {
  return KindAndIno('D', parent) + std::string(name);
}
std::string EntryPrefix(Ino parent) { return KindAndIno('D', parent); }
std::string ChunkKey(Ino ino, uint32_t index) {
  std::string k = KindAndIno('K', ino);
  PutBe32(&k, index);
  return k;
}
std::string ChunkPrefix(Ino ino) { return KindAndIno('K', ino); }
std::string XattrKey(Ino ino, std::string_view name) {
  return KindAndIno('X', ino) + std::string(name);
}
std::string XattrPrefix(Ino ino) { return KindAndIno('X', ino); }
std::string SymlinkKey(Ino ino) { return KindAndIno('Y', ino); }
std::string DeletedSliceKey(uint64_t id, uint32_t size) {
  std::string k = KindAndIno('G', id);
  PutBe32(&k, size);
  return k;
}
std::string DeletedSlicePrefix() { return "G"; }
std::string HolderKey(Ino ino, uint64_t session) {
  std::string k = KindAndIno('H', ino);
  PutBe64(&k, session);
  return k;
}
std::string HolderPrefix(Ino ino) { return KindAndIno('H', ino); }
std::string HolderPrefix() { return "H"; }
std::string SessionKey(uint64_t session) { return KindAndIno('U', session); }
std::string SessionPrefix() { return "U"; }
std::string FlockKey(Ino ino) { return KindAndIno('F', ino); }
std::string PlockKey(Ino ino) { return KindAndIno('P', ino); }
std::string FlockPrefix() { return "F"; }
std::string PlockPrefix() { return "P"; }

Result<std::string_view> EntryName(std::string_view key) {
  if (key.size() < 9 || key[0] != 'D') return Corrupt("bad directory entry key");
  return key.substr(9);
}
Result<uint32_t> ChunkIndex(std::string_view key) {
  if (key.size() != 13 || key[0] != 'K') return Corrupt("bad chunk key");
  return static_cast<uint32_t>(GetBe(key, 9, 4));
}
Result<std::string_view> XattrName(std::string_view key) {
  if (key.size() < 9 || key[0] != 'X') return Corrupt("bad xattr key");
  return key.substr(9);
}
Result<Ino> InoOfKey(std::string_view key) {
  if (key.size() < 9) return Corrupt("bad inode key");
  return GetBe(key, 1, 8);
}
Result<std::pair<Ino, uint64_t>> DecodeHolderKey(std::string_view key) {
  if (key.size() != 17 || key[0] != 'H') return Corrupt("bad open-holder key");
  return std::make_pair(GetBe(key, 1, 8), GetBe(key, 9, 8));
}
Result<std::pair<uint64_t, uint32_t>> DeletedSlice(std::string_view key) {
  if (key.size() != 13 || key[0] != 'G') return Corrupt("bad deleted-slice key");
  return std::make_pair(GetBe(key, 1, 8), static_cast<uint32_t>(GetBe(key, 9, 4)));
}

std::string EncodeAttr(const Attr& a) {
  Writer w;
  w.Put<uint8_t>(kAttrVersion);
  w.Put<uint8_t>(static_cast<uint8_t>(a.type));
  w.Put<uint32_t>(a.mode);
  w.Put<uint32_t>(a.uid);
  w.Put<uint32_t>(a.gid);
  w.Put<uint32_t>(a.nlink);
  w.Put<uint64_t>(a.length);
  w.Put<uint64_t>(a.rdev);
  for (const Timespec* t : {&a.atime, &a.mtime, &a.ctime}) {
    w.Put<int64_t>(t->sec);
    w.Put<uint32_t>(t->nsec);
  }
  w.Put<uint64_t>(a.parent);
  return w.Take();
}

Result<Attr> DecodeAttr(std::string_view v) {
  Reader r(v);
  Attr a;
  uint8_t version = 0, type = 0;
  bool ok = r.Get(&version) && version == kAttrVersion && r.Get(&type) && r.Get(&a.mode) &&
            r.Get(&a.uid) && r.Get(&a.gid) && r.Get(&a.nlink) && r.Get(&a.length) && r.Get(&a.rdev);
  for (Timespec* t : {&a.atime, &a.mtime, &a.ctime}) ok = ok && r.Get(&t->sec) && r.Get(&t->nsec);
  ok = ok && r.Get(&a.parent) && r.Done();
  if (!ok || type < 1 || type > 7) return Corrupt("inode attributes do not decode");
  a.type = static_cast<FileType>(type);
  return a;
}

std::string EncodeEntry(Ino ino, FileType type) {
  Writer w;
  w.Put<uint64_t>(ino);
  w.Put<uint8_t>(static_cast<uint8_t>(type));
  return w.Take();
}

Result<std::pair<Ino, FileType>> DecodeEntry(std::string_view v) {
  Reader r(v);
  uint64_t ino = 0;
  uint8_t type = 0;
  if (!r.Get(&ino) || !r.Get(&type) || !r.Done() || type < 1 || type > 7) {
    return Corrupt("directory entry does not decode");
  }
  return std::make_pair(ino, static_cast<FileType>(type));
}

std::string EncodeU64(uint64_t v) {
  Writer w;
  w.Put<uint64_t>(v);
  return w.Take();
}

Result<uint64_t> DecodeU64(std::string_view v) {
  Reader r(v);
  uint64_t x = 0;
  if (!r.Get(&x) || !r.Done()) return Corrupt("counter does not decode");
  return x;
}

std::string EncodeVolume(const VolumeConfig& c) {
  nlohmann::json j = {
      {"name", c.name},         {"uuid", c.uuid},          {"block_size", c.block_size},
      {"storage", c.storage},   {"bucket", c.bucket},      {"format_version", c.format_version},
      {"capacity", c.capacity}, {"created", c.created_sec}};
  // Credentials only when set, so a record without them says so by absence.
  if (!c.access_key.empty()) j["access_key"] = c.access_key;
  if (!c.secret_key.empty()) j["secret_key"] = c.secret_key;
  if (!c.region.empty()) j["region"] = c.region;
  return j.dump();
}

Result<VolumeConfig> DecodeVolume(std::string_view v) {
  auto j = nlohmann::json::parse(v, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Corrupt("the volume record is not valid JSON");
  VolumeConfig c;
  // The format version is read first and alone, so that a record of a newer
  // format with other fields still yields a clear version error.
  if (!j.contains("format_version") || !j["format_version"].is_number_unsigned()) {
    return Corrupt("the volume record has no format_version");
  }
  c.format_version = j["format_version"].get<uint32_t>();
  auto str = [&](const char* k, std::string* out) {
    if (j.contains(k) && j[k].is_string()) *out = j[k].get<std::string>();
  };
  str("name", &c.name);
  str("uuid", &c.uuid);
  str("storage", &c.storage);
  str("bucket", &c.bucket);
  str("access_key", &c.access_key);
  str("secret_key", &c.secret_key);
  str("region", &c.region);
  if (j.contains("block_size") && j["block_size"].is_number_unsigned()) {
    c.block_size = j["block_size"].get<uint32_t>();
  }
  if (j.contains("capacity") && j["capacity"].is_number_unsigned()) {
    c.capacity = j["capacity"].get<uint64_t>();
  }
  if (j.contains("created") && j["created"].is_number())
    c.created_sec = j["created"].get<int64_t>();
  return c;
}

std::string EncodeSession(const SessionInfo& s) {
  nlohmann::json j = {{"id", s.id},
                      {"host", s.host},
                      {"pid", s.pid},
                      {"mountpoint", s.mountpoint},
                      {"version", s.version},
                      {"started", s.started_sec},
                      {"heartbeat", s.heartbeat_sec}};
  return j.dump();
}

Result<SessionInfo> DecodeSession(std::string_view v) {
  auto j = nlohmann::json::parse(v, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Corrupt("a session record is not valid JSON");
  SessionInfo s;
  s.id = j.value("id", uint64_t{0});
  s.host = j.value("host", std::string());
  s.pid = j.value("pid", uint32_t{0});
  s.mountpoint = j.value("mountpoint", std::string());
  s.version = j.value("version", std::string());
  s.started_sec = j.value("started", int64_t{0});
  s.heartbeat_sec = j.value("heartbeat", int64_t{0});
  return s;
}

std::string EncodeFlocks(const std::vector<FlockRecord>& records) {
  Writer w;
  for (const auto& r : records) {
    w.Put<uint64_t>(r.session);
    w.Put<uint64_t>(r.owner);
    w.Put<uint8_t>(static_cast<uint8_t>(r.type));
  }
  return w.Take();
}

Result<std::vector<FlockRecord>> DecodeFlocks(std::string_view v) {
  Reader r(v);
  std::vector<FlockRecord> out;
  while (!r.Done()) {
    FlockRecord f;
    uint8_t type = 0;
    if (!r.Get(&f.session) || !r.Get(&f.owner) || !r.Get(&type) || type > 2) {
      return Corrupt("flock records do not decode");
    }
    f.type = static_cast<LockType>(type);
    out.push_back(f);
  }
  return out;
}

std::string EncodePlocks(const std::vector<PlockRecord>& records) {
  Writer w;
  for (const auto& r : records) {
    w.Put<uint64_t>(r.session);
    w.Put<uint64_t>(r.owner);
    w.Put<uint8_t>(static_cast<uint8_t>(r.lock.type));
    w.Put<uint64_t>(r.lock.start);
    w.Put<uint64_t>(r.lock.end);
    w.Put<uint32_t>(r.lock.pid);
  }
  return w.Take();
}

Result<std::vector<PlockRecord>> DecodePlocks(std::string_view v) {
  Reader r(v);
  std::vector<PlockRecord> out;
  while (!r.Done()) {
    PlockRecord p;
    uint8_t type = 0;
    if (!r.Get(&p.session) || !r.Get(&p.owner) || !r.Get(&type) || type > 2 ||
        !r.Get(&p.lock.start) || !r.Get(&p.lock.end) || !r.Get(&p.lock.pid)) {
      return Corrupt("posix lock records do not decode");
    }
    p.lock.type = static_cast<LockType>(type);
    out.push_back(p);
  }
  return out;
}

}  // namespace shoal::meta::codec
