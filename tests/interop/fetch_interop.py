#!/usr/bin/python3
"""Interop: fetch sessions (KIP-227) over the real wire, and --smp 2 with --listen port 0.

librdkafka 2.0.2 and kafka-python never open fetch sessions, so a small raw-protocol client
(struct-packed Fetch v12, flexible encoding) drives full -> incremental -> forgotten -> final
fetches, epoch errors and a session used from several connections (SO_REUSEPORT spreads them
over the shards), against a real runnel started with --smp 2 --listen 127.0.0.1:0 whose bound
port is read from its log. kcat produces the records and consumes them back through that port.
"""
import argparse
import os
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_process import Broker, check, summary  # noqa: E402


FETCH_SESSION_ID_NOT_FOUND = 70
INVALID_FETCH_SESSION_EPOCH = 71


# --- the wire -----------------------------------------------------------------------------

def uvarint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def compact_str(s):
    b = s.encode()
    return uvarint(len(b) + 1) + b


def compact_array(items):
    return uvarint(len(items) + 1) + b"".join(items)


TAGS_NONE = uvarint(0)


class Buf:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise ValueError("short response")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def int(self, fmt):
        size = struct.calcsize(fmt)
        return struct.unpack(">" + fmt, self.take(size))[0]

    def uvarint(self):
        shift = value = 0
        while True:
            b = self.take(1)[0]
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7

    def compact_bytes(self):
        n = self.uvarint()
        return None if n == 0 else self.take(n - 1)

    def skip_tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())


def fetch_request(session_id, epoch, topic, partitions, forgotten=(), max_wait_ms=0,
                  min_bytes=1, max_bytes=1 << 20):
    """Fetch v12. partitions: [(partition, fetch_offset)]; forgotten: [partition] of `topic`."""
    parts = [struct.pack(">iiqiqi", p, -1, offset, -1, -1, 1 << 20) + TAGS_NONE
             for p, offset in partitions]
    topics = [compact_str(topic) + compact_array(parts) + TAGS_NONE] if partitions else []
    forgot = ([compact_str(topic) + compact_array([struct.pack(">i", p) for p in forgotten])
               + TAGS_NONE] if forgotten else [])
    return (struct.pack(">iiiibii", -1, max_wait_ms, min_bytes, max_bytes, 0, session_id, epoch)
            + compact_array(topics) + compact_array(forgot) + compact_str("") + TAGS_NONE)


def count_records(records):
    n = 0
    pos = 0
    while records is not None and pos + 61 <= len(records):
        length = struct.unpack(">i", records[pos + 8:pos + 12])[0]
        n += struct.unpack(">i", records[pos + 57:pos + 61])[0]
        pos += 12 + length
    return n


def parse_fetch_response(body):
    """Fetch v12 response -> (error, session_id, {partition: (error, hw, log_start, records)})."""
    b = Buf(body)
    b.int("i")  # throttle_time_ms
    error = b.int("h")
    session_id = b.int("i")
    parts = {}
    for _ in range(b.uvarint() - 1):
        b.compact_bytes()  # topic
        for _ in range(b.uvarint() - 1):
            index = b.int("i")
            perr = b.int("h")
            hw = b.int("q")
            b.int("q")  # last_stable_offset
            log_start = b.int("q")
            aborted = b.uvarint()
            for _ in range(max(aborted - 1, 0)):
                b.int("q")
                b.int("q")
                b.skip_tags()
            b.int("i")  # preferred_read_replica
            records = b.compact_bytes()
            b.skip_tags()
            parts[index] = (perr, hw, log_start, count_records(records))
        b.skip_tags()
    b.skip_tags()
    return error, session_id, parts


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.correlation = 0

    def send_fetch(self, body):
        self.correlation += 1
        client = b"fetch-interop"
        header = struct.pack(">hhih", 1, 12, self.correlation, len(client)) + client + TAGS_NONE
        frame = header + body
        self.sock.sendall(struct.pack(">i", len(frame)) + frame)
        return self.correlation

    def receive(self, correlation):
        size = struct.unpack(">i", self._exactly(4))[0]
        data = self._exactly(size)
        b = Buf(data)
        got = b.int("i")
        if got != correlation:
            raise ValueError(f"correlation {got} for {correlation}")
        b.skip_tags()  # response header v1
        return parse_fetch_response(data[b.pos:])

    def fetch(self, body):
        return self.receive(self.send_fetch(body))

    def _exactly(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            out += chunk
        return out

    def close(self):
        self.sock.close()


# --- the checks ---------------------------------------------------------------------------

def kcat(kcat_bin, args, stdin=None, timeout=30):
    return subprocess.run([kcat_bin] + args, input=stdin, capture_output=True, text=True,
                          timeout=timeout)


def produce(kcat_bin, broker, topic, partition, values):
    r = kcat(kcat_bin, ["-b", broker.bootstrap, "-P", "-t", topic, "-p", str(partition),
                        "-X", "acks=all"], "\n".join(values) + "\n")
    check(r.returncode == 0, f"kcat produce to {topic}/{partition}: {r.stderr}")


def port_zero_checks(kcat_bin, broker):
    check(broker.port != 0 and broker.advertised_port == broker.port,
          f"the bound port is logged and advertised ({broker.port}, {broker.advertised_port})")
    r = kcat(kcat_bin, ["-b", broker.bootstrap, "-L"])
    check(f"broker 0 at 127.0.0.1:{broker.port}" in r.stdout,
          f"Metadata advertises the bound port: {r.stdout!r}")
    # Many connections: with SO_REUSEPORT on both shards, each is served (whichever shard).
    for i in range(8):
        r = kcat(kcat_bin, ["-b", broker.bootstrap, "-L", "-t", "fs"])
        check(r.returncode == 0, f"metadata connection {i}: {r.stderr}")


def session_checks(kcat_bin, broker):
    topic = "fs"
    for p in range(3):
        produce(kcat_bin, broker, topic, p, [f"p{p}-{i}" for i in range(p + 1)])
    c = Conn(broker.port)
    # Full fetch, epoch 0: a session; every partition.
    err, sid, parts = c.fetch(fetch_request(0, 0, topic, [(0, 0), (1, 0), (2, 0)]))
    check(err == 0 and sid > 0, f"full fetch opens a session: error {err}, id {sid}")
    check({p: v[3] for p, v in parts.items()} == {0: 1, 1: 2, 2: 3},
          f"full fetch returns every partition's records: {parts}")
    # Incremental: offsets moved past the records, nothing new -> nothing answered.
    err, sid2, parts = c.fetch(fetch_request(sid, 1, topic, [(0, 1), (1, 2), (2, 3)]))
    check(err == 0 and sid2 == sid and parts == {},
          f"incremental with nothing new is empty: {err} {sid2} {parts}")
    # New records on partition 1 only: only it is answered.
    produce(kcat_bin, broker, topic, 1, ["late-1", "late-2"])
    err, _, parts = c.fetch(fetch_request(sid, 2, topic, []))
    check(err == 0 and list(parts) == [1] and parts[1][3] == 2 and parts[1][1] == 4,
          f"incremental answers only the partition with news: {parts}")
    # The session kept partition 1's offset at 2: the same records again until the client moves.
    err, _, parts = c.fetch(fetch_request(sid, 3, topic, [(1, 4)]))
    check(err == 0 and parts == {}, f"moving the offset silences it: {parts}")
    # Epoch errors.
    err, bad_sid, parts = c.fetch(fetch_request(sid, 9, topic, []))
    check(err == INVALID_FETCH_SESSION_EPOCH and bad_sid == 0 and parts == {},
          f"wrong epoch: {err} {bad_sid}")
    err, _, _ = c.fetch(fetch_request(sid + 2 if sid < 2**31 - 3 else sid - 2, 4, topic, []))
    check(err == FETCH_SESSION_ID_NOT_FOUND, f"unknown session id: {err}")
    # The session from other connections (spread over the shards by the kernel), epochs 4..11.
    conns = [Conn(broker.port) for _ in range(8)]
    ok = True
    for i, other in enumerate(conns):
        err, got_sid, parts = other.fetch(fetch_request(sid, 4 + i, topic, []))
        ok = ok and err == 0 and got_sid == sid and parts == {}
    check(ok, "every connection continues the same session")
    for other in conns:
        other.close()
    # Forget partition 2, then produce there: not reported.
    err, _, parts = c.fetch(fetch_request(sid, 12, topic, [], forgotten=[2]))
    check(err == 0 and parts == {}, f"forget: {err} {parts}")
    produce(kcat_bin, broker, topic, 2, ["after-forget"])
    err, _, parts = c.fetch(fetch_request(sid, 13, topic, []))
    check(err == 0 and parts == {}, f"a forgotten partition is not reported: {parts}")
    # A long poll over the session: records produced meanwhile on partition 0 come back.
    correlation = c.send_fetch(fetch_request(sid, 14, topic, [], max_wait_ms=20000))
    produce(kcat_bin, broker, topic, 0, ["polled"])
    err, _, parts = c.receive(correlation)
    check(err == 0 and list(parts) == [0] and parts[0][3] == 1,
          f"a long-polling incremental fetch returns what was produced: {parts}")
    # Final: closes the session, answers in full.
    err, sid_final, parts = c.fetch(fetch_request(sid, -1, topic, [(0, 0), (1, 0), (2, 0)]))
    check(err == 0 and sid_final == 0 and {p: v[3] for p, v in parts.items()} ==
          {0: 2, 1: 4, 2: 4}, f"final fetch: {err} {sid_final} {parts}")
    err, _, _ = c.fetch(fetch_request(sid, 15, topic, []))
    check(err == FETCH_SESSION_ID_NOT_FOUND, f"closed session: {err}")
    c.close()


def kcat_consume_checks(kcat_bin, broker):
    expected = [f"k-{i}" for i in range(200)]
    r = kcat(kcat_bin, ["-b", broker.bootstrap, "-P", "-t", "fs.kcat", "-X", "acks=all"],
             "\n".join(expected) + "\n")
    check(r.returncode == 0, f"kcat produce: {r.stderr}")
    r = kcat(kcat_bin, ["-b", broker.bootstrap, "-C", "-t", "fs.kcat", "-o", "beginning", "-e"])
    # Three partitions: every record once, in any order across partitions.
    check(r.returncode == 0 and sorted(r.stdout.splitlines()) == sorted(expected),
          f"kcat consumes every record through the port-0 broker ({len(r.stdout.splitlines())})")


def figures(broker, partitions=200, rounds=200):
    """Prints (asserts nothing about) response sizes and round-trip times of full sessionless
    fetches and of incremental fetches with nothing new, over `partitions` empty partitions."""
    from kafka.admin import KafkaAdminClient, NewTopic
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    admin.create_topics([NewTopic("fig", partitions, 1)])
    admin.close()
    c = Conn(broker.port)
    every = [(p, 0) for p in range(partitions)]

    def timed(body):
        start = time.perf_counter()
        correlation = c.send_fetch(body)
        size = struct.unpack(">i", c._exactly(4))[0]
        data = c._exactly(size)
        elapsed = time.perf_counter() - start
        b = Buf(data)
        b.int("i")
        b.skip_tags()
        return size + 4, elapsed, parse_fetch_response(data[b.pos:]), correlation

    full_bytes, _, (err, sid, _), _ = timed(fetch_request(0, 0, "fig", every))
    check(err == 0 and sid > 0, "figures: session opened")
    full_times, inc_times, inc_bytes = [], [], 0
    for i in range(rounds):
        _, t, _, _ = timed(fetch_request(0, -1, "fig", every))
        full_times.append(t)
        inc_bytes, t, (err, _, parts), _ = timed(fetch_request(sid, 1 + i, "fig", []))
        check(err == 0 and parts == {}, "figures: incremental without news is empty")
        inc_times.append(t)
    c.close()
    full_times.sort()
    inc_times.sort()
    print(f"figure: {partitions} empty partitions, --smp {broker.smp}: full sessionless fetch "
          f"response {full_bytes} bytes, median round trip {full_times[rounds // 2] * 1e3:.2f} ms; "
          f"incremental with nothing new {inc_bytes} bytes, median "
          f"{inc_times[rounds // 2] * 1e3:.2f} ms ({rounds} of each)", flush=True)


def partition_shard(topic, partition, shards):
    """Node::PartitionShard: FNV-1a of the name and the partition's 4 bytes (low first)."""
    h = 14695981039346656037
    for byte in topic.encode() + struct.pack("<I", partition & 0xFFFFFFFF):
        h = ((h ^ byte) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h % shards


def produce_request(topic, partition, value):
    """Produce v3, acks=1, one record (kafka-python builds the batch)."""
    from kafka.record.default_records import DefaultRecordBatchBuilder
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=0,
                                        producer_id=-1, producer_epoch=-1, base_sequence=-1,
                                        batch_size=1 << 20)
    builder.append(0, timestamp=None, key=None, value=value, headers=[])
    batch = bytes(builder.build())
    name = topic.encode()
    return (struct.pack(">hhi", -1, 1, 5000) + struct.pack(">ih", 1, len(name)) + name
            + struct.pack(">iii", 1, partition, len(batch)) + batch)


def wake_figures(broker, rounds=100):
    """Prints the time from sending a Produce to receiving the answer of a long poll (max_wait
    5 s) over one partition of each shard, for appends to either partition."""
    from kafka.admin import KafkaAdminClient, NewTopic
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    admin.create_topics([NewTopic("wake", 16, 1)])
    admin.close()
    on = {}
    for p in range(16):
        on.setdefault(partition_shard("wake", p, broker.smp), p)
    fetcher = Conn(broker.port)
    producer = Conn(broker.port)
    ends = {p: 0 for p in on.values()}
    times = {shard: [] for shard in on}
    for i in range(rounds):
        shard = i % len(on)
        target = on[shard]
        correlation = fetcher.send_fetch(fetch_request(
            0, -1, "wake", sorted(ends.items()), max_wait_ms=5000))
        time.sleep(0.005)  # let the fetch start waiting
        start = time.perf_counter()
        producer.correlation += 1
        client = b"fetch-interop"
        header = struct.pack(">hhih", 0, 3, producer.correlation, len(client)) + client
        frame = header + produce_request("wake", target, b"v%d" % i)
        producer.sock.sendall(struct.pack(">i", len(frame)) + frame)
        err, _, parts = fetcher.receive(correlation)
        times[shard].append(time.perf_counter() - start)
        check(err == 0 and parts[target][3] == 1, f"wake-up fetch {i}: {parts}")
        producer._exactly(struct.unpack(">i", producer._exactly(4))[0])  # the Produce answer
        ends[target] += 1
    fetcher.close()
    producer.close()
    for shard, ts in sorted(times.items()):
        ts.sort()
        print(f"figure: long poll over {len(on)} partitions (one per shard), append to the "
              f"partition of shard {shard}: produce sent -> fetch answered, median "
              f"{ts[len(ts) // 2] * 1e3:.2f} ms, p90 {ts[len(ts) * 9 // 10] * 1e3:.2f} ms "
              f"({len(ts)} rounds)", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runnel", required=True)
    ap.add_argument("--kcat", required=True)
    ap.add_argument("--figures", action="store_true",
                    help="also print response sizes and round trips, full vs incremental")
    args = ap.parse_args()
    broker = Broker(args.runnel, smp=2, extra=["--num.partitions", "3"], port_zero=True)
    try:
        broker.start()
        port_zero_checks(args.kcat, broker)
        session_checks(args.kcat, broker)
        kcat_consume_checks(args.kcat, broker)
        if args.figures:
            figures(broker)
            wake_figures(broker)
        code = broker.stop(signal.SIGTERM)
        check(code == 0, f"SIGTERM exit code {code}")
    except Exception as e:  # noqa: BLE001 - report and fail
        check(False, f"{type(e).__name__}: {e}\n{broker.logs()}")
    finally:
        broker.cleanup()
    return summary()


if __name__ == "__main__":
    sys.exit(main())
