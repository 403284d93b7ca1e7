#include "model_run.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace shoal::model {

namespace {

constexpr size_t kRecentOps = 25;  // operations shown before a mismatch

}  // namespace

ModelRun::ModelRun(const RunOptions& options)
    : options_(options), rng_(options.seed), ctx_(0, 0, static_cast<uint32_t>(getpid())) {
  // Vary the write path by seed: small buffers flush mid-file and make
  // many slices, which a low compaction threshold then merges.
  switch (options.seed % 4) {
    case 0:
      break;
    case 1:
      vfs_options_.write_buffer_per_file = 128u << 10;
      vfs_options_.compact_after_slices = 4;
      break;
    case 2:
      vfs_options_.write_buffer_per_file = 1u << 20;
      vfs_options_.compact_after_slices = 8;
      break;
    case 3:
      vfs_options_.write_buffer_per_file = 4u << 10;
      vfs_options_.compact_after_slices = 2;
      break;
  }
  vfs_options_.background = false;  // the run calls CollectGarbage itself, reproducibly
}

ModelRun::~ModelRun() {
  for (Handle& h : handles_)
    if (h.fd >= 0) close(h.fd);
  vfs_.reset();
  engine_.reset();
  store_.reset();
  if (real_fd_ >= 0) close(real_fd_);
  if (!scratch_.empty()) {
    if (report_.ok || !options_.keep_scratch_on_failure) {
      std::error_code ec;
      std::filesystem::remove_all(scratch_, ec);
    } else {
      fmt::print(stderr, "model: scratch directory kept: {}\n", scratch_);
    }
  }
}

// ---------------------------------------------------------------------------
// Setup and teardown.

Status ModelRun::Setup() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "shoal-model-XXXXXX").string();
  if (!mkdtemp(tmpl.data()))
    return IoError(fmt::format("mkdtemp {}: {}", tmpl, std::strerror(errno)));
  scratch_ = tmpl;
  real_root_ = scratch_ + "/real";
  if (mkdir(real_root_.c_str(), 0755) != 0)
    return IoError(fmt::format("mkdir {}: {}", real_root_, std::strerror(errno)));
  real_fd_ = open(real_root_.c_str(), O_RDONLY | O_DIRECTORY);
  if (real_fd_ < 0) return IoError(fmt::format("open {}: {}", real_root_, std::strerror(errno)));

  if (options_.backend == Backend::kMem) {
    kv_url_ = "mem://";
    store_url_ = "mem://";
  } else {
    kv_url_ = "rocksdb://" + scratch_ + "/meta";
    store_url_ = "file://" + scratch_ + "/data";
  }
  RETURN_IF_ERROR(OpenVolume(/*format=*/true));

  // Give the real root the mode and owner of shoal's, so that the root's
  // attributes can be compared too.
  ASSIGN_OR_RETURN(Attr root, vfs_->GetAttr(ctx_, meta::kRootIno));
  if (fchmod(real_fd_, root.mode & 07777) != 0 || fchown(real_fd_, root.uid, root.gid) != 0)
    return IoError(fmt::format("chmod/chown {}: {}", real_root_, std::strerror(errno)));
  return OkStatus();
}

Status ModelRun::OpenVolume(bool format) {
  if (!engine_) {
    ASSIGN_OR_RETURN(engine_, kv::OpenKv(kv_url_, /*create=*/format));
  }
  if (!store_) {
    ASSIGN_OR_RETURN(store_, object::OpenObjectStore(store_url_));
  }
  if (format) {
    meta::VolumeConfig config;
    config.name = "model";
    config.storage = options_.backend == Backend::kMem ? "mem" : "file";
    config.bucket = store_url_;
    RETURN_IF_ERROR(meta::Meta::Format(*engine_, config).Annotate("formatting the volume"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<meta::Meta> m, meta::Meta::Open(engine_));
  ASSIGN_OR_RETURN(vfs_, vfs::Vfs::Create(std::move(m), store_, vfs_options_));
  return OkStatus();
}

// Shuts the volume down. The mem backend keeps its engine and store (they
// are the volume); the rocksdb+file backend drops both so that they are
// opened again from disk.
Status ModelRun::CloseVolume() {
  Status st = vfs_->Shutdown();
  vfs_.reset();
  if (options_.backend == Backend::kRocksdbFile) {
    engine_.reset();
    store_.reset();
  }
  return st;
}

// ---------------------------------------------------------------------------
// The run.

void ModelRun::Remember(int index, const std::string& line) {
  recent_.push_back(fmt::format("#{} {}", index, line));
  if (recent_.size() > kRecentOps) recent_.pop_front();
}

void ModelRun::Fail(int index, const Op* op, const std::string& what) {
  report_.ok = false;
  std::string s = fmt::format(
      "model mismatch: seed {} backend {} (write buffer {} B, compact after {} slices)\n"
      "  at op #{}{}\n  {}\n"
      "  reproduce: SHOAL_MODEL_SEED={} SHOAL_MODEL_OPS={} (add SHOAL_MODEL_TRACE=1 to see every "
      "op)\n  previous operations (real | shoal):\n",
      options_.seed, BackendName(options_.backend), vfs_options_.write_buffer_per_file,
      vfs_options_.compact_after_slices, index, op ? ": " + Describe(*op) : std::string(), what,
      options_.seed, index + 1);
  for (const std::string& line : recent_) s += "    " + line + "\n";
  report_.failure = s;
}

bool ModelRun::Step(int index, const Op& op) {
  std::string text = Describe(op);
  if (op.kind == Kind::kRemount) {
    std::string closed = CloseAll();
    if (!closed.empty()) {
      Fail(index, &op, "closing the handles before the remount differs:" + closed);
      return false;
    }
    Status st = CloseVolume();
    if (st.ok()) st = OpenVolume(/*format=*/false);
    if (!st.ok()) {
      Fail(index, &op, "remount failed: " + st.ToString());
      return false;
    }
    Remember(index, text);
    ++report_.outcomes["remount ok"];
    if (options_.trace) fmt::print(stderr, "#{} {}\n", index, text);
    std::string d = CompareTrees();
    if (!d.empty()) {
      Fail(index, &op, "trees differ after the remount:" + d);
      return false;
    }
    return true;
  }

  int new_fd = -1;
  std::optional<std::pair<Ino, uint64_t>> new_handle;
  Outcome real = RealApply(op, &new_fd);
  Outcome shoal = ShoalApply(op, &new_handle);
  std::string line = fmt::format("{}  =>  {} | {}", text, OutcomeText(real), OutcomeText(shoal));
  ++report_.outcomes[fmt::format("{} {}", text.substr(0, text.find(' ')), ErrName(real.err))];
  Remember(index, line);
  if (options_.trace) fmt::print(stderr, "#{} {}\n", index, line);

  if (op.kind == Kind::kClose) handles_.erase(handles_.begin() + static_cast<long>(op.handle));
  if (new_fd >= 0 && new_handle) {
    handles_.push_back(Handle{new_fd, new_handle->first, new_handle->second, op.a});
  } else {
    if (new_fd >= 0) close(new_fd);
    if (new_handle) (void)vfs_->Release(new_handle->first, new_handle->second);
  }
  if (op.kind == Kind::kCollectGarbage && shoal.err != 0) {
    Fail(index, &op, "garbage collection failed: " + shoal.detail);
    return false;
  }
  std::string d = CompareOutcomes(op, real, shoal);
  if (!d.empty()) {
    Fail(index, &op,
         fmt::format("{}\n  real : {}\n  shoal: {}", d, OutcomeText(real), OutcomeText(shoal)));
    return false;
  }
  return true;
}

RunReport ModelRun::Run() {
  // Modes are passed as they are on both sides.
  mode_t old_umask = umask(0);
  Status st = Setup();
  if (!st.ok()) {
    report_.ok = false;
    report_.failure = fmt::format("model: setup failed (seed {}, backend {}): {}", options_.seed,
                                  BackendName(options_.backend), st.ToString());
    umask(old_umask);
    return report_;
  }
  int i = 0;
  for (; i < options_.ops; ++i) {
    Op op = Generate(Snapshot());
    if (!Step(i, op)) break;
    report_.ops_done = i + 1;
    if (i == options_.plant_difference_at) {
      int fd = openat(real_fd_, "planted", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
      if (fd >= 0) close(fd);
    }
    if ((i + 1) % options_.check_every == 0) {
      std::string d = CompareTrees();
      if (!d.empty()) {
        Fail(i, &op, "trees differ after this op:" + d);
        break;
      }
    }
  }
  if (report_.ok) {
    std::string d = CompareTrees();
    if (d.empty()) d = CloseAll();
    if (d.empty()) d = CompareTrees();
    if (!d.empty()) Fail(i, nullptr, "at the end, after closing every handle:" + d);
  }
  if (report_.ok) {
    Status down = CloseVolume();
    if (!down.ok()) Fail(i, nullptr, "shutdown failed: " + down.ToString());
  }
  umask(old_umask);
  return report_;
}

RunReport RunModel(const RunOptions& options) {
  ModelRun run(options);
  return run.Run();
}

std::vector<uint64_t> SeedsFromEnv(std::vector<uint64_t> defaults) {
  const char* s = std::getenv("SHOAL_MODEL_SEED");
  if (s && *s) return {std::strtoull(s, nullptr, 0)};
  return defaults;
}

int OpsFromEnv(int default_ops) {
  const char* s = std::getenv("SHOAL_MODEL_OPS");
  if (s && *s) return std::atoi(s);
  return default_ops;
}

int CheckEveryFromEnv(int default_every) {
  const char* s = std::getenv("SHOAL_MODEL_CHECK_EVERY");
  if (s && *s) return std::max(1, std::atoi(s));
  return default_every;
}

uint64_t MaxSizeFromEnv(uint64_t default_size) {
  const char* s = std::getenv("SHOAL_MODEL_MAX_SIZE");
  if (s && *s) return std::strtoull(s, nullptr, 0);
  return default_size;
}

bool TraceFromEnv() {
  const char* s = std::getenv("SHOAL_MODEL_TRACE");
  return s && *s && std::string_view(s) != "0";
}

bool StatsFromEnv() {
  const char* s = std::getenv("SHOAL_MODEL_STATS");
  return s && *s && std::string_view(s) != "0";
}

std::string FormatCounts(const std::map<std::string, int>& counts) {
  std::string out;
  for (const auto& [what, count] : counts) out += fmt::format("\n  {} (x{})", what, count);
  return out;
}

}  // namespace shoal::model
