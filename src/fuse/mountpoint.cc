#include "fuse/mountpoint.h"

#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

namespace shoal::fuse {
namespace {

// mountinfo escapes space, tab, newline and backslash as "\ooo" (octal).
std::string Unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      bool octal = true;
      int v = 0;
      for (size_t k = 1; k <= 3; ++k) {
        char c = s[i + k];
        if (c < '0' || c > '7') {
          octal = false;
          break;
        }
        v = v * 8 + (c - '0');
      }
      if (octal) {
        out.push_back(static_cast<char>(v));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

std::vector<std::string_view> SplitSpaces(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    size_t j = i;
    while (j < line.size() && line[j] != ' ') ++j;
    if (j > i) fields.push_back(line.substr(i, j - i));
    i = j;
  }
  return fields;
}

std::string ErrnoText(int err) { return std::strerror(err); }

// True when the directory holds anything besides "." and "..".
Result<bool> IsEmptyDir(const std::string& path) {
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(path.c_str()), ::closedir);
  if (!dir) {
    int err = errno;
    return Status(err == EACCES ? Code::kAccess : Code::kIo,
                  "mountpoint " + path + " cannot be listed: " + ErrnoText(err));
  }
  while (struct dirent* e = ::readdir(dir.get())) {
    std::string_view name = e->d_name;
    if (name != "." && name != "..") return false;
  }
  return true;
}

}  // namespace

std::vector<MountEntry> ParseMountInfo(std::string_view text) {
  std::vector<MountEntry> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::vector<std::string_view> f = SplitSpaces(text.substr(pos, eol - pos));
    pos = eol + 1;
    // id parent major:minor root mountpoint options [optional...] - fstype source superopts
    size_t sep = 0;
    for (size_t i = 6; i < f.size(); ++i) {
      if (f[i] == "-") {
        sep = i;
        break;
      }
    }
    if (sep == 0 || f.size() < sep + 3) continue;
    out.push_back(MountEntry{Unescape(f[4]), Unescape(f[sep + 1]), Unescape(f[sep + 2])});
  }
  return out;
}

Result<std::vector<MountEntry>> ReadMountTable() {
  std::ifstream in("/proc/self/mountinfo");
  if (!in) return IoError("cannot read /proc/self/mountinfo: is /proc mounted?");
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseMountInfo(ss.str());
}

std::optional<MountEntry> FindMount(const std::vector<MountEntry>& table, std::string_view path) {
  std::optional<MountEntry> found;
  for (const MountEntry& e : table) {
    if (e.mountpoint == path) found = e;  // later lines are mounted on top
  }
  return found;
}

std::string AbsolutePath(std::string_view path) {
  std::filesystem::path p(path);
  std::error_code ec;
  if (p.is_relative()) {
    std::filesystem::path cwd = std::filesystem::current_path(ec);
    if (!ec) p = cwd / p;
  }
  std::string s = p.lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

Result<MountpointCheck> CheckMountpoint(std::string_view path_in) {
  std::string path = AbsolutePath(path_in);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    int err = errno;
    switch (err) {
      case ENOENT:
        return NotFound("mountpoint " + path + " does not exist: create it first (mkdir -p " +
                        path + ")");
      case ENOTDIR:
        return NotDir("mountpoint " + path +
                      " is not a directory: one of its parents is a file; give a directory");
      case ENOTCONN:
        return Status(Code::kBusy,
                      "mountpoint " + path +
                          " is busy: a file system whose process has died is still mounted there "
                          "(transport endpoint is not connected): run 'shoal umount " +
                          path + "' first");
      case EACCES:
        return AccessDenied("mountpoint " + path + " cannot be reached: " + ErrnoText(err) +
                            ": check the permissions of its parent directories");
      default:
        return IoError("mountpoint " + path + " cannot be examined: " + ErrnoText(err));
    }
  }
  if (!S_ISDIR(st.st_mode)) {
    return NotDir("mountpoint " + path + " is not a directory: give an empty directory");
  }
  char resolved[PATH_MAX];
  if (::realpath(path.c_str(), resolved) != nullptr) path = resolved;

  auto busy = [&](const std::string& what) {
    return Status(Code::kBusy, "mountpoint " + path +
                                   " is busy: something is already mounted there (" + what +
                                   "): unmount it first or choose another directory");
  };
  if (path == "/") return busy("the root file system");
  std::string parent = std::filesystem::path(path).parent_path().string();
  struct stat pst {};
  bool other_device = ::stat(parent.c_str(), &pst) == 0 && pst.st_dev != st.st_dev;
  // A bind mount of the same file system keeps st_dev: the mount table sees it.
  ASSIGN_OR_RETURN(std::vector<MountEntry> table, ReadMountTable());
  if (std::optional<MountEntry> m = FindMount(table, path)) {
    return busy(m->fstype + " " + m->source);
  }
  if (other_device) return busy("a different device");

  ASSIGN_OR_RETURN(bool empty, IsEmptyDir(path));
  return MountpointCheck{path, empty};
}

}  // namespace shoal::fuse
