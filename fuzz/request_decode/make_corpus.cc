// Writes the seed corpus for request_decode_fuzz: the golden client requests (size prefix
// removed) and, for every API at every version, a request with every field at its default,
// so the fuzzer starts from a valid frame of each of the 88 APIs.
//   cmake --build <dir> --target request_decode_make_corpus &&
//   <dir>/bin/request_decode_make_corpus tests/protocol/golden fuzz/request_decode/corpus
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "broker/protocol/gen/visit.h"
#include "broker/protocol/request.h"

namespace fs = std::filesystem;
using namespace runnel::protocol;

int main(int argc, char** argv) {
  if (argc != 3) {
    fmt::print(stderr, "usage: {} GOLDEN_DIR CORPUS_DIR\n", argv[0]);
    return 2;
  }
  fs::path golden = argv[1];
  fs::path out = argv[2];
  fs::create_directories(out);
  int written = 0;
  for (const auto& entry : fs::directory_iterator(golden)) {
    if (entry.path().extension() != ".bin") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::vector<char> bytes(std::istreambuf_iterator<char>(in), {});
    if (bytes.size() < kFrameSizePrefixBytes) continue;
    std::ofstream o(out / ("golden_" + entry.path().stem().string()), std::ios::binary);
    o.write(bytes.data() + kFrameSizePrefixBytes,
            static_cast<std::streamsize>(bytes.size() - kFrameSizePrefixBytes));
    ++written;
  }
  for (const ApiInfo& api : AllApis()) {
    VisitRequestType(api.key, [&]<typename T>() {
      for (int16_t v = T::kMinVersion; v <= T::kMaxVersion; ++v) {
        RequestHeader h;
        h.request_api_key = api.key;
        h.request_api_version = v;
        h.correlation_id = 1;
        h.client_id = "fuzz";
        Writer w;
        if (!EncodeRequestFrame(h, T{}, w).ok()) continue;
        std::vector<uint8_t> bytes = w.Flatten();
        std::ofstream o(out / fmt::format("default_{}_v{}", api.name, v), std::ios::binary);
        o.write(reinterpret_cast<const char*>(bytes.data()) + kFrameSizePrefixBytes,
                static_cast<std::streamsize>(bytes.size() - kFrameSizePrefixBytes));
        ++written;
      }
    });
  }
  fmt::print("wrote {} seeds to {}\n", written, out.string());
  return 0;
}
