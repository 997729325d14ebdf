#!/usr/bin/python3
"""Interop: consumer groups through real clients against a real runnel process.

- kcat -G: two processes in one group split a topic's partitions; together they read every
  record once.
- kafka-python: two members split four partitions, commit (with a metadata string), close; a
  new member resumes exactly after the commits; the admin client lists, describes and reads
  the group's offsets.
- confluent-kafka: a rebalance when a member leaves, and when a member stops heartbeating
  (a consumer process killed with SIGKILL: its session expires); committed offsets are visible
  to a new member; AdminClient.list_groups (ListGroups + DescribeGroups).
- confluent-kafka static members (KIP-345) and the cooperative-sticky assignor.
- Restart: SIGKILL the broker, start it again: committed offsets and the group list are intact
  (they were replayed from __consumer_offsets).

Every wait is bounded by a deadline; no check depends on how long something took.
"""
import argparse
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_process import CHECKS, Broker, check, summary  # noqa: E402


def wait_until(pred, timeout_s, step_s=0.05):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step_s)
    return pred()


def admin_after_restart(broker, timeout_s=30):
    """A kafka-python admin client, retried: right after a SIGKILL restart the dead process's
    io_uring may keep its SO_REUSEPORT listeners for a moment, and connections the kernel hands
    them are reset; kafka-python's version probe then fails instead of retrying."""
    from kafka.admin import KafkaAdminClient
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def while_loading(call, timeout_s=30):
    """call(), retried while the broker answers COORDINATOR_LOAD_IN_PROGRESS: right after a
    restart the coordinators replay __consumer_offsets, and kafka-python's admin client raises
    that error (as it does against Kafka) instead of retrying."""
    from kafka.errors import GroupLoadInProgressError
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return call()
        except GroupLoadInProgressError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def create_topic(broker, name, partitions):
    from kafka.admin import KafkaAdminClient, NewTopic
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    admin.create_topics([NewTopic(name, partitions, 1)])
    admin.close()


def produce(broker, topic, partitions, per_partition, prefix):
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
    for part in range(partitions):
        for i in range(per_partition):
            p.produce(topic, value=f"{prefix}-{part}-{i}".encode(), partition=part)
    check(p.flush(30) == 0, f"produce to {topic}")


# ---- the offsets topic ------------------------------------------------------------------

def offsets_topic(broker):
    """A client's Metadata for __consumer_offsets creates it the coordinator's way (50
    partitions, compacted), not with the auto-create defaults, and lists it as internal."""
    from kafka import KafkaProducer
    c = KafkaProducer(bootstrap_servers=broker.bootstrap)
    parts = c.partitions_for("__consumer_offsets")  # Metadata v1 naming it: auto-create applies
    check(parts == set(range(50)), f"__consumer_offsets has 50 partitions: {parts}")
    cluster = c._metadata
    check("__consumer_offsets" in cluster.topics(exclude_internal_topics=False) and
          "__consumer_offsets" not in cluster.topics(exclude_internal_topics=True),
          "Metadata marks __consumer_offsets internal")
    c.close()
    from confluent_kafka.admin import AdminClient, ConfigResource
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    res = ConfigResource(ConfigResource.Type.TOPIC, "__consumer_offsets")
    configs = admin.describe_configs([res])[res].result(timeout=10)
    check(configs["cleanup.policy"].value == "compact",
          f"__consumer_offsets is compacted: {configs['cleanup.policy'].value}")


# ---- kcat -G ------------------------------------------------------------------------------

def kcat_group(kcat_bin, broker):
    topic = "kc.group"
    create_topic(broker, topic, 4)
    produce(broker, topic, 4, 10, "kc")
    procs = []
    for i in range(2):
        procs.append(subprocess.Popen(
            [kcat_bin, "-b", broker.bootstrap, "-G", "kc-group", topic, "-e", "-q",
             "-f", "%p %o %s\n", "-X", "auto.offset.reset=earliest",
             "-X", "session.timeout.ms=6000", "-X", f"client.id=kcat-{i}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            check(False, f"kcat -G did not reach the end: {err[-500:]}")
        outs.append([line.split(" ", 2) for line in out.splitlines() if line])
    got = sorted((int(p), int(o), v) for out in outs for p, o, v in out)
    want = sorted((p, i, f"kc-{p}-{i}") for p in range(4) for i in range(10))
    check(got == want, f"two kcat -G processes read every record once ({len(got)} of 40)")
    parts = [{int(p) for p, _, _ in out} for out in outs]
    check(all(parts), f"both kcat processes got partitions: {parts}")
    check(not (parts[0] & parts[1]), f"the kcat processes' partitions are disjoint: {parts}")


# ---- kafka-python -------------------------------------------------------------------------

def kafka_python_group(broker):
    from kafka import KafkaConsumer, TopicPartition
    from kafka.admin import KafkaAdminClient
    from kafka.structs import OffsetAndMetadata
    topic, group = "kp.group", "kp-group"
    create_topic(broker, topic, 4)

    def consumer():
        return KafkaConsumer(topic, bootstrap_servers=broker.bootstrap, group_id=group,
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             session_timeout_ms=10000, heartbeat_interval_ms=500,
                             max_poll_interval_ms=30000)

    members = [consumer(), consumer()]
    got = [[], []]
    stop = threading.Event()
    produced = threading.Event()
    errors = []

    def run(i):
        c = members[i]
        try:
            while not stop.is_set():
                for records in c.poll(timeout_ms=100).values():
                    got[i].extend(records)
            c.commit({tp: OffsetAndMetadata(10, f"kp-meta-{tp.partition}")
                      for tp in c.assignment()})
        except Exception as e:  # reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    split = wait_until(lambda: all(len(c.assignment()) == 2 for c in members), 60)
    check(split, f"two kafka-python members split 4 partitions: "
                 f"{[sorted(tp.partition for tp in c.assignment()) for c in members]}")
    produce(broker, topic, 4, 25, "kp")
    produced.set()
    wait_until(lambda: len(got[0]) + len(got[1]) >= 100, 60)
    assignments = [{tp.partition for tp in c.assignment()} for c in members]
    stop.set()
    for t in threads:
        t.join(60)
    check(not errors, f"kafka-python member errors: {errors}")
    check(len(got[0]) + len(got[1]) == 100, f"the members read 100 records "
                                             f"({len(got[0])} + {len(got[1])})")
    for i in range(2):
        check({r.partition for r in got[i]} <= assignments[i],
              f"member {i} read only its own partitions {assignments[i]}")
    check(not (assignments[0] & assignments[1]), f"disjoint assignments {assignments}")
    for c in members:
        c.close()

    # A new member resumes exactly after the commits (offset 10 of each partition).
    c = consumer()
    resumed = []
    wait_until(lambda: resumed.extend(
        r for rs in c.poll(timeout_ms=200).values() for r in rs) or len(resumed) >= 60, 60)
    firsts = {}
    for r in resumed:
        firsts.setdefault(r.partition, r.offset)
    check(len(resumed) == 60, f"the new member read 60 records after the commits ({len(resumed)})")
    check(firsts == {0: 10, 1: 10, 2: 10, 3: 10}, f"it started at the committed offsets: {firsts}")
    check(c.committed(TopicPartition(topic, 2)) == 10, "committed() reads the commit")
    c.close()

    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    offsets = admin.list_consumer_group_offsets(group)
    check({tp.partition: (om.offset, om.metadata) for tp, om in offsets.items()} ==
          {p: (10, f"kp-meta-{p}") for p in range(4)},
          f"OffsetFetch keeps offsets and metadata strings: {offsets}")
    groups = dict(admin.list_consumer_groups())
    check(groups.get(group) == "consumer", f"ListGroups lists {group}: {groups}")
    desc = admin.describe_consumer_groups([group])[0]
    check(desc.state == "Empty" and desc.members == [], f"DescribeGroups after close: {desc}")
    admin.close()


# ---- confluent-kafka ----------------------------------------------------------------------

CHILD = r"""
import sys, time
from confluent_kafka import Consumer
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2],
              "session.timeout.ms": 3000, "heartbeat.interval.ms": 300,
              "auto.offset.reset": "earliest", "enable.auto.commit": False})
c.subscribe([sys.argv[3]])
while True:
    c.poll(0.1)
    print("assigned", len(c.assignment()), flush=True)
"""


def ck_consumer(broker, group, **extra):
    from confluent_kafka import Consumer
    conf = {"bootstrap.servers": broker.bootstrap, "group.id": group,
            "session.timeout.ms": 3000, "heartbeat.interval.ms": 300,
            "auto.offset.reset": "earliest", "enable.auto.commit": False}
    conf.update(extra)
    return Consumer(conf)


def poll_until(consumers, pred, timeout_s):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for c in consumers:
            c.poll(0.05)
        if pred():
            return True
    return False


def confluent_group(broker):
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import AdminClient
    topic, group = "ck.group", "ck-group"
    create_topic(broker, topic, 4)
    produce(broker, topic, 4, 5, "ck")
    a, b = ck_consumer(broker, group), ck_consumer(broker, group)
    a.subscribe([topic])
    b.subscribe([topic])
    ok = poll_until([a, b], lambda: len(a.assignment()) == 2 and len(b.assignment()) == 2, 60)
    check(ok, f"two confluent members split 4 partitions: {a.assignment()} {b.assignment()}")

    # A member leaves (LeaveGroup on close): the other takes every partition.
    a.close()
    ok = poll_until([b], lambda: len(b.assignment()) == 4, 30)
    check(ok, f"after a member left the other has all 4 partitions: {b.assignment()}")

    # A member stops heartbeating (SIGKILL): after its session timeout the group rebalances.
    child = subprocess.Popen([sys.executable, "-c", CHILD, broker.bootstrap, group, topic],
                             stdout=subprocess.PIPE, text=True)
    try:
        lines = []
        reader = threading.Thread(target=lambda: [lines.append(x) for x in child.stdout])
        reader.daemon = True
        reader.start()
        ok = poll_until([b], lambda: len(b.assignment()) == 2 and bool(lines) and
                        lines[-1].strip() == "assigned 2", 60)
        check(ok, f"a third process joined and took 2 partitions: {b.assignment()} "
                  f"{lines[-1:] if lines else None}")
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        ok = poll_until([b], lambda: len(b.assignment()) == 4, 60)
        check(ok, f"after the killed member's session expired the survivor has all 4: "
                  f"{b.assignment()}")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

    # Committed offsets are visible to a new member. (The polls above may have returned some
    # records already: read from the start again.)
    for p in range(4):
        b.seek(TopicPartition(topic, p, 0))
    seen = set()
    deadline = time.monotonic() + 30
    while len(seen) < 20 and time.monotonic() < deadline:
        m = b.poll(0.1)
        if m is not None and not m.error():
            seen.add((m.partition(), m.offset()))
    check(seen == {(p, o) for p in range(4) for o in range(5)},
          f"the survivor read all 20 records: {sorted(seen)}")
    commits = [TopicPartition(topic, p, 3) for p in range(4)]
    result = b.commit(offsets=commits, asynchronous=False)
    check(all(tp.error is None for tp in result), f"commit: {result}")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    listed = {g.id: g for g in admin.list_groups(timeout=10)}
    g = listed.get(group)
    if check(g is not None, f"list_groups lists {group}: {sorted(listed)}"):
        check(g.state == "Stable", f"{group} is Stable: {g.state}")
        check(g.protocol_type == "consumer" and g.protocol in ("range", "roundrobin"),
              f"protocol: {g.protocol_type} {g.protocol}")
        check(len(g.members) == 1 and g.members[0].client_host.startswith("/127.0.0.1"),
              f"one member from 127.0.0.1: {[(m.id, m.client_host) for m in g.members]}")
        check(len(g.members[0].assignment) > 0, "describe shows the member's assignment")
    b.close()
    c = ck_consumer(broker, group)
    committed = c.committed([TopicPartition(topic, p) for p in range(4)], timeout=10)
    check([tp.offset for tp in committed] == [3, 3, 3, 3],
          f"a new member sees the committed offsets: {committed}")
    c.subscribe([topic])
    first = {}
    deadline = time.monotonic() + 30
    while len(first) < 4 and time.monotonic() < deadline:
        m = c.poll(0.1)
        if m is not None and not m.error():
            first.setdefault(m.partition(), m.offset())
    check(first == {0: 3, 1: 3, 2: 3, 3: 3}, f"and starts from them: {first}")
    c.close()


def confluent_static_members(broker):
    """KIP-345 with librdkafka: a static member that restarts (a new process with the same
    group.instance.id, within its session) takes back its partitions without a rebalance."""
    topic, group = "ck.static", "ck-static"
    create_topic(broker, topic, 4)
    b_assigns = []
    static = {"session.timeout.ms": 6000}
    a = ck_consumer(broker, group, **{"group.instance.id": "instance-a"}, **static)
    b = ck_consumer(broker, group, **{"group.instance.id": "instance-b"}, **static)
    a.subscribe([topic])
    b.subscribe([topic], on_assign=lambda c, parts: b_assigns.append(len(parts)))
    ok = poll_until([a, b], lambda: len(a.assignment()) == 2 and len(b.assignment()) == 2, 60)
    check(ok, f"two static members split 4 partitions: {a.assignment()} {b.assignment()}")
    a_parts = sorted(tp.partition for tp in a.assignment())
    b_parts = sorted(tp.partition for tp in b.assignment())
    a.close()  # a static member does not leave the group on close
    a2 = ck_consumer(broker, group, **{"group.instance.id": "instance-a"}, **static)
    a2.subscribe([topic])
    ok = poll_until([a2, b], lambda: len(a2.assignment()) == 2, 30)
    poll_until([a2, b], lambda: False, 1.0)  # give a rebalance, if any, the chance to show
    check(ok and sorted(tp.partition for tp in a2.assignment()) == a_parts,
          f"the restarted static member got its partitions back: {a2.assignment()} vs {a_parts}")
    check(sorted(tp.partition for tp in b.assignment()) == b_parts and b_assigns == [2],
          f"the other member saw no rebalance: assignments {b_assigns}")
    a2.close()
    b.close()


def confluent_cooperative(broker):
    """librdkafka's cooperative-sticky assignor (incremental rebalances: two JoinGroup rounds
    over the classic protocol): a joiner takes half, a leaver's half goes back."""
    topic, group = "ck.coop", "ck-coop"
    create_topic(broker, topic, 4)
    kw = {"partition.assignment.strategy": "cooperative-sticky"}
    a = ck_consumer(broker, group, **kw)
    a.subscribe([topic])
    check(poll_until([a], lambda: len(a.assignment()) == 4, 30),
          f"one cooperative member has all 4: {a.assignment()}")
    c = ck_consumer(broker, group, **kw)
    c.subscribe([topic])
    ok = poll_until([a, c], lambda: len(a.assignment()) == 2 and len(c.assignment()) == 2, 60)
    check(ok, f"a second cooperative member takes 2: {len(a.assignment())} {len(c.assignment())}")
    c.close()
    check(poll_until([a], lambda: len(a.assignment()) == 4, 30),
          f"after it left the first has 4 again: {len(a.assignment())}")
    a.close()


# ---- restart ------------------------------------------------------------------------------

def restart_keeps_groups(broker):
    from kafka import TopicPartition
    from kafka.admin import KafkaAdminClient
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    before_groups = dict(admin.list_consumer_groups())
    before = {g: admin.list_consumer_group_offsets(g) for g in ("kp-group", "ck-group")}
    admin.close()
    code = broker.stop(signal.SIGKILL)
    check(code == -signal.SIGKILL, f"SIGKILL: {code}")
    broker.start()
    admin = admin_after_restart(broker)
    after_groups = dict(while_loading(admin.list_consumer_groups))
    check(after_groups == before_groups,
          f"the group list survives SIGKILL: {before_groups} -> {after_groups}")
    for g, offsets in before.items():
        after = while_loading(lambda: admin.list_consumer_group_offsets(g))
        check(after == offsets and len(after) == 4,
              f"{g}'s committed offsets survive SIGKILL: {offsets} -> {after}")
    check(after.get(TopicPartition("ck.group", 0)) is not None, "ck-group partition 0 is there")
    desc = while_loading(lambda: admin.describe_consumer_groups(["kp-group"]))[0]
    check(desc.state == "Empty", f"kp-group is Empty after the restart: {desc.state}")
    admin.close()
    check("group records from" in broker.logs(tail=None), "the coordinator replayed __consumer_offsets")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runnel", required=True)
    ap.add_argument("--kcat", default="kcat")
    args = ap.parse_args()
    broker = Broker(args.runnel, smp=2, extra=[
        "--group.initial.rebalance.delay.ms", "300", "--group.min.session.timeout.ms", "1000"])
    try:
        broker.start()
        offsets_topic(broker)
        kcat_group(args.kcat, broker)
        kafka_python_group(broker)
        confluent_group(broker)
        confluent_static_members(broker)
        confluent_cooperative(broker)
        restart_keeps_groups(broker)
        code = broker.stop(signal.SIGTERM)
        check(code == 0, f"SIGTERM exit 0, got {code}")
    except Exception as e:
        import traceback
        traceback.print_exc()
        check(False, f"exception: {e!r}")
    finally:
        if CHECKS["failed"]:
            print(broker.logs(), flush=True)
        broker.cleanup()
    return summary()


if __name__ == "__main__":
    sys.exit(main())
