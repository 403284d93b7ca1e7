// Pure conversions between libfuse's types and shoal's: attributes, setattr
// requests, POSIX lock records, statfs. Kept apart from the request handlers
// so that they can be tested without a mount.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <cstdint>
#include <optional>

#include "common/status.h"
#include "meta/meta.h"

namespace shoal::fuse {

// What st_blksize reports: the unit tools such as cp and dd pick for their
// buffers. 4 KiB keeps them behaving as on a local disk; the kernel merges
// their writes into requests of up to max_write bytes anyway.
constexpr blksize_t kStatBlockSize = 4096;
// The block size statfs reports (f_bsize and f_frsize).
constexpr unsigned long kStatFsBlockSize = 4096;

// meta::Attr -> struct stat for inode `ino`. st_blocks counts 512-byte units
// of the file length (shoal does not know the stored size per file cheaply,
// and holes are rare in its workloads).
struct stat StatOf(meta::Ino ino, const meta::Attr& attr);

// A setattr request from the kernel: `to_set` holds FUSE_SET_ATTR_* bits and
// `attr` their values. Fills the meta request; `size` receives the new length
// when FUSE_SET_ATTR_SIZE is set. Bits shoal does not act on (FORCE,
// KILL_SUID, ...) are ignored: vfs applies POSIX's suid clearing itself.
struct SetAttrArgs {
  meta::SetAttrRequest req;
  std::optional<uint64_t> size;
};
SetAttrArgs SetAttrArgsOf(const struct stat& attr, int to_set);

// rename(2) flags -> meta flags. kInvalid for RENAME_WHITEOUT, for
// NOREPLACE together with EXCHANGE, and for unknown bits.
Result<meta::RenameFlags> RenameFlagsOf(unsigned int flags);

// setxattr(2) flags (XATTR_CREATE, XATTR_REPLACE) -> meta flags; kInvalid
// for both at once or for unknown bits.
Result<meta::XattrFlags> XattrFlagsOf(int flags);

// struct flock (as libfuse delivers it: l_whence is SEEK_SET, l_len 0 means
// "to the end of the file") <-> meta::PosixLock (inclusive end, UINT64_MAX
// for "to the end"). kInvalid for an unknown l_type or a negative range.
Result<meta::PosixLock> PosixLockOf(const struct flock& lock);
struct flock FlockOf(const meta::PosixLock& lock);

// flock(2) operation (LOCK_SH, LOCK_EX, LOCK_UN, optionally | LOCK_NB) ->
// lock type; kInvalid for anything else.
Result<meta::LockType> FlockTypeOf(int op);

// Volume usage -> statvfs with kStatFsBlockSize blocks and meta::kMaxName.
struct statvfs StatVfsOf(const meta::StatFs& fs);

}  // namespace shoal::fuse
