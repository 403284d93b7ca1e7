// shoal fsck: checks a volume's metadata (meta/fsck.h) and then its objects
// (cli/fsck_objects.h), and with --repair repairs what it safely can.
// Exit status: 0 when no error is left, 1 when some is, 2 when the volume
// could not be checked.
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "chunk/chunk.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/fsck_objects.h"
#include "cli/storage.h"
#include "cli/volume.h"
#include "fuse/info.h"
#include "meta/fsck.h"
#include "meta/meta.h"

namespace shoal::cli {
namespace {

constexpr std::string_view kCmd = "fsck";
// How often progress is shown on a terminal.
constexpr auto kProgressInterval = std::chrono::seconds(2);
// Most Head requests in flight that --threads accepts.
constexpr unsigned kMaxThreads = 256;

using nlohmann::json;

// Progress on stderr, at most every kProgressInterval, only when stderr is
// a terminal (and the output is not JSON).
class ProgressLine {
 public:
  explicit ProgressLine(bool enabled) : enabled_(enabled) {}
  ~ProgressLine() { Clear(); }

  meta::FsckProgress Callback() {
    if (!enabled_) return {};
    return [this](std::string_view phase, uint64_t done, uint64_t total) {
      auto now = std::chrono::steady_clock::now();
      if (now - last_ < kProgressInterval) return;
      last_ = now;
      std::string line = "shoal fsck: " + std::string(phase) + " " + std::to_string(done);
      if (total != 0) line += " / " + std::to_string(total);
      line += phase == "metadata" ? " keys" : phase == "repair" ? " repairs" : " objects";
      std::cerr << "\r" << line << "\x1b[K" << std::flush;
      shown_ = true;
    };
  }
  void Clear() {
    if (shown_) std::cerr << "\r\x1b[K" << std::flush;
    shown_ = false;
  }

 private:
  bool enabled_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point last_{};
};

Status CheckArgs(const FsckArgs& a) {
  if (a.stale_after_sec < 0) return Invalid("--stale-after must be 0 or more seconds");
  if (a.leak_age_sec < 0) return Invalid("--leak-age must be 0 or more seconds");
  if (a.threads == 0 || a.threads > kMaxThreads) {
    return Invalid("--threads must be from 1 to " + std::to_string(kMaxThreads));
  }
  return CheckMetaUrl(a.meta_url);
}

// The object pass, or why it was skipped ("" when it ran).
Result<std::string> CheckVolumeObjects(const FsckArgs& a, std::shared_ptr<kv::Engine> engine,
                                       meta::FsckReport& report,
                                       const meta::FsckProgress& progress) {
  if (a.skip_objects) return std::string("skipped (--skip-objects)");
  const meta::VolumeConfig& config = report.volume;
  if (config.storage == "mem") {
    return std::string("skipped: the volume keeps its data in memory, gone after each mount");
  }
  ASSIGN_OR_RETURN(StoreSpec spec, VolumeStoreSpec(config, a.store, ProcessEnv()));
  ASSIGN_OR_RETURN(std::shared_ptr<object::ObjectStore> store,
                   OpenStore(spec, /*create_bucket=*/false));
  chunk::BlockStore blocks(store, config.name, config.block_size);
  ASSIGN_OR_RETURN(std::unique_ptr<meta::Meta> meta, meta::Meta::Open(engine));
  StillReferenced still = [&meta](meta::Ino ino, uint32_t chunk, uint64_t id) {
    Result<std::vector<Slice>> slices = meta->ReadChunk(ino, chunk);
    if (!slices) return true;
    for (const Slice& s : *slices) {
      if (s.id == id) return true;
    }
    return false;
  };
  ObjectCheckOptions options;
  options.repair = a.repair;
  options.leak_age_sec = a.leak_age_sec;
  options.threads = a.threads;
  RETURN_IF_ERROR(CheckObjects(blocks, config.name, options, still, report, progress));
  return std::string();
}

// Paths for the problems of the object pass (the metadata pass fills its own).
void FillObjectPaths(kv::Engine& engine, meta::FsckReport& report) {
  std::unordered_set<meta::Ino> wanted;
  for (const meta::FsckProblem& p : report.problems) {
    if (p.ino != 0 && p.path.empty()) wanted.insert(p.ino);
  }
  if (wanted.empty()) return;
  auto paths = meta::FsckPaths(engine, wanted);
  if (!paths) return;  // paths are a convenience: the inode numbers remain
  for (meta::FsckProblem& p : report.problems) {
    if (auto it = paths->find(p.ino); p.path.empty() && it != paths->end()) p.path = it->second;
  }
}

std::string_view SeverityName(meta::FsckSeverity s) {
  return s == meta::FsckSeverity::kError ? "error" : "warning";
}

std::string InFlightNote(const meta::FsckReport& r) {
  if (r.live_sessions == 0) return "";
  return std::to_string(r.live_sessions) + " live session" + (r.live_sessions == 1 ? "" : "s") +
         ": the volume is in use, so results may include changes in flight (clients store "
         "their usage counts about once a second)";
}

json ToJson(const FsckArgs& a, const meta::FsckReport& r, const std::string& objects,
            int exit_status) {
  const meta::FsckCounts& c = r.counts;
  json counts = {{"keys", c.keys},
                 {"inodes", c.inodes},
                 {"dirs", c.dirs},
                 {"files", c.files},
                 {"symlinks", c.symlinks},
                 {"others", c.others},
                 {"entries", c.entries},
                 {"bytes", c.bytes},
                 {"chunks", c.chunks},
                 {"slices", c.slices},
                 {"pending_slices", c.pending_slices},
                 {"open_unlinked", c.open_unlinked},
                 {"holders", c.holders},
                 {"locks", c.locks},
                 {"sessions", c.sessions},
                 {"stale_sessions", c.stale_sessions},
                 {"objects_checked", c.objects_checked},
                 {"objects_listed", c.objects_listed}};
  json by_kind = json::object();
  for (int k = 0; k < meta::kFsckKinds; ++k) {
    const meta::FsckTally& t = r.by_kind[k];
    if (t.errors + t.warnings == 0) continue;
    by_kind[std::string(meta::FsckKindName(static_cast<meta::FsckKind>(k)))] = {
        {"errors", t.errors},
        {"warnings", t.warnings},
        {"repaired", t.repaired},
        {"open_errors", t.open_errors}};
  }
  json problems = json::array();
  for (const meta::FsckProblem& p : r.problems) {
    json j = {{"kind", meta::FsckKindName(p.kind)},
              {"severity", SeverityName(p.severity)},
              {"where", p.where},
              {"what", p.what},
              {"repaired", p.repaired}};
    if (p.ino != 0) j["ino"] = p.ino;
    if (!p.path.empty()) j["path"] = p.path;
    if (!p.repair.empty()) j["repair"] = p.repair;
    problems.push_back(std::move(j));
  }
  json sessions = json::array();
  for (const meta::FsckSession& s : r.sessions) {
    sessions.push_back({{"id", s.info.id},
                        {"host", s.info.host},
                        {"pid", s.info.pid},
                        {"mountpoint", s.info.mountpoint},
                        {"heartbeat_sec", s.info.heartbeat_sec},
                        {"stale", s.stale}});
  }
  meta::FsckTally total = r.Total();
  json out = {{"volume", {{"name", r.volume.name}, {"uuid", r.volume.uuid}}},
              {"meta_url", a.meta_url},
              {"repair", r.repair},
              {"live_sessions", r.live_sessions},
              {"counts", counts},
              {"sessions", sessions},
              {"objects", objects.empty() ? std::string("checked") : objects},
              {"problems_by_kind", by_kind},
              {"problems", problems},
              {"problems_omitted", r.problems_omitted},
              {"errors", total.errors},
              {"warnings", total.warnings},
              {"repaired", total.repaired},
              {"open_errors", total.open_errors},
              {"clean", r.Clean()},
              {"exit_status", exit_status}};
  if (std::string note = InFlightNote(r); !note.empty()) out["note"] = note;
  return out;
}

void PrintHuman(const FsckArgs& a, const meta::FsckReport& r, const std::string& objects) {
  const meta::FsckCounts& c = r.counts;
  std::cout << "volume " << r.volume.name << " (" << r.volume.uuid << ") in " << a.meta_url
            << (r.repair ? ": checked and repaired" : ": checked, nothing changed") << "\n";
  if (std::string note = InFlightNote(r); !note.empty()) std::cout << "note: " << note << "\n";
  std::cout << "\n"
            << "  inodes    " << c.inodes << " (" << c.dirs << " dirs, " << c.files << " files, "
            << c.symlinks << " symlinks, " << c.others << " other)\n"
            << "  entries   " << c.entries << "\n"
            << "  data      " << FormatBytes(c.bytes) << " in " << c.chunks << " chunks, "
            << c.slices << " slices (" << c.pending_slices << " queued for deletion)\n"
            << "  objects   ";
  if (objects.empty()) {
    std::cout << c.objects_checked << " blocks checked, " << c.objects_listed << " listed\n";
  } else {
    std::cout << objects << "\n";
  }
  std::cout << "  sessions  " << c.sessions << " (" << c.stale_sessions << " stale)\n";
  int64_t now = meta::Now().sec;
  for (const meta::FsckSession& s : r.sessions) {
    std::cout << "    #" << s.info.id << " " << s.info.host << " pid " << s.info.pid << " on "
              << s.info.mountpoint << ", heartbeat " << FormatAge(now - s.info.heartbeat_sec)
              << " ago" << (s.stale ? " (stale)" : "") << "\n";
  }

  meta::FsckTally total = r.Total();
  if (total.errors + total.warnings == 0) {
    std::cout << "\nno problems found\n";
    return;
  }
  std::cout << "\n  problem          errors  warnings  repaired\n";
  for (int k = 0; k < meta::kFsckKinds; ++k) {
    const meta::FsckTally& t = r.by_kind[k];
    if (t.errors + t.warnings == 0) continue;
    std::string name(meta::FsckKindName(static_cast<meta::FsckKind>(k)));
    std::string e = std::to_string(t.errors), w = std::to_string(t.warnings),
                rep = std::to_string(t.repaired);
    std::cout << "  " << name << std::string(name.size() < 16 ? 16 - name.size() : 1, ' ')
              << std::string(e.size() < 7 ? 7 - e.size() : 1, ' ') << e
              << std::string(w.size() < 10 ? 10 - w.size() : 1, ' ') << w
              << std::string(rep.size() < 10 ? 10 - rep.size() : 1, ' ') << rep << "\n";
  }
  std::cout << "\n";
  for (const meta::FsckProblem& p : r.problems) {
    std::string severity(SeverityName(p.severity));
    severity.resize(7, ' ');  // as wide as "warning"
    std::string kind(meta::FsckKindName(p.kind));
    if (kind.size() < 14) kind.resize(14, ' ');
    std::cout << "  " << severity << "  " << kind << "  " << p.where;
    if (!p.path.empty()) std::cout << " (" << p.path << ")";
    std::cout << ": " << p.what << "\n";
    if (!p.repair.empty()) {
      std::cout << "      " << (p.repaired ? "repaired: " : "") << p.repair << "\n";
    }
  }
  if (r.problems_omitted > 0) {
    std::cout << "  ... and " << r.problems_omitted
              << " more (raise --max-problems, or use --json, to see them)\n";
  }
  std::cout << "\n"
            << total.errors << " error" << (total.errors == 1 ? "" : "s") << ", " << total.warnings
            << " warning" << (total.warnings == 1 ? "" : "s");
  if (r.repair) {
    std::cout << "; " << total.repaired << " repaired, " << total.open_errors << " error"
              << (total.open_errors == 1 ? "" : "s") << " left";
  } else if (total.errors > 0) {
    std::cout << "; run with --repair to repair what fsck can";
  }
  std::cout << "\n";
}

}  // namespace

int RunFsck(const FsckArgs& a) {
  if (Status s = CheckArgs(a); !s.ok()) {
    PrintError(kCmd, s);
    return kExitFsckFailed;
  }
  Result<std::shared_ptr<kv::Engine>> engine =
      OpenMetaEngine(a.meta_url,
                     "RocksDB lets one process open it: unmount the volume ('shoal umount "
                     "MOUNTPOINT') and run fsck again");
  if (!engine) {
    PrintError(kCmd, engine.error());
    return kExitFsckFailed;
  }
  ProgressLine line(!a.json && ::isatty(STDERR_FILENO) == 1);
  meta::FsckOptions options;
  options.repair = a.repair;
  options.stale_after_sec = a.stale_after_sec;
  options.max_problems = a.max_problems;
  Result<meta::FsckReport> report = meta::Fsck(*engine, options, line.Callback());
  if (!report) {
    line.Clear();
    Status s = report.error();
    if (s.code() == Code::kNotFound) {
      s = NotFound("no volume in " + a.meta_url + ": run 'shoal format " + a.meta_url +
                   " NAME --storage file --bucket DIR' first");
    }
    PrintError(kCmd, s);
    return kExitFsckFailed;
  }
  Result<std::string> objects = CheckVolumeObjects(a, *engine, *report, line.Callback());
  line.Clear();
  FillObjectPaths(**engine, *report);
  int status = report->HasOpenErrors() ? kExitError : kExitOk;
  std::string objects_note;
  if (!objects) {
    objects_note = "not checked: " + objects.error().message();
    status = kExitFsckFailed;
  } else {
    objects_note = *objects;
  }
  if (a.json) {
    std::cout << fuse::DumpJson(ToJson(a, *report, objects_note, status), 2) << "\n";
  } else {
    PrintHuman(a, *report, objects_note);
  }
  if (!objects) PrintError(kCmd, "the object pass failed: " + objects.error().message());
  return status;
}

}  // namespace shoal::cli
