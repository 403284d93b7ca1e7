// One model run (see model_harness.h): the generator, both sides, and the
// comparisons. Internal to the model test.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/context.h"
#include "common/status.h"
#include "kv/kv.h"
#include "meta/meta.h"
#include "model_harness.h"
#include "model_ops.h"
#include "object/object_store.h"
#include "vfs/vfs.h"

namespace shoal::model {

class ModelRun {
 public:
  explicit ModelRun(const RunOptions& options);
  // Closes what the run left open and removes the scratch directory (kept
  // after a failure when the options say so).
  ~ModelRun();

  RunReport Run();

 private:
  struct SnapEntry {
    std::string path;
    uint32_t type;
    size_t depth;
  };

  Status Setup();
  Status OpenVolume(bool format);
  Status CloseVolume();

  // Generation.
  std::vector<SnapEntry> Snapshot();
  Op Generate(const std::vector<SnapEntry>& snap);
  std::string AnyPath(const std::vector<SnapEntry>& snap);
  std::string PathOf(const std::vector<SnapEntry>& snap, uint32_t type);
  std::string NewPath(const std::vector<SnapEntry>& snap);
  std::string RandomPath(size_t max_depth);
  std::string NewName();
  uint64_t Offset(uint64_t size);
  uint64_t Length();
  uint64_t NewSize(uint64_t size);
  uint64_t RealSize(int fd);
  uint32_t RealTypeAt(const std::string& path, bool follow);
  std::string Describe(const Op& op) const;

  // Execution.
  bool Step(int index, const Op& op);
  Outcome RealApply(const Op& op, int* new_fd);
  Outcome ShoalApply(const Op& op, std::optional<std::pair<Ino, uint64_t>>* new_handle);
  Outcome RealStat(Outcome o, const std::string& path, bool follow);
  Outcome RealFstat(Outcome o, int fd);

  // Shoal's side of the kernel: path walks and the checks made before a call.
  Result<Node> Root();
  Result<Node> WalkFrom(const Node& dir, const Path& comps, bool follow_final, int* follows);
  Result<Node> Walk(const std::string& path, bool follow_final);
  Result<ParentAndName> WalkParent(const std::string& path);
  // `noop`: the change asked for would change nothing (a rename onto the
  // same inode), so shoal's success is only noted.
  Outcome KernelFirst(const char* what, int kernel_err, const Status& direct, bool noop = false);
  Outcome ShoalRename(const Op& op);
  Outcome ShoalCreate(const Op& op, std::optional<std::pair<Ino, uint64_t>>* new_handle);
  Outcome ShoalSetAttr(Ino ino, const meta::SetAttrRequest& req, std::optional<uint64_t> size,
                       std::optional<uint64_t> fh);

  // Comparison.
  std::string CompareOutcomes(const Op& op, const Outcome& real, const Outcome& shoal);
  std::string CompareTrees();
  void CompareDir(const std::string& rel, int dirfd, Ino ino, std::vector<std::string>* diffs);
  void CompareNode(const std::string& rel, int dirfd, const std::string& name, Ino ino,
                   const std::optional<Attr>& listed, std::vector<std::string>* diffs);
  std::string CompareXattrs(const std::string& rel, Ino ino);
  Result<std::string> ShoalContent(Ino ino);
  std::string CloseAll();

  void Fail(int index, const Op* op, const std::string& what);
  void Remember(int index, const std::string& line);
  std::string RealPath(const std::string& rel) const { return real_root_ + "/" + rel; }

  RunOptions options_;
  Rng rng_;
  Context ctx_;
  vfs::Options vfs_options_;

  std::string scratch_;
  std::string real_root_;
  int real_fd_ = -1;

  std::string kv_url_;
  std::string store_url_;
  std::shared_ptr<kv::Engine> engine_;
  std::shared_ptr<object::ObjectStore> store_;
  std::unique_ptr<vfs::Vfs> vfs_;

  std::vector<Handle> handles_;
  // Times set explicitly with utimensat, by real inode: compared while the
  // real file still has them (anything that changes the file replaces them).
  std::map<ino_t, Timespec> explicit_mtime_;
  // Paths where setxattr succeeded lately, so that getxattr and removexattr
  // find attributes more often than by chance.
  std::vector<std::string> xattr_paths_;
  std::deque<std::string> recent_;
  int compare_count_ = 0;
  RunReport report_;
};

}  // namespace shoal::model
