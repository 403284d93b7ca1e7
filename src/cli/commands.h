// The subcommands of the `shoal` binary. Each takes its parsed options,
// prints its result on stdout (human-readable, or JSON with --json), prints
// any error as one line "shoal <cmd>: <what was wrong>: <what to do>" on
// stderr, and returns the process exit code.
#pragma once

#include <string>
#include <string_view>

#include "cli/storage.h"
#include "common/status.h"

namespace shoal::cli {

// Exit codes.
constexpr int kExitOk = 0;
constexpr int kExitError = 1;

// Prints "shoal <cmd>: <message>" on stderr. The message of a Status is used
// as is (layers write it for the user); an empty one falls back to its code.
void PrintError(std::string_view cmd, const Status& s);
void PrintError(std::string_view cmd, std::string_view message);

struct FormatArgs {
  std::string meta_url;
  std::string name;
  std::string storage;  // file, s3, mem
  std::string bucket;   // a directory for file, a bucket URL for s3
  StoreFlags store;     // s3 credentials and region
  bool no_store_secrets = false;
  std::string block_size = "4M";
  std::string capacity = "0";
  bool json = false;
};
int RunFormat(const FormatArgs& args);

struct MountArgs {
  std::string meta_url;
  std::string mountpoint;
  bool background = false;
  double attr_timeout = 1.0;
  double entry_timeout = 1.0;
  double session_timeout = 60.0;
  // The data path (see docs/configuration.md). Sizes take K, M, G, T.
  std::vector<std::string> cache_dirs;  // empty: DefaultCacheDir()
  std::string cache_size = "10G";       // 0: no disk cache
  double cache_free_space = 0.1;        // fraction of each cache disk kept free
  std::string buffer_size = "256M";
  int upload_concurrency = 8;
  int download_concurrency = 8;
  std::string readahead = "32M";  // largest readahead window of one reader
  bool writeback = false;
  unsigned threads = 16;
  std::string log;  // empty: stderr in the foreground, DefaultLogPath() in the background
  bool debug_fuse = false;
  StoreFlags store;  // override the volume's stored s3 credentials and region
  bool json = false;
};
int RunMount(const MountArgs& args);

// Where a background mount logs when --log is not given:
// /var/log/shoal/<volume>.log for root, else $XDG_RUNTIME_DIR/shoal/<volume>.log,
// else /tmp/shoal-<uid>/<volume>.log.
std::string DefaultLogPath(std::string_view volume);
// Where the disk cache lives when --cache-dir is not given: /var/cache/shoal
// for root, else $XDG_CACHE_HOME/shoal or ~/.cache/shoal.
std::string DefaultCacheDir();

struct UmountArgs {
  std::string mountpoint;
  bool lazy = false;
  double timeout_sec = 60;  // how long to wait for the serving process to finish
  bool json = false;
};
int RunUmount(const UmountArgs& args);

struct StatusArgs {
  std::string target;  // a meta URL, or the mountpoint of a running mount
  bool json = false;
};
int RunStatus(const StatusArgs& args);

struct InfoArgs {
  std::string path;
  bool objects = false;  // list every object key in the human output
  bool json = false;
};
int RunInfo(const InfoArgs& args);

// Exit codes of fsck: kExitOk when no error is left (warnings aside),
// kExitError when problems remain, kExitFsckFailed when the volume could not
// be checked (an option value out of range, no volume, a store or engine that
// fails). Arguments that do not parse exit with kExitError, as for every command.
constexpr int kExitFsckFailed = 2;

struct FsckArgs {
  std::string meta_url;
  bool repair = false;
  bool skip_objects = false;
  int64_t stale_after_sec = 300;
  int64_t leak_age_sec = 3600;
  size_t max_problems = 100;
  unsigned threads = 8;
  StoreFlags store;
  bool json = false;
};
int RunFsck(const FsckArgs& args);

struct ObjbenchArgs {
  std::string storage;  // file, s3, mem
  std::string bucket;
  StoreFlags store;
  uint64_t small_count = 1000;
  uint64_t large_count = 32;
  std::string small_size = "4K";
  std::string large_size = "4M";
  unsigned threads = 8;
  bool json = false;
};
int RunObjbench(const ObjbenchArgs& args);

// The workloads of `shoal bench`.
struct BenchWorkloads {
  bool big = false;    // one large file written, read cold and read warm
  bool small = false;  // many small files written, read and stat'ed
  bool meta = false;   // per-operation latency of create, getattr, lookup, readdir, ...
};

// "big,meta" -> {big, meta}; "all" selects every workload. kInvalid names the
// word that is not a workload and lists the ones that are.
Result<BenchWorkloads> ParseBenchWorkloads(std::string_view list);

// `shoal bench PATH`: measures any directory with plain POSIX calls. Exits
// kExitError when the file system fails during the run, and 2 for bad input
// (options, or a PATH that is not a writable directory).
struct BenchArgs {
  std::string path;
  std::string only = "all";  // for ParseBenchWorkloads
  std::string big_size = "1G";
  uint64_t small_count = 2000;
  std::string small_size = "4K";
  uint64_t meta_count = 10000;
  unsigned threads = 1;
  bool quiet = false;  // no progress on stderr
  bool json = false;
};
int RunBench(const BenchArgs& args);

}  // namespace shoal::cli
