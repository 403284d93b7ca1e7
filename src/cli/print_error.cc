#include <iostream>
#include <string>

#include "cli/commands.h"

namespace shoal::cli {

void PrintError(std::string_view cmd, std::string_view message) {
  std::cerr << "shoal";
  if (!cmd.empty()) std::cerr << " " << cmd;
  std::cerr << ": " << message << std::endl;
}

void PrintError(std::string_view cmd, const Status& s) {
  PrintError(cmd, s.message().empty() ? s.ToString() : s.message());
}

}  // namespace shoal::cli
