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

}  // namespace shoal::cli
