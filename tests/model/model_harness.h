// Reference-model runs: one seeded random sequence of file-system operations
// is applied to shoal's Vfs in-process and to a scratch directory on the local
// file system, which serves as the model, and the two are compared after every
// step (the errno of each operation, the bytes it returned, the attributes it
// replied with) and, every few steps, as whole trees.
//
// The Vfs side plays the kernel's part the way a FUSE mount would: it walks
// paths with Lookup, follows symlinks, and makes the checks the kernel makes
// before it calls a file system (EEXIST for mkdir over an existing name, the
// rename loop checks, EISDIR for opening a directory for writing). Where the
// kernel refuses a namespace change, shoal is asked anyway, because another
// client may have changed the tree behind the kernel's cache: shoal must then
// refuse too (a success is a failure of the run), and a different errno is
// recorded as a note.
//
// A run stops at the first mismatch. Its report names the seed, the operation
// number, the operation, both results and the operations just before it, so
// that SHOAL_MODEL_SEED / SHOAL_MODEL_OPS reproduce it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace shoal::model {

enum class Backend {
  kMem,          // mem:// engine and mem:// object store
  kRocksdbFile,  // rocksdb engine and file store, both in a scratch directory
};

struct RunOptions {
  uint64_t seed = 1;
  int ops = 1000;
  Backend backend = Backend::kMem;
  // Compare the whole trees every this many operations, and at the end.
  int check_every = 50;
  // Print every operation and both results to stderr.
  bool trace = false;
  // Files stay below this size (writes, truncates and fallocates are cut to
  // it). Small keeps runs quick; past 64 MiB, offsets also fall around the
  // first chunk boundary.
  uint64_t max_file_size = 8ull << 20;
  // Let the run shut the volume down and open it again at random moments
  // (closing every handle first).
  bool remounts = true;
  // Checks the checker: after this operation, a file appears on the real side
  // only, so the next tree comparison must report it. -1: never.
  int plant_difference_at = -1;
  // Keep the scratch directory of a failed run for inspection.
  bool keep_scratch_on_failure = true;
};

struct RunReport {
  bool ok = true;
  int ops_done = 0;
  // On failure: what differed, with everything needed to reproduce it.
  std::string failure;
  // Differences a FUSE mount would not show because the kernel answers first,
  // counted by kind ("rename: kernel EINVAL, shoal ENOTDIR").
  std::map<std::string, int> notes;
  // How often each operation ended how ("rename ENOTEMPTY", "write ok"), to
  // see what a seed exercised.
  std::map<std::string, int> outcomes;
};

// Runs one seed. Needs root (it chowns files in its scratch directory, as the
// Vfs side does with Context::Root()). Scratch directories go under
// $TMPDIR (or /tmp) and are removed afterwards, unless the run failed and
// keep_scratch_on_failure.
RunReport RunModel(const RunOptions& options);

// `defaults`, or the single seed in SHOAL_MODEL_SEED when it is set.
std::vector<uint64_t> SeedsFromEnv(std::vector<uint64_t> defaults);
// `default_ops`, or SHOAL_MODEL_OPS when it is set.
int OpsFromEnv(int default_ops);
// `default_every`, or SHOAL_MODEL_CHECK_EVERY when it is set (1 finds the
// first op after which the trees differ).
int CheckEveryFromEnv(int default_every);
// `default_size`, or SHOAL_MODEL_MAX_SIZE (bytes) when it is set.
uint64_t MaxSizeFromEnv(uint64_t default_size);
// True when SHOAL_MODEL_TRACE is set to anything but "0".
bool TraceFromEnv();
// True when SHOAL_MODEL_STATS is set to anything but "0": print outcomes.
bool StatsFromEnv();

// One "  key (xN)" line per entry of a report's notes or outcomes.
std::string FormatCounts(const std::map<std::string, int>& counts);

}  // namespace shoal::model
