#!/usr/bin/python3
"""Interop: produce and consume through real clients against a real runnel process — kcat
(every codec, keys, headers, offsets, -Q by timestamp), kafka-python (produce/consume,
offsets_for_times, a 1 MiB message) and confluent-kafka (acks=all, then SIGKILL the broker, once
after a flush and once mid-stream: every acknowledged record is there exactly once after the
restart).
"""
import argparse
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_process import Broker, check, summary  # noqa: E402


def kcat(kcat_bin, args, stdin=None, timeout=30):
    r = subprocess.run([kcat_bin] + args, input=stdin, capture_output=True, text=True,
                       timeout=timeout)
    return r


def kcat_checks(kcat_bin, broker):
    expected = []
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"]:
        lines = [f"{codec}-k{i}:{codec}-value-{i}" for i in range(50)]
        r = kcat(kcat_bin, ["-b", broker.bootstrap, "-P", "-t", "kc.codecs", "-K:", "-z", codec,
                            "-X", "acks=all"], "\n".join(lines) + "\n")
        check(r.returncode == 0, f"kcat produce {codec}: {r.stderr}")
        expected += [tuple(line.split(":", 1)) for line in lines]
    r = kcat(kcat_bin, ["-b", broker.bootstrap, "-C", "-t", "kc.codecs", "-o", "beginning", "-e",
                        "-f", "%k\t%s\t%o\n"])
    check(r.returncode == 0, f"kcat consume: {r.stderr}")
    got = [line.split("\t") for line in r.stdout.splitlines()]
    check([(k, v) for k, v, _ in got] == expected,
          f"kcat reads back every codec's records in order ({len(got)} of {len(expected)})")
    check([int(o) for _, _, o in got] == list(range(len(expected))), "offsets are dense from 0")
    # -o with a count, from an offset in the middle.
    r = kcat(kcat_bin, ["-b", broker.bootstrap, "-C", "-t", "kc.codecs", "-o", "120", "-c", "5",
                        "-f", "%o:%s\n"])
    check(r.stdout.splitlines() == [f"{120 + i}:{expected[120 + i][1]}" for i in range(5)],
          f"kcat -o 120 -c 5: {r.stdout!r}")
    # Headers.
    r = kcat(kcat_bin, ["-b", broker.bootstrap, "-P", "-t", "kc.headers", "-H", "h1=v1",
                        "-H", "h2=v2", "-K:"], "key:with-headers\n")
    check(r.returncode == 0, f"kcat produce with headers: {r.stderr}")
    r = kcat(kcat_bin, ["-b", broker.bootstrap, "-C", "-t", "kc.headers", "-o", "beginning", "-e",
                        "-f", "%k|%s|%h\n"])
    check(r.stdout.strip() == "key|with-headers|h1=v1,h2=v2", f"headers round trip: {r.stdout!r}")
    # -Q: offset for a timestamp (0: the first record) and for the future (none: -1).
    r = kcat(kcat_bin, ["-b", broker.bootstrap, "-Q", "-t", "kc.codecs:0:0"])
    check("offset 0" in r.stdout, f"kcat -Q by timestamp 0: {r.stdout!r}")
    future_ms = int(time.time() * 1000) + 3600 * 1000
    r = kcat(kcat_bin, ["-b", broker.bootstrap, "-Q", "-t", f"kc.codecs:0:{future_ms}"])
    check("offset -1" in r.stdout, f"kcat -Q in the future: {r.stdout!r}")


def raw_call(broker, api_key, version, body, correlation_id=7):
    """One request over a plain socket (non-flexible versions): returns the response body."""
    import socket
    import struct
    client = b"interop-raw"
    header = struct.pack(">hhih", api_key, version, correlation_id, len(client)) + client
    frame = header + body
    with socket.create_connection(("127.0.0.1", broker.port), timeout=10) as s:
        s.sendall(struct.pack(">i", len(frame)) + frame)
        size = struct.unpack(">i", _recv_exactly(s, 4))[0]
        data = _recv_exactly(s, size)
    got_correlation = struct.unpack(">i", data[:4])[0]
    check(got_correlation == correlation_id, f"correlation id {got_correlation}")
    return data[4:]


def _recv_exactly(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise RuntimeError("connection closed")
        out += chunk
    return out


def delete_records_and_epochs(kcat_bin, broker):
    """DeleteRecords v1 and OffsetForLeaderEpoch v2 (no Python client has them) over raw
    frames, then checked with kcat and ListOffsets."""
    import struct
    topic = b"kc.codecs"
    body = (struct.pack(">i", 1) + struct.pack(">h", len(topic)) + topic + struct.pack(">i", 1) +
            struct.pack(">iq", 0, 100) + struct.pack(">i", 5000))
    resp = raw_call(broker, 21, 1, body)
    # throttle, [name, [partition, low_watermark, error]]
    pos = 4 + 4
    name_len = struct.unpack(">h", resp[pos:pos + 2])[0]
    pos += 2 + name_len + 4
    partition, low, err = struct.unpack(">iqh", resp[pos:pos + 14])
    check((partition, low, err) == (0, 100, 0), f"DeleteRecords to 100: {(partition, low, err)}")
    r = kcat(kcat_bin, ["-b", broker.bootstrap, "-C", "-t", "kc.codecs", "-o", "beginning", "-c",
                        "1", "-f", "%o\n"])
    check(r.stdout.strip() == "100", f"consuming from the beginning starts at 100: {r.stdout!r}")
    # Past the high watermark: OFFSET_OUT_OF_RANGE (1), log start unchanged.
    body = (struct.pack(">i", 1) + struct.pack(">h", len(topic)) + topic + struct.pack(">i", 1) +
            struct.pack(">iq", 0, 10**6) + struct.pack(">i", 5000))
    resp = raw_call(broker, 21, 1, body)
    partition, low, err = struct.unpack(">iqh", resp[pos:pos + 14])
    check((low, err) == (100, 1), f"DeleteRecords past the end: {(low, err)}")
    # OffsetForLeaderEpoch v2: epoch 0 ends at the log end (250).
    body = (struct.pack(">i", 1) + struct.pack(">h", len(topic)) + topic + struct.pack(">i", 1) +
            struct.pack(">iii", 0, -1, 0))
    resp = raw_call(broker, 23, 2, body)
    pos = 4 + 4
    name_len = struct.unpack(">h", resp[pos:pos + 2])[0]
    pos += 2 + name_len + 4
    err, partition, epoch, end = struct.unpack(">hiiq", resp[pos:pos + 18])
    check((err, partition, epoch, end) == (0, 0, 0, 250),
          f"OffsetForLeaderEpoch: {(err, partition, epoch, end)}")


def kafka_python_checks(broker):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    sent = []
    for codec in [None, "gzip"]:
        p = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", compression_type=codec,
                          max_request_size=2 * 1024 * 1024)
        futures = []
        for i in range(200):
            key, value = b"k%d" % i, b"%s-%d" % (str(codec).encode(), i)
            futures.append(p.send("kp.data", key=key, value=value))
            sent.append((key, value))
        offsets = [f.get(timeout=15).offset for f in futures]
        check(offsets == list(range(offsets[0], offsets[0] + 200)), f"dense offsets ({codec})")
        p.close()
    big = os.urandom(1024 * 1024 - 200)
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, acks=1, max_request_size=2 * 1024 * 1024)
    big_offset = p.send("kp.data", key=b"big", value=big).get(timeout=15).offset
    p.close()
    sent.append((b"big", big))
    check(big_offset == 400, f"1 MiB message at offset 400, got {big_offset}")
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False,
                      consumer_timeout_ms=5000, fetch_max_bytes=4 * 1024 * 1024,
                      max_partition_fetch_bytes=4 * 1024 * 1024)
    tp = TopicPartition("kp.data", 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    got = [(m.key, m.value) for m in c]
    check(got == sent, f"kafka-python reads back {len(got)} of {len(sent)} records exactly")
    times = c.offsets_for_times({tp: 0})
    check(times[tp] is not None and times[tp].offset == 0, f"offsets_for_times(0): {times}")
    end = c.end_offsets([tp])
    check(end[tp] == 401, f"end offset 401: {end}")
    c.close()


def confluent_durability(broker):
    from confluent_kafka import Consumer, Producer
    acked = []
    errors = []

    def on_delivery(err, msg):
        if err is None:
            acked.append((msg.key(), msg.value(), msg.offset()))
        else:
            errors.append(err)

    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 5,
                  "message.timeout.ms": 10000})
    for i in range(2000):
        p.produce("ck.durable", key=b"k%d" % i, value=b"value-%d" % i, on_delivery=on_delivery)
        if i % 100 == 0:
            p.poll(0)
    p.flush(20)
    check(len(acked) == 2000 and not errors, f"2000 acked ({len(acked)}, errors {errors[:3]})")
    # Power cut without notice: SIGKILL, then restart on the same data dir.
    broker.stop(signal.SIGKILL)
    broker.start()
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "interop-durable",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    from confluent_kafka import TopicPartition
    c.assign([TopicPartition("ck.durable", 0, 0)])
    got = []
    deadline = time.monotonic() + 20
    while len(got) < len(acked) and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        got.append((m.key(), m.value(), m.offset()))
    c.close()
    check(sorted(got, key=lambda r: r[2]) == sorted(acked, key=lambda r: r[2]),
          f"every acked record exactly once after SIGKILL ({len(got)} of {len(acked)})")


def confluent_kill_mid_stream(broker):
    """acks=all at full speed (1 KiB values, so the broker appends batches of hundreds of KiB:
    the O_DIRECT path of log.direct.append.bytes), SIGKILL while requests are in flight, then
    restart: every acknowledged record is there exactly once, and no record twice."""
    from confluent_kafka import Consumer, Producer, TopicPartition
    acked = {}
    failed = []

    def on_delivery(err, msg):
        if err is None:
            acked[msg.key()] = msg.offset()
        else:
            failed.append(msg.key())

    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 5,
                  "message.timeout.ms": 4000, "retries": 0})
    value = bytes(range(256)) * 4
    killed_at = None
    for i in range(60000):
        while True:
            try:
                p.produce("ck.killed", key=b"%d" % i, value=value, on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.01)
        p.poll(0)
        if killed_at is None and len(acked) >= 5000:
            broker.stop(signal.SIGKILL)
            killed_at = i
        if killed_at is not None and i >= killed_at + 2000:
            break
    p.flush(20)
    check(killed_at is not None, "the broker was killed while the producer was sending")
    check(len(acked) + len(failed) == (killed_at or 0) + 2001,
          f"every message got a delivery report ({len(acked)} acked, {len(failed)} failed)")
    check(len(failed) >= 2000, f"the messages sent after the kill failed ({len(failed)})")
    broker.start()
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "interop-killed",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    lo, hi = c.get_watermark_offsets(TopicPartition("ck.killed", 0), timeout=10)
    c.assign([TopicPartition("ck.killed", 0, 0)])
    got = {}
    twice = []
    deadline = time.monotonic() + 30
    seen = 0
    while seen < hi and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        seen += 1
        if m.key() in got:
            twice.append(m.key())
        got[m.key()] = (m.offset(), m.value())
    c.close()
    print(f"kill mid-stream: {len(acked)} acked, {len(failed)} failed, log end {hi} after restart",
          flush=True)
    check(seen == hi, f"read the whole log back: {seen} of {hi}")
    lost = [k for k, off in acked.items() if k not in got or got[k][0] != off]
    check(not lost, f"every acked record at its offset after SIGKILL mid-stream "
                    f"({len(lost)} of {len(acked)} missing or moved, e.g. {lost[:3]})")
    check(all(v == value for _, v in got.values()), "every record's value intact")
    check(not twice, f"no record twice: {twice[:3]}")


def confluent_idempotent(broker):
    """enable.idempotence with 5 requests in flight: 20,000 messages over 3 partitions arrive
    exactly once, in order per partition."""
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("ck.idempotent", 3, 1)])["ck.idempotent"].result(15)
    acked, errors = [], []

    def on_delivery(err, msg):
        if err is None:
            acked.append((msg.partition(), msg.offset(), msg.value()))
        else:
            errors.append(err)

    p = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True,
                  "max.in.flight.requests.per.connection": 5, "linger.ms": 2,
                  "batch.num.messages": 200})
    total = 20000
    for i in range(total):
        while True:
            try:
                p.produce("ck.idempotent", key=b"%d" % (i % 7), value=b"m%d" % i,
                          partition=i % 3, on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.01)
        if i % 500 == 0:
            p.poll(0)
    p.flush(60)
    check(len(acked) == total and not errors, f"idempotent: {len(acked)} acked, {errors[:3]}")
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "interop-idem",
                  "enable.auto.commit": False})
    c.assign([TopicPartition("ck.idempotent", i, 0) for i in range(3)])
    got = {0: [], 1: [], 2: []}
    deadline = time.monotonic() + 30
    while sum(len(v) for v in got.values()) < total and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        got[m.partition()].append((m.offset(), m.value()))
    c.close()
    for part in range(3):
        want = [b"m%d" % i for i in range(part, total, 3)]
        check([v for _, v in got[part]] == want,
              f"partition {part}: {len(got[part])} records, exactly once and in order")
        check([o for o, _ in got[part]] == list(range(len(want))), f"partition {part} offsets")


def retention(broker):
    """retention.bytes on a topic with small segments: the background pass deletes old
    segments, so the log start moves up while the end stays."""
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("ck.retention", 1, 1, config={
        "segment.bytes": "2048", "retention.bytes": "4096"})])["ck.retention"].result(15)
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 0})
    for i in range(200):
        p.produce("ck.retention", value=b"%06d" % i + b"x" * 100)
        p.flush(10)
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "interop-retention"})
    low, high = 0, 0
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        low, high = c.get_watermark_offsets(TopicPartition("ck.retention", 0), timeout=5)
        if low > 0:
            break
        time.sleep(0.2)
    c.close()
    check(high == 200, f"retention keeps the log end at 200: {high}")
    check(0 < low < 200, f"retention moved the log start above 0: {low}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runnel", required=True)
    ap.add_argument("--kcat", default="kcat")
    args = ap.parse_args()
    broker = Broker(args.runnel, smp=2, extra=["--log.retention.check.interval.ms", "300"])
    try:
        broker.start()
        kcat_checks(args.kcat, broker)
        delete_records_and_epochs(args.kcat, broker)
        kafka_python_checks(broker)
        confluent_idempotent(broker)
        retention(broker)
        confluent_durability(broker)
        confluent_kill_mid_stream(broker)
        # Open kc.headers in this run (the SIGKILL above left it unclean), then SIGTERM.
        kcat(args.kcat, ["-b", broker.bootstrap, "-C", "-t", "kc.headers", "-o", "beginning", "-e"])
        code = broker.stop(signal.SIGTERM)
        check(code == 0, f"SIGTERM exit 0, got {code}")
        # SIGTERM drained: the logs were closed cleanly, so the restart skips recovery.
        broker.start()
        r = kcat(args.kcat, ["-b", broker.bootstrap, "-C", "-t", "kc.headers", "-o", "beginning",
                             "-e", "-f", "%k|%s\n"])
        check(r.stdout.strip() == "key|with-headers", f"data after a SIGTERM restart: {r.stdout!r}")
        # The whole log: at start the group coordinator opens its 50 __consumer_offsets
        # partitions, whose lines push this one out of the tail.
        reopened = [line for line in broker.logs(tail=None).splitlines()
                    if "kc.headers-0-" in line and "opened" in line]
        check(reopened and "(clean shutdown)" in reopened[-1],
              f"the partition reopened after a clean shutdown: {reopened[-1:]}")
        code = broker.stop(signal.SIGTERM)
        check(code == 0, f"second SIGTERM exit 0, got {code}")
    except Exception as e:
        check(False, f"exception: {e!r}\n{broker.logs()}")
    finally:
        broker.cleanup()
    return summary()


if __name__ == "__main__":
    sys.exit(main())
