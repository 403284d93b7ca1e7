// Test-only: formats a volume whose record claims a format version this
// build does not know, so that tests can check that `shoal mount` refuses it.
//
//   shoal_format_version_tool META_URL BUCKET_DIR VERSION
//
// Exit codes: 0 formatted; 1 failed; 77 Meta::Format did not store the
// requested version (the test then cannot be run this way and skips).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "kv/kv.h"
#include "meta/meta.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s META_URL BUCKET_DIR VERSION\n", argv[0]);
    return 1;
  }
  auto engine = shoal::kv::OpenKv(argv[1], /*create=*/true);
  if (!engine.has_value()) {
    std::fprintf(stderr, "open %s: %s\n", argv[1], engine.error().ToString().c_str());
    return 1;
  }
  shoal::meta::VolumeConfig config;
  config.name = "future";
  config.storage = "file";
  config.bucket = argv[2];
  config.format_version = static_cast<uint32_t>(std::strtoul(argv[3], nullptr, 10));
  if (shoal::Status st = shoal::meta::Meta::Format(**engine, config); !st.ok()) {
    std::fprintf(stderr, "format: %s\n", st.ToString().c_str());
    return 1;
  }
  auto loaded = shoal::meta::Meta::Load(**engine);
  if (loaded.has_value() && loaded->format_version != config.format_version) {
    std::fprintf(stderr, "Meta::Format stored format_version %u, not the requested %u\n",
                 loaded->format_version, config.format_version);
    return 77;
  }
  // Load may itself refuse the unknown version: that is what we wanted to store.
  return 0;
}
