#!/usr/bin/python3
"""Prints OffsetCommit throughput from one client against a real runnel (confluent-kafka).

    /usr/bin/python3 bench/groups/commit_bench.py build/bin/runnel 2000            # synchronous
    /usr/bin/python3 bench/groups/commit_bench.py build/bin/runnel 20000 --async   # pipelined

Each commit is one OffsetCommit of 4 partitions, answered only after its records were appended
to __consumer_offsets and synced. Synchronous: one commit at a time (one sync round trip each).
--async: the client keeps committing without waiting (librdkafka pipelines the requests), so
commits waiting together share a sync (group commit); every commit's callback must report
success. Afterwards it checks the bytes written to __consumer_offsets and the committed offsets
a fresh consumer sees. Measures and prints; exits non-zero only when a commit failed or the
committed offsets are wrong, never on a time."""
import glob
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests",
                                "interop"))
from broker_process import Broker  # noqa: E402
from confluent_kafka import Consumer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

PARTITIONS = 4


def main():
    binary, n, asynchronous = sys.argv[1], int(sys.argv[2]), "--async" in sys.argv[3:]
    b = Broker(binary, smp=2)
    b.start()
    try:
        results = {"ok": 0, "failed": 0, "sync_ok": 0}

        def on_commit(err, parts):
            if err is None and all(p.error is None for p in parts):
                results["ok"] += 1
            else:
                results["failed"] += 1

        # Commits name existing partitions (a broker refuses others, as Kafka does).
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        admin.create_topics([NewTopic("t", PARTITIONS, 1)])["t"].result(timeout=30)
        del admin
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "bench",
                      "enable.auto.commit": False, "on_commit": on_commit})
        # Warm-up: creates the offsets topic and finds the coordinator.
        c.commit(offsets=[TopicPartition("t", 0, 0)], asynchronous=False)
        c.poll(0)
        results.update(ok=0, failed=0)  # callbacks of the synchronous warm-up, if any
        t0 = time.monotonic()
        for i in range(1, n + 1):
            offsets = [TopicPartition("t", p, i) for p in range(PARTITIONS)]
            if asynchronous:
                c.commit(offsets=offsets, asynchronous=True)
                if i % 1000 == 0:
                    c.poll(0)
            else:
                # Raises on a failed request; partition errors come back in the list.
                done = c.commit(offsets=offsets, asynchronous=False)
                results["sync_ok"] += all(p.error is None for p in done)
        while asynchronous and results["ok"] + results["failed"] < n and time.monotonic() - t0 < 120:
            c.poll(0.01)
        if not asynchronous:
            results.update(ok=results["sync_ok"], failed=n - results["sync_ok"])
        dt = time.monotonic() - t0
        mode = "pipelined (asynchronous)" if asynchronous else "synchronous"
        print(f"{n} {mode} commits of {PARTITIONS} partitions in {dt:.2f} s: {n / dt:.0f} "
              f"commits/s, {dt / n * 1e6:.0f} us each; {results['ok']} succeeded, "
              f"{results['failed']} failed")
        c.close()
        written = sum(os.path.getsize(f) for f in
                      glob.glob(os.path.join(b.data_dir, "__consumer_offsets-*", "*.log")))
        fresh = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "bench"})
        committed = fresh.committed([TopicPartition("t", p) for p in range(PARTITIONS)],
                                    timeout=10)
        fresh.close()
        offsets = [p.offset for p in committed]
        print(f"__consumer_offsets holds {written} bytes ({written / (n + 1):.0f} per commit); "
              f"committed offsets seen by a new consumer: {offsets}")
        good = results["ok"] == n and results["failed"] == 0 and offsets == [n] * PARTITIONS
        return 0 if good else 1
    finally:
        b.cleanup()


if __name__ == "__main__":
    sys.exit(main())
