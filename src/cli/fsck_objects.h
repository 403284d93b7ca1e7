// The object pass of `shoal fsck`: checks that the blocks of every slice the
// metadata references exist with the right length, and lists the volume's
// objects to find those that no slice refers to (leaked). It lives here, not
// in meta/, because meta knows nothing of objects and chunk nothing of fsck.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "chunk/chunk.h"
#include "common/status.h"
#include "meta/fsck.h"

namespace shoal::cli {

struct ObjectCheckOptions {
  // Delete leaked objects older than leak_age_sec. An object that no
  // metadata names may be an upload in progress (blocks are uploaded before
  // the metadata commit), so young ones are only reported.
  bool repair = false;
  int64_t leak_age_sec = 3600;
  unsigned threads = 8;  // Head requests in flight
};

// Whether chunk `chunk` of inode `ino` still references slice `id`: asked
// for a block found missing, so that a slice freed by a live client after
// the metadata snapshot is not reported. Errors count as "yes".
using StillReferenced = std::function<bool(meta::Ino ino, uint32_t chunk, uint64_t id)>;

// Checks the blocks of report.slices, then lists `<volume>/chunks/` and
// reports objects that belong to neither report.slices nor report.pending.
// Adds what it finds to `report` (kinds missing_object, damaged_object,
// leaked_object) and counts objects_checked and objects_listed. Progress
// phases: "objects" (blocks checked of total) and "listing" (objects listed).
// A store that fails (anything but a missing object) stops the pass with
// its error; what was found until then stays in the report.
Status CheckObjects(chunk::BlockStore& blocks, std::string_view volume,
                    const ObjectCheckOptions& options, const StillReferenced& still_referenced,
                    meta::FsckReport& report, const meta::FsckProgress& progress);

// (id, index, length) of an object key "<volume>/chunks/<hh>/<n>/<id>_<index>_<length>";
// false when the key's last part does not have that form.
bool ParseBlockKey(std::string_view key, uint64_t* id, uint32_t* index, uint32_t* length);

}  // namespace shoal::cli
