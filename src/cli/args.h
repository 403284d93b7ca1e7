// Parsing and printing of the values the command line deals in: sizes
// ("4M"), volume names, meta URLs, byte counts and ages for people to read.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace shoal::cli {

// The meta URL forms this build accepts, for error messages.
inline constexpr std::string_view kMetaUrlForms =
    "rocksdb:///absolute/path (an embedded database in that directory)";

// "4M" -> 4194304. A whole number with an optional unit, case-insensitive:
// B, K/KB/KiB, M/MB/MiB, G/GB/GiB, T/TB/TiB, P/PB/PiB, all powers of 1024
// (block sizes and capacities are always binary). kInvalid with a message
// naming `what` ("--block-size") and the accepted forms.
Result<uint64_t> ParseSize(std::string_view text, std::string_view what);

// 1..64 of letters, digits, '.', '_' and '-', not starting with '.' or '-':
// the name appears in object keys and in the mount table.
Status CheckVolumeName(std::string_view name);

// A block size must be a power of two from 64 KiB to 64 MiB (a chunk).
Status CheckBlockSize(uint64_t size);

// Checks that `url` looks like a URL ("scheme://..."); the engine factory
// judges the rest. kInvalid lists kMetaUrlForms.
Status CheckMetaUrl(std::string_view url);

// 0 -> "0 B", 4194304 -> "4 MiB", 1572864 -> "1.5 MiB".
std::string FormatBytes(uint64_t bytes);

// Seconds -> "3 s", "5 min", "2 h", "3 d".
std::string FormatAge(int64_t seconds);

// The nearest-rank percentile p (0..1] of `sorted` (ascending); 0 when empty.
double NearestRank(const std::vector<double>& sorted, double p);

// `s` padded with spaces to `width` characters (not bytes: "µs" is three
// bytes in UTF-8), on the right (`left` aligned) or on the left.
std::string PadColumn(std::string s, size_t width, bool left);

}  // namespace shoal::cli
