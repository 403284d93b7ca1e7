// The `shoal` command line: parses arguments with CLI11 and hands them to the
// subcommands in commands.h.
#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>
#include <string>

#include "cli/commands.h"

#ifndef SHOAL_VERSION
#define SHOAL_VERSION "unknown"
#endif

namespace shoal::cli {
namespace {

constexpr const char* kMetaUrlHelp =
    "where the volume's metadata lives: rocksdb:///absolute/dir (one process at a time)";

// --access-key, --secret-key, --region and the --io-* retry policy, for the
// commands that open an s3 store. A mount uses what the volume stores unless these (or, for the
// keys, the AWS_* variables) are given.
void AddStoreFlags(CLI::App& cmd, StoreFlags& flags, bool mount) {
  std::string keys_default =
      mount ? "; default $AWS_ACCESS_KEY_ID, else the volume's" : "; default $AWS_ACCESS_KEY_ID";
  std::string secret_default = mount ? "; default $AWS_SECRET_ACCESS_KEY, else the volume's"
                                     : "; default $AWS_SECRET_ACCESS_KEY";
  cmd.add_option("--access-key", flags.access_key, "for s3: the access key id" + keys_default);
  cmd.add_option("--secret-key", flags.secret_key,
                 "for s3: the secret access key" + secret_default +
                     " (prefer the variable: other users can see a command line)");
  cmd.add_option("--region", flags.region,
                 mount ? "for s3: the region to sign requests for; default the volume's"
                       : "for s3: the region to sign requests for; default $AWS_REGION, else "
                         "taken from the endpoint, else us-east-1");
  cmd.add_option("--io-retries", flags.io_retries,
                 "for s3: attempts per request, the first included (1: no retries)")
      ->capture_default_str();
  cmd.add_option("--io-timeout", flags.io_timeout_sec,
                 "for s3: seconds a request may move no byte before it is abandoned and sent "
                 "again (a large transfer is also held to 1 MiB/s)")
      ->capture_default_str();
  cmd.add_flag("--io-no-hedge", flags.io_no_hedge,
               "for s3: never send a second copy of a small read slower than the recent p99");
  cmd.add_option("--io-max-time", flags.io_max_time_sec,
                 "for s3: seconds after a request's first attempt past which no retry starts")
      ->capture_default_str();
}

int Main(int argc, char** argv) {
  CLI::App app{"shoal: a POSIX file system whose data lives in object storage", "shoal"};
  app.set_version_flag("--version", SHOAL_VERSION);
  app.require_subcommand(1);
  app.footer(
      "Run 'shoal COMMAND --help' for a command's options. Sizes take K, M, G, T, P "
      "(powers of 1024).");

  FormatArgs format_args;
  CLI::App* format = app.add_subcommand("format",
                                        "Create a volume: check the storage, then write the volume "
                                        "record into META_URL");
  format->add_option("META_URL", format_args.meta_url, kMetaUrlHelp)->required();
  format
      ->add_option("NAME", format_args.name, "the volume's name: letters, digits, '.', '_' and '-'")
      ->required();
  format
      ->add_option("--storage", format_args.storage,
                   "where file data lives: file (a local directory), s3 (an S3-compatible "
                   "bucket) or mem (in memory, lost at unmount: for trials)")
      ->required();
  format->add_option("--bucket", format_args.bucket,
                     "for file: the directory that keeps the data (created if missing); for s3: "
                     "the bucket as a URL, e.g. https://s3.us-east-1.amazonaws.com/BUCKET or "
                     "http://127.0.0.1:9000/BUCKET (created if missing)");
  AddStoreFlags(*format, format_args.store, /*mount=*/false);
  format->add_flag("--no-store-secrets", format_args.no_store_secrets,
                   "for s3: keep the access key and secret out of the volume record; every "
                   "mount must then give them (flags or environment)");
  format
      ->add_option("--block-size", format_args.block_size,
                   "largest object a file's data is cut into: a power of two from 64K to 64M")
      ->capture_default_str();
  format
      ->add_option("--capacity", format_args.capacity,
                   "size that statfs reports (df); 0 means unlimited")
      ->capture_default_str();
  format->add_flag("--json", format_args.json, "print the volume as JSON");

  MountArgs mount_args;
  CLI::App* mount =
      app.add_subcommand("mount",
                         "Serve a volume at MOUNTPOINT until it is unmounted or the process gets "
                         "SIGTERM/SIGINT/SIGHUP");
  mount->add_option("META_URL", mount_args.meta_url, kMetaUrlHelp)->required();
  mount->add_option("MOUNTPOINT", mount_args.mountpoint, "an existing directory")->required();
  CLI::Option* background = mount->add_flag(
      "--background,-b", mount_args.background,
      "return once the mount is ready and serve from a detached process that logs to --log");
  bool foreground = false;
  CLI::Option* fg = mount->add_flag("--foreground,-f", foreground,
                                    "serve from this process, logging to stderr (the default)");
  background->excludes(fg);
  mount
      ->add_option("--attr-timeout", mount_args.attr_timeout,
                   "seconds the kernel may cache a file's attributes")
      ->capture_default_str();
  mount
      ->add_option("--session-timeout", mount_args.session_timeout,
                   "seconds without a heartbeat after which other clients take this one for "
                   "dead and release its locks and open files")
      ->capture_default_str();
  mount
      ->add_option("--entry-timeout", mount_args.entry_timeout,
                   "seconds the kernel may cache a name's inode")
      ->capture_default_str();
  mount->add_option("--threads", mount_args.threads, "most requests served at once")
      ->capture_default_str();
  mount
      ->add_option("--cache-dir", mount_args.cache_dirs,
                   "directory for the local block cache, once per disk (default /var/cache/shoal "
                   "for root, else ~/.cache/shoal)")
      ->delimiter(',');
  mount
      ->add_option("--cache-size", mount_args.cache_size,
                   "bytes of blocks the disk cache keeps, over all its directories; 0 turns it off")
      ->capture_default_str();
  mount
      ->add_option("--cache-free-space", mount_args.cache_free_space,
                   "fraction of each cache disk that the cache leaves free")
      ->capture_default_str();
  mount
      ->add_option("--buffer-size", mount_args.buffer_size,
                   "bytes written but not yet stored, over all files; writers wait past it")
      ->capture_default_str();
  mount
      ->add_option("--upload-concurrency", mount_args.upload_concurrency, "blocks uploaded at once")
      ->capture_default_str();
  mount
      ->add_option("--download-concurrency", mount_args.download_concurrency,
                   "blocks downloaded at once")
      ->capture_default_str();
  mount
      ->add_option("--readahead", mount_args.readahead,
                   "largest readahead of one sequential reader; 0 turns readahead off")
      ->capture_default_str();
  mount->add_flag("--writeback", mount_args.writeback,
                  "close and fsync return once new blocks are staged on the cache disk; they are "
                  "uploaded in the background (see docs/semantics.md)");
  mount->add_option("--log", mount_args.log,
                    "log file; the default is stderr in the foreground and, in the background, "
                    "/var/log/shoal/VOLUME.log for root, else $XDG_RUNTIME_DIR/shoal/VOLUME.log "
                    "or /tmp/shoal-UID/VOLUME.log");
  mount->add_flag("--debug-fuse", mount_args.debug_fuse, "log every FUSE request (very verbose)");
  AddStoreFlags(*mount, mount_args.store, /*mount=*/true);
  mount->add_flag("--json", mount_args.json, "print the mount (volume, pid, log) as JSON");

  UmountArgs umount_args;
  CLI::App* umount = app.add_subcommand(
      "umount", "Unmount a shoal mount and wait for its process to commit writes and exit");
  umount->add_option("MOUNTPOINT", umount_args.mountpoint, "where the volume is mounted")
      ->required();
  umount->add_flag("--lazy,-l", umount_args.lazy,
                   "detach now even if files are open; the process exits when they are closed "
                   "(not waited for)");
  umount
      ->add_option("--timeout", umount_args.timeout_sec,
                   "seconds to wait for the serving process to exit")
      ->capture_default_str();
  umount->add_flag("--json", umount_args.json, "print the result as JSON");

  StatusArgs status_args;
  CLI::App* status = app.add_subcommand("status", "Show a volume's settings, usage and sessions");
  status
      ->add_option("TARGET", status_args.target,
                   "the volume's META_URL, or the mountpoint of a running mount (needed while a "
                   "rocksdb volume is mounted: RocksDB admits one process)")
      ->required();
  status->add_flag("--json", status_args.json, "print JSON");

  InfoArgs info_args;
  CLI::App* info = app.add_subcommand(
      "info", "Show how a file in a mount is stored: chunks, slices and objects");
  info->add_option("PATH", info_args.path, "a regular file or directory inside a shoal mount")
      ->required();
  info->add_flag("--objects", info_args.objects, "list every object key");
  info->add_flag("--json", info_args.json, "print JSON (always with object keys)");

  FsckArgs fsck_args;
  CLI::App* fsck = app.add_subcommand(
      "fsck",
      "Check a volume's metadata and objects; with --repair, repair what can be repaired "
      "safely. Exit status 0: no error left; 1: errors left; 2: could not check");
  fsck->add_option("META_URL", fsck_args.meta_url, kMetaUrlHelp)->required();
  fsck->add_flag("--repair", fsck_args.repair,
                 "repair what fsck can (each repair re-checks first); without it nothing changes");
  fsck->add_flag("--skip-objects", fsck_args.skip_objects,
                 "check the metadata only: do not look up or list objects");
  fsck->add_option("--stale-after", fsck_args.stale_after_sec,
                   "seconds without a heartbeat after which a session counts as stale "
                   "(--repair removes stale sessions)")
      ->capture_default_str();
  fsck->add_option("--leak-age", fsck_args.leak_age_sec,
                   "seconds an object no slice refers to must be old before --repair deletes "
                   "it (younger ones may be uploads in progress)")
      ->capture_default_str();
  fsck->add_option("--max-problems", fsck_args.max_problems,
                   "problems listed (all are counted); 0 lists all")
      ->capture_default_str();
  fsck->add_option("--threads", fsck_args.threads, "object lookups in flight")
      ->capture_default_str();
  AddStoreFlags(*fsck, fsck_args.store, /*mount=*/true);
  fsck->add_flag("--json", fsck_args.json, "print the report as JSON");

  ObjbenchArgs bench_args;
  CLI::App* bench = app.add_subcommand(
      "objbench",
      "Measure an object store: put, get, head, list and delete of small and large objects "
      "(throughput and latency); everything written is deleted again");
  bench
      ->add_option("--storage", bench_args.storage,
                   "the kind of store: file, s3 or mem (see 'shoal format --help')")
      ->required();
  bench->add_option("--bucket", bench_args.bucket,
                    "a directory for file, a bucket URL for s3 (as for format); objects go under "
                    "a fresh prefix objbench-*/");
  AddStoreFlags(*bench, bench_args.store, /*mount=*/false);
  bench->add_option("--small-count", bench_args.small_count, "how many small objects")
      ->capture_default_str();
  bench->add_option("--large-count", bench_args.large_count, "how many large objects")
      ->capture_default_str();
  bench->add_option("--small-size", bench_args.small_size, "size of a small object")
      ->capture_default_str();
  bench->add_option("--large-size", bench_args.large_size, "size of a large object")
      ->capture_default_str();
  bench->add_option("--threads", bench_args.threads, "requests in flight at once")
      ->capture_default_str();
  bench->add_flag("--json", bench_args.json, "print the results as JSON");

  BenchArgs fs_bench_args;
  CLI::App* fs_bench = app.add_subcommand(
      "bench",
      "Measure a file system with plain POSIX calls: one big file (write, cold and warm read), "
      "many small files, and metadata latency (create, getattr, lookup, readdir, rename, "
      "unlink); works on any directory and removes what it wrote");
  fs_bench->add_option("PATH", fs_bench_args.path,
                       "a writable directory: a shoal mount, another file system's mount, a local "
                       "disk; the work happens in a fresh PATH/shoal-bench-* directory");
  fs_bench
      ->add_option("--only", fs_bench_args.only,
                   "the workloads to run, comma-separated: big, small, meta, or all")
      ->capture_default_str();
  fs_bench->add_option("--big-size", fs_bench_args.big_size, "size of the big file")
      ->capture_default_str();
  fs_bench->add_option("--small-count", fs_bench_args.small_count, "how many small files")
      ->capture_default_str();
  fs_bench->add_option("--small-size", fs_bench_args.small_size, "size of a small file")
      ->capture_default_str();
  fs_bench
      ->add_option("--meta-count", fs_bench_args.meta_count,
                   "how many files the metadata workload creates in one directory")
      ->capture_default_str();
  fs_bench
      ->add_option("--threads", fs_bench_args.threads,
                   "threads running the small and meta operations on disjoint files (big and "
                   "readdir use one)")
      ->capture_default_str();
  fs_bench->add_flag("--quiet,-q", fs_bench_args.quiet, "no progress on stderr");
  fs_bench->add_flag("--json", fs_bench_args.json, "print every number as JSON");

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
  } catch (const CLI::ParseError& e) {
    std::vector<CLI::App*> parsed = app.get_subcommands();
    std::string cmd = parsed.empty() ? "" : parsed.back()->get_name();
    std::string help = cmd.empty() ? "shoal --help" : "shoal " + cmd + " --help";
    PrintError(cmd, std::string(e.what()) + ": run '" + help + "'");
    return kExitError;
  }

  if (*format) return RunFormat(format_args);
  if (*mount) return RunMount(mount_args);
  if (*umount) return RunUmount(umount_args);
  if (*status) return RunStatus(status_args);
  if (*info) return RunInfo(info_args);
  if (*fsck) return RunFsck(fsck_args);
  if (*bench) return RunObjbench(bench_args);
  if (*fs_bench) return RunBench(fs_bench_args);
  PrintError("", "a command is required: run 'shoal --help'");
  return kExitError;
}

}  // namespace
}  // namespace shoal::cli

int main(int argc, char** argv) {
  // Library exceptions are caught where they are expected; this is the last
  // line, so that a bug reports itself in one line instead of aborting.
  try {
    return shoal::cli::Main(argc, argv);
  } catch (const std::exception& e) {
    shoal::cli::PrintError("", std::string("internal error: ") + e.what() +
                                   ": please report it with the command that caused it");
    return shoal::cli::kExitError;
  }
}
