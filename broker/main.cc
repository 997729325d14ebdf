// runnel: the production broker. Parses flags and the TOML config, starts one io_uring shard
// per --smp, runs the per-shard server on each, and stops on SIGTERM/SIGINT.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <string_view>
#include <vector>

#include "broker/config.h"
#include "broker/node.h"
#include "broker/server.h"
#include "io/uring/process.h"
#include "io/uring/runtime.h"

namespace {

spdlog::level::level_enum SpdlogLevel(runnel::broker::LogLevel level) {
  using runnel::broker::LogLevel;
  switch (level) {
    case LogLevel::kTrace:
      return spdlog::level::trace;
    case LogLevel::kDebug:
      return spdlog::level::debug;
    case LogLevel::kInfo:
      return spdlog::level::info;
    case LogLevel::kWarn:
      return spdlog::level::warn;
    case LogLevel::kError:
      return spdlog::level::err;
    case LogLevel::kOff:
      return spdlog::level::off;
  }
  return spdlog::level::info;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace runnel;
  std::vector<std::string_view> args(argv + 1, argv + argc);
  Result<broker::CommandLine> cl = broker::ParseCommandLine(
      args, [](const std::string& path) { return uring::ReadSmallTextFile(path); });
  if (!cl.ok()) {
    std::fprintf(stderr, "runnel: %s\n(see runnel --help)\n", cl.status().message().c_str());
    return 2;
  }
  if (cl->help) {
    std::fputs(broker::HelpText().c_str(), stdout);
    return 0;
  }
  broker::BrokerConfig config = cl->config;
  if (config.smp == 0) config.smp = uring::OnlineCores();
  spdlog::set_level(SpdlogLevel(config.log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

  uring::UringOptions runtime_options;
  runtime_options.shards = config.smp;
  runtime_options.files.drop_behind_bytes = static_cast<uint64_t>(config.log_drop_behind_bytes);
  runtime_options.files.direct_append_bytes = static_cast<uint64_t>(config.log_direct_append_bytes);
  auto runtime = uring::UringRuntime::Create(runtime_options);
  if (!runtime.ok()) {
    spdlog::error("{}", runtime.status().ToString());
    return 1;
  }
  uring::UringRuntime* rt = runtime->get();
  broker::Node node(config, config.smp);
  node.SetStopper([rt] { rt->RequestStop(); });
  // The first SIGTERM/SIGINT drains (shard 0 closes every log cleanly, then stops the runtime);
  // a second one stops at once.
  node.SetStopRequested([] { return uring::ReceivedStopSignal() != 0; });
  if (Status s = uring::HandleStopSignals(rt, /*drain_first=*/true); !s.ok()) {
    spdlog::error("{}", s.ToString());
    return 1;
  }
  Status s =
      rt->Run([&node](Io& io) { return broker::RunShard(io, node); }, uring::RunOn::kEveryShard);
  Status detach = uring::HandleStopSignals(nullptr);
  (void)detach;
  if (!s.ok()) {
    spdlog::error("runnel stopped: {}", s.ToString());
    return 1;
  }
  if (node.failed()) return 1;
  int sig = uring::ReceivedStopSignal();
  spdlog::info("runnel stopped{}", sig != 0 ? fmt::format(" (signal {})", sig) : "");
  return 0;
}
