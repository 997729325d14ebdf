#include "bench/broker/mock_cluster.h"

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>

#include <array>
#include <cstdio>

namespace runnel::bench {

int RunMockCluster(const std::vector<std::pair<std::string, int>>& topics) {
  // Block the stop signals before librdkafka starts its threads so they inherit the mask and
  // sigwait below is the only receiver.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::array<char, 512> errstr{};
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // Quiet the notice about the hosting handle having no bootstrap.servers; errors still print.
  rd_kafka_conf_set(conf, "log_level", "4", errstr.data(), errstr.size());
  // The handle only hosts the mock cluster (librdkafka requires one); it connects nowhere.
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr.data(), errstr.size());
  if (rk == nullptr) {
    fmt::print(stderr, "runnel-bench mock: rd_kafka_new: {}\n", errstr.data());
    rd_kafka_conf_destroy(conf);
    return 1;
  }
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(rk, 1);
  if (cluster == nullptr) {
    fmt::print(stderr, "runnel-bench mock: rd_kafka_mock_cluster_new failed\n");
    rd_kafka_destroy(rk);
    return 1;
  }
  for (const auto& [name, partitions] : topics) {
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(cluster, name.c_str(), partitions, 1);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      fmt::print(stderr, "runnel-bench mock: topic {}: {}\n", name, rd_kafka_err2str(err));
      rd_kafka_mock_cluster_destroy(cluster);
      rd_kafka_destroy(rk);
      return 1;
    }
  }
  fmt::print("bootstrap {}\n", rd_kafka_mock_cluster_bootstraps(cluster));
  std::fflush(stdout);

  int signal = 0;
  sigwait(&stop_signals, &signal);
  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(rk);
  return 0;
}

}  // namespace runnel::bench
