#!/usr/bin/python3
"""Prints synchronous OffsetCommit throughput against a real runnel (confluent-kafka).

    /usr/bin/python3 bench/groups/commit_bench.py build/bin/runnel 2000

Each commit is one OffsetCommit of 4 partitions, answered after its records were appended to
__consumer_offsets and synced. Measures and prints; never passes or fails on a time."""
import os
import sys
import time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "interop"))
from broker_process import Broker
from confluent_kafka import Consumer, TopicPartition
b = Broker(sys.argv[1], smp=2)
b.start()
try:
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "bench", "enable.auto.commit": False})
    n = int(sys.argv[2])
    c.commit(offsets=[TopicPartition("t", 0, 0)], asynchronous=False)  # warm: topic + coordinator
    t0 = time.monotonic()
    for i in range(1, n + 1):
        c.commit(offsets=[TopicPartition("t", p, i) for p in range(4)], asynchronous=False)
    dt = time.monotonic() - t0
    print(f"{n} synchronous commits of 4 partitions in {dt:.2f} s: {n/dt:.0f} commits/s, "
          f"{dt/n*1e6:.0f} us each (each one fsynced)")
    c.close()
finally:
    b.cleanup()
