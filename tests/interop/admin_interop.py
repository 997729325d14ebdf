#!/usr/bin/python3
"""Interop: the runnel binary's command line, and metadata/admin through real clients —
kcat (librdkafka), kafka-python and confluent-kafka — against a real runnel process.

Run by ctest (label interop) with Debian's python3 (/usr/bin/python3), which has kafka-python
and confluent-kafka. Every check asserts exact values; the broker is stopped by PID.
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_process import Broker, check, summary  # noqa: E402


def run(cmd, timeout=30):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def command_line(runnel):
    r = run([runnel, "--help"])
    check(r.returncode == 0, "--help exits 0")
    for key in ["--listen", "--advertise", "--data-dir", "--smp", "--node-id", "--log-level",
                "--config", "--num.partitions", "--retention.ms", "--retention.bytes",
                "--segment.bytes", "--segment.ms", "--cleanup.policy", "--max.message.bytes",
                "--message.timestamp.type", "--compression.type",
                "--auto.create.topics.enable", "--connections.max.idle.ms"]:
        check(key + " " in r.stdout, f"--help documents {key}")
    r = run([runnel, "--no.such.setting", "1"])
    check(r.returncode != 0 and "no.such.setting: unknown setting" in r.stderr,
          f"unknown flag is named: {r.returncode} {r.stderr!r}")
    r = run([runnel, "--retention.ms", "soon"])
    check(r.returncode != 0 and "retention.ms: 'soon' is not an integer" in r.stderr,
          f"invalid flag value is named: {r.stderr!r}")
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        f.write('listen = "127.0.0.1:1"\ncleanup.policy = "sometimes"\n')
        bad_toml = f.name
    r = run([runnel, "--config", bad_toml])
    os.remove(bad_toml)
    check(r.returncode != 0 and "cleanup.policy: 'sometimes'" in r.stderr and bad_toml in r.stderr,
          f"invalid TOML setting is named with the file: {r.stderr!r}")


def kcat_metadata(kcat, bootstrap, topic=None):
    cmd = [kcat, "-b", bootstrap, "-L", "-J", "-m", "10"]
    if topic:
        cmd += ["-t", topic]
    r = run(cmd)
    if r.returncode != 0:
        raise RuntimeError(f"kcat -L failed: {r.stderr}")
    return json.loads(r.stdout)


def kcat_checks(kcat, broker):
    md = kcat_metadata(kcat, broker.bootstrap)
    check([(b["id"], b["name"]) for b in md["brokers"]] == [(0, broker.bootstrap)],
          f"kcat sees one broker 0 at {broker.bootstrap}: {md['brokers']}")
    check(md["topics"] == [], f"no topics yet: {md['topics']}")
    # Metadata for a missing topic auto-creates it with num.partitions (2 here).
    md = kcat_metadata(kcat, broker.bootstrap, "auto.created")
    topics = {t["topic"]: t for t in md["topics"]}
    check("auto.created" in topics and len(topics["auto.created"]["partitions"]) == 2,
          f"auto-created with num.partitions=2: {md['topics']}")
    p0 = topics["auto.created"]["partitions"][0]
    check(p0["leader"] == 0 and p0["replicas"] == [{"id": 0}] and p0["isrs"] == [{"id": 0}],
          f"partition led by broker 0: {p0}")


def kafka_python_checks(broker, kcat):
    from kafka.admin import (ConfigResource, ConfigResourceType, KafkaAdminClient, NewPartitions,
                             NewTopic)
    from kafka.errors import (InvalidConfigurationError, InvalidPartitionsError,
                              TopicAlreadyExistsError)
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10000,
                             client_id="interop-kafka-python")
    try:
        resp = admin.create_topics([
            NewTopic("kp.orders", 3, 1, topic_configs={"retention.ms": "3600000",
                                                       "cleanup.policy": "compact"}),
            NewTopic("kp.events", 1, 1)])
        check([(t[0], t[1]) for t in resp.topic_errors] == [("kp.orders", 0), ("kp.events", 0)],
              f"kafka-python create_topics: {resp.topic_errors}")
        try:
            admin.create_topics([NewTopic("kp.orders", 1, 1)])
            check(False, "duplicate create raises")
        except TopicAlreadyExistsError:
            check(True, "duplicate create raises TopicAlreadyExistsError")
        try:
            admin.create_topics([NewTopic("kp.bad", 1, 1, topic_configs={"retention.ms": "x"})])
            check(False, "invalid config raises")
        except InvalidConfigurationError:
            check(True, "invalid config raises InvalidConfigurationError")
        check(set(admin.list_topics()) == {"auto.created", "kp.orders", "kp.events"},
              f"kafka-python list_topics: {admin.list_topics()}")

        def topic_configs(name):
            r = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
            res = r[0].resources[0]
            check(res[0] == 0, f"describe_configs {name} error {res[0]}")
            return {e[0]: (e[1], e[3]) for e in res[4]}  # name -> (value, source)

        cfg = topic_configs("kp.orders")
        check(cfg["retention.ms"] == ("3600000", 1) and cfg["cleanup.policy"] == ("compact", 1),
              f"overrides are DYNAMIC_TOPIC_CONFIG: {cfg}")
        check(cfg["segment.bytes"] == ("1073741824", 5), f"defaults: {cfg['segment.bytes']}")
        check(cfg["retention.bytes"] == ("-1", 5), f"defaults: {cfg['retention.bytes']}")
        r = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, "kp.orders",
                                                configs={"retention.ms": "5000"})])
        check(r.resources[0][0] == 0, f"alter_configs: {r.resources}")
        cfg = topic_configs("kp.orders")
        # AlterConfigs replaces the whole set: cleanup.policy goes back to the default.
        check(cfg["retention.ms"] == ("5000", 1) and cfg["cleanup.policy"] == ("delete", 5),
              f"after alter_configs: {cfg['retention.ms']} {cfg['cleanup.policy']}")
        r = admin.create_partitions({"kp.orders": NewPartitions(5)})
        check(r.topic_errors[0][1] == 0, f"create_partitions: {r.topic_errors}")
        try:
            admin.create_partitions({"kp.orders": NewPartitions(2)})
            check(False, "shrinking partitions raises")
        except InvalidPartitionsError:
            check(True, "shrinking is INVALID_PARTITIONS")
        # A topic with data: deleting it removes its partition directory.
        produced = subprocess.run([kcat, "-b", broker.bootstrap, "-P", "-t", "kp.events"],
                                  input="one\ntwo\n", capture_output=True, text=True, timeout=30)
        check(produced.returncode == 0, f"produce to kp.events: {produced.stderr}")
        dirs = [d for d in os.listdir(broker.data_dir) if d.startswith("kp.events-0-")]
        check(len(dirs) == 1, f"kp.events has a partition directory: {dirs}")
        r = admin.delete_topics(["kp.events"])
        check(r.topic_error_codes == [("kp.events", 0)], f"delete_topics: {r.topic_error_codes}")
        dirs = [d for d in os.listdir(broker.data_dir) if d.startswith("kp.events-")]
        check(dirs == [], f"deleting the topic removed its directory: {dirs}")
        check(set(admin.list_topics()) == {"auto.created", "kp.orders"},
              f"after delete: {admin.list_topics()}")
    finally:
        admin.close()


def confluent_checks(broker, kcat):
    from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    futures = admin.create_topics([NewTopic("ck.topic", num_partitions=2, replication_factor=1,
                                            config={"max.message.bytes": "2000000"})],
                                  operation_timeout=10)
    for name, f in futures.items():
        check(f.result(timeout=15) is None, f"confluent create_topics {name}")
    futures = admin.create_topics([NewTopic("ck.topic", 1, 1)])
    try:
        futures["ck.topic"].result(timeout=15)
        check(False, "duplicate create fails")
    except Exception as e:  # KafkaException(TOPIC_ALREADY_EXISTS)
        check(e.args[0].code() == 36, f"duplicate create is TOPIC_ALREADY_EXISTS: {e}")
    fs = admin.create_partitions([NewPartitions("ck.topic", 4)])
    check(fs["ck.topic"].result(timeout=15) is None, "confluent create_partitions")
    md = admin.list_topics(timeout=10)
    check(len(md.topics["ck.topic"].partitions) == 4, "4 partitions after create_partitions")
    check(md.cluster_id is not None and len(md.cluster_id) == 22, f"cluster id {md.cluster_id}")
    fs = admin.alter_configs([ConfigResource("topic", "ck.topic",
                                             set_config={"segment.ms": "60000"})])
    for r, f in fs.items():
        check(f.result(timeout=15) is None, "confluent alter_configs")
    fs = admin.describe_configs([ConfigResource("topic", "ck.topic")])
    for r, f in fs.items():
        configs = f.result(timeout=15)
        check(configs["segment.ms"].value == "60000", f"segment.ms {configs['segment.ms'].value}")
        check(configs["max.message.bytes"].value == "1048588",
              f"alter_configs replaced max.message.bytes: {configs['max.message.bytes'].value}")
    fs = admin.describe_configs([ConfigResource("broker", "0")])
    for r, f in fs.items():
        configs = f.result(timeout=15)
        check(configs["listen"].value == broker.bootstrap, f"broker listen {configs['listen']}")
        check(configs["num.partitions"].value == "2", "broker num.partitions")
    fs = admin.delete_topics(["ck.topic"], operation_timeout=10)
    check(fs["ck.topic"].result(timeout=15) is None, "confluent delete_topics")
    return md.cluster_id


def garbage_checks(broker, kcat):
    # Junk, a truncated frame and a huge size each close their own connection only.
    for payload in [os.urandom(64), b"\x00\x00\x00\x20\x00\x12", b"\x7f\xff\xff\xff" + b"x" * 8]:
        with socket.create_connection(("127.0.0.1", broker.port), timeout=5) as s:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            try:
                s.recv(1024)
            except OSError:
                pass
    md = kcat_metadata(kcat, broker.bootstrap)
    check(len(md["brokers"]) == 1, "broker still serves after garbage")
    # 1,000 idle connections held open: a healthy client is still served.
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1100 and hard >= 1100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1100, hard))
    idle = []
    try:
        for _ in range(1000):
            idle.append(socket.create_connection(("127.0.0.1", broker.port), timeout=5))
        md = kcat_metadata(kcat, broker.bootstrap)
        check(len(idle) == 1000 and len(md["brokers"]) == 1,
              f"served with {len(idle)} idle connections open")
    finally:
        for s in idle:
            s.close()


def idle_timeout(runnel):
    """connections.max.idle.ms: a silent connection is closed by the broker."""
    import time
    broker = Broker(runnel, smp=1, extra=["--connections.max.idle.ms", "300"])
    try:
        broker.start()
        with socket.create_connection(("127.0.0.1", broker.port), timeout=10) as s:
            start = time.monotonic()
            data = s.recv(16)
            waited = time.monotonic() - start
        check(data == b"" and 0.25 <= waited < 5, f"idle connection closed after {waited:.2f}s")
    finally:
        broker.cleanup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runnel", required=True)
    ap.add_argument("--kcat", default="kcat")
    args = ap.parse_args()

    command_line(args.runnel)
    idle_timeout(args.runnel)
    broker = Broker(args.runnel, smp=2, extra=["--num.partitions", "2"])
    try:
        broker.start()
        kcat_checks(args.kcat, broker)
        kafka_python_checks(broker, args.kcat)
        cluster_id = confluent_checks(broker, args.kcat)
        garbage_checks(broker, args.kcat)
        code = broker.stop(signal.SIGTERM)
        check(code == 0, f"SIGTERM stops cleanly with exit 0, got {code}: {broker.logs()}")
        # Restart on the same data dir: topics, configs and the cluster id survive.
        broker.start()
        md = kcat_metadata(args.kcat, broker.bootstrap)
        parts = {t["topic"]: len(t["partitions"]) for t in md["topics"]}
        check(parts == {"auto.created": 2, "kp.orders": 5}, f"topics after restart: {parts}")
        from confluent_kafka.admin import AdminClient, ConfigResource
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        check(admin.list_topics(timeout=10).cluster_id == cluster_id, "cluster id survives")
        fs = admin.describe_configs([ConfigResource("topic", "kp.orders")])
        for r, f in fs.items():
            check(f.result(timeout=15)["retention.ms"].value == "5000", "override survives")
        code = broker.stop(signal.SIGINT)
        check(code == 0, f"SIGINT stops cleanly with exit 0, got {code}")
    except Exception as e:  # report, then fail
        check(False, f"exception: {e!r}\n{broker.logs()}")
    finally:
        broker.cleanup()
    return summary()


if __name__ == "__main__":
    sys.exit(main())
