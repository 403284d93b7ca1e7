#include "cli/args.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>
#include <utility>

#include "common/slice.h"

namespace shoal::cli {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Unit -> power of 1024.
int ShiftOf(std::string_view unit) {
  static constexpr std::array<std::pair<std::string_view, int>, 17> kUnits = {{
      {"", 0},
      {"b", 0},
      {"k", 10},
      {"kb", 10},
      {"kib", 10},
      {"m", 20},
      {"mb", 20},
      {"mib", 20},
      {"g", 30},
      {"gb", 30},
      {"gib", 30},
      {"t", 40},
      {"tb", 40},
      {"tib", 40},
      {"p", 50},
      {"pb", 50},
      {"pib", 50},
  }};
  for (const auto& [name, shift] : kUnits) {
    if (name == unit) return shift;
  }
  return -1;
}

std::string Trim(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", v);
  std::string s = buf;
  if (s.size() > 2 && s.ends_with(".0")) s.resize(s.size() - 2);
  return s;
}

}  // namespace

Result<uint64_t> ParseSize(std::string_view text, std::string_view what) {
  auto bad = [&](std::string_view why) {
    return Invalid(std::string(what) + " '" + std::string(text) + "' " + std::string(why) +
                   ": give a whole number with an optional unit K, M, G, T or P (powers of "
                   "1024), e.g. 4M");
  };
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0) return bad("is not a size");
  uint64_t n = 0;
  for (size_t k = 0; k < i; ++k) {
    uint64_t d = static_cast<uint64_t>(text[k] - '0');
    if (n > (std::numeric_limits<uint64_t>::max() - d) / 10) return bad("is too large");
    n = n * 10 + d;
  }
  int shift = ShiftOf(Lower(text.substr(i)));
  if (shift < 0) return bad("has an unknown unit");
  if (shift > 0 && n > (std::numeric_limits<uint64_t>::max() >> shift)) return bad("is too large");
  return n << shift;
}

Status CheckVolumeName(std::string_view name) {
  auto bad = [&](std::string_view why) {
    return Invalid("volume name '" + std::string(name) + "' " + std::string(why) +
                   ": use 1 to 64 letters, digits, '.', '_' or '-', not starting with '.' or '-'");
  };
  if (name.empty()) return bad("is empty");
  if (name.size() > 64) return bad("is too long");
  if (name.front() == '.' || name.front() == '-') return bad("starts with '.' or '-'");
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return bad("contains '" + std::string(1, c) + "'");
    }
  }
  return OkStatus();
}

Status CheckBlockSize(uint64_t size) {
  constexpr uint64_t kMin = 64u << 10;
  bool power_of_two = size != 0 && (size & (size - 1)) == 0;
  if (!power_of_two || size < kMin || size > kChunkSize) {
    return Invalid("--block-size " + FormatBytes(size) +
                   " is not allowed: give a power of two from 64K to 64M (4M suits most uses)");
  }
  return OkStatus();
}

Status CheckMetaUrl(std::string_view url) {
  size_t sep = url.find("://");
  if (sep == std::string_view::npos || sep == 0) {
    return Invalid("meta URL '" + std::string(url) + "' is not a URL: use " +
                   std::string(kMetaUrlForms));
  }
  return OkStatus();
}

std::string FormatBytes(uint64_t bytes) {
  static constexpr std::array<std::string_view, 6> kUnits = {"KiB", "MiB", "GiB",
                                                             "TiB", "PiB", "EiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double v = static_cast<double>(bytes);
  size_t unit = 0;
  v /= 1024;
  while (v >= 1024 && unit + 1 < kUnits.size()) {
    v /= 1024;
    ++unit;
  }
  return Trim(v) + " " + std::string(kUnits[unit]);
}

std::string FormatAge(int64_t seconds) {
  if (seconds < 0) seconds = 0;
  if (seconds < 120) return std::to_string(seconds) + " s";
  constexpr int64_t kHour = 3600;
  constexpr int64_t kDay = 24 * kHour;
  if (seconds < 2 * kHour) return std::to_string(seconds / 60) + " min";
  if (seconds < 2 * kDay) return std::to_string(seconds / kHour) + " h";
  return std::to_string(seconds / kDay) + " d";
}

double NearestRank(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

std::string PadColumn(std::string s, size_t width, bool left) {
  size_t chars = static_cast<size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
  if (chars < width) s.insert(left ? s.end() : s.begin(), width - chars, ' ');
  return s;
}

}  // namespace shoal::cli
