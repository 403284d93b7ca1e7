// shoal_fault_proxy (tests and benchmarks only): the FaultProxy of the S3
// tests as a process, for scripts (bench/stalls.sh) that need a flaky store.
//
//   shoal_fault_proxy --upstream PORT [--share F] [--faults LIST] [--stall-ms N] [--seed N]
//
// Listens on a free port of 127.0.0.1 and prints it on a line of its own,
// then forwards every request to 127.0.0.1:PORT, failing a share F (0 to 1,
// default 0) of them with one of LIST (comma-separated: 500, 503, reset,
// truncate, stall; default stall), drawn uniformly. A stalled request gets no
// answer for --stall-ms (default 60000). Runs until SIGINT or SIGTERM, then
// prints "requests N faults M" on stderr.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "object/s3/fault_proxy.h"

namespace {

using shoal::object::s3::testing::Fault;
using shoal::object::s3::testing::FaultProxy;

int Usage(const std::string& why) {
  std::cerr << "shoal_fault_proxy: " << why
            << "\nusage: shoal_fault_proxy --upstream PORT [--share F] "
               "[--faults 500,503,reset,truncate,stall] [--stall-ms N] [--seed N]\n";
  return 2;
}

bool ParseFaults(const std::string& list, std::vector<Fault>* out) {
  std::stringstream in(list);
  for (std::string name; std::getline(in, name, ',');) {
    if (name == "500") {
      out->push_back(Fault::kInternalError);
    } else if (name == "503") {
      out->push_back(Fault::kSlowDown);
    } else if (name == "reset") {
      out->push_back(Fault::kReset);
    } else if (name == "truncate") {
      out->push_back(Fault::kTruncate);
    } else if (name == "stall") {
      out->push_back(Fault::kStall);
    } else {
      return false;
    }
  }
  return !out->empty();
}

}  // namespace

int main(int argc, char** argv) {
  int upstream = 0;
  double share = 0;
  long stall_ms = 60'000;
  unsigned long long seed = 1;
  std::vector<Fault> faults;
  std::string fault_list = "stall";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (i + 1 >= argc) return Usage(arg + " needs a value");
    std::string value = argv[++i];
    char* end = nullptr;
    if (arg == "--upstream") {
      upstream = static_cast<int>(std::strtol(value.c_str(), &end, 10));
    } else if (arg == "--share") {
      share = std::strtod(value.c_str(), &end);
    } else if (arg == "--stall-ms") {
      stall_ms = std::strtol(value.c_str(), &end, 10);
    } else if (arg == "--seed") {
      seed = std::strtoull(value.c_str(), &end, 10);
    } else if (arg == "--faults") {
      fault_list = value;
      end = value.data() + value.size();
    } else {
      return Usage("unknown option " + arg);
    }
    if (end == nullptr || *end != '\0') return Usage("bad value '" + value + "' for " + arg);
  }
  if (upstream <= 0 || upstream > 65535) return Usage("--upstream PORT is required");
  if (!(share >= 0 && share <= 1)) return Usage("--share must lie in [0, 1]");
  if (!ParseFaults(fault_list, &faults)) return Usage("unknown fault in '" + fault_list + "'");

  // Block the stop signals before any thread starts, so that sigwait gets them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  FaultProxy proxy(upstream);
  if (proxy.port() == 0) {
    std::cerr << "shoal_fault_proxy: cannot listen on 127.0.0.1\n";
    return 1;
  }
  proxy.set_stall_time(std::chrono::milliseconds(stall_ms));
  proxy.FailRandomly(share, faults, seed);
  std::cout << proxy.port() << std::endl;
  int sig = 0;
  sigwait(&stop, &sig);
  std::cerr << "requests " << proxy.requests() << " faults " << proxy.faults_injected() << "\n";
  proxy.Clear();
  return 0;
}
