#!/usr/bin/python3
"""Records the first requests real Kafka clients send, for tests/protocol/golden/.

A one-off tool (run it again only to refresh the golden files). It listens on 127.0.0.1 on a
free port, answers just enough for each client to send the requests we want (ApiVersions,
Metadata, Produce, Fetch, CreateTopics, InitProducerId responses built from
broker/protocol/spec/*.json by a small schema-driven encoder below), and saves every request
frame it receives, size prefix included, as golden/<client>_<nn>_<Api>_v<version>.bin.

Clients: kcat (librdkafka), kafka-python and confluent-kafka (librdkafka). Use Debian's
python (/usr/bin/python3), which has kafka-python and confluent-kafka installed.

Usage: /usr/bin/python3 tests/protocol/record_golden.py [--out DIR]
"""
import argparse
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SPEC = os.path.join(ROOT, "broker", "protocol", "spec")
TOPIC = "golden"
NEW_TOPIC = "golden-new"


# ------------------------------------------------------------------ schema-driven encoder
def load_spec(name):
    with open(os.path.join(SPEC, name + ".json"), encoding="utf-8") as f:
        return json.load(f)


def in_versions(v, text):
    text = str(text)
    if text == "none":
        return False
    if text.endswith("+"):
        return v >= int(text[:-1])
    if "-" in text:
        a, b = text.split("-")
        return int(a) <= v <= int(b)
    return v == int(text)


def uvarint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


FIXED = {"bool": ">?", "int8": ">b", "int16": ">h", "uint16": ">H", "int32": ">i",
         "uint32": ">I", "int64": ">q", "float64": ">d"}


def default_of(field):
    t = field["type"]
    d = field.get("default")
    if d == "null":
        return None
    if t in FIXED:
        if t == "bool":
            return d == "true"
        return int(d, 0) if d is not None else 0
    if t == "string":
        return d or ""
    if t == "uuid":
        return bytes(16)
    if t in ("bytes",):
        return b""
    if t == "records":
        return None
    if t.startswith("[]"):
        return []
    return {}


class Encoder:
    def __init__(self, spec):
        self.spec = spec
        self.common = {s["name"]: s["fields"] for s in spec.get("commonStructs", [])}
        self.flexible = spec["flexibleVersions"]

    def struct_fields(self, field):
        if "fields" in field:
            return field["fields"]
        return self.common[field["type"].lstrip("[]")]

    def encode(self, value, version):
        flex = in_versions(version, self.flexible)
        return self.enc_struct(self.spec["fields"], value, version, flex)

    def enc_struct(self, fields, value, version, flex):
        out = bytearray()
        tagged = []
        for f in fields:
            if not in_versions(version, f["versions"]):
                continue
            v = value.get(f["name"], default_of(f))
            if "tag" in f:
                if flex and f["name"] in value:
                    tagged.append((int(f["tag"]), self.enc_value(f, f["type"], v, version, flex)))
                continue
            out += self.enc_value(f, f["type"], v, version, flex)
        if flex:
            out += uvarint(len(tagged))
            for tag, data in sorted(tagged):
                out += uvarint(tag) + uvarint(len(data)) + data
        return bytes(out)

    def enc_value(self, f, t, v, version, flex):
        compact = flex and f.get("flexibleVersions") != "none"
        if t.startswith("[]"):
            et = t[2:]
            if v is None:
                return uvarint(0) if compact else struct.pack(">i", -1)
            out = bytearray(uvarint(len(v) + 1) if compact else struct.pack(">i", len(v)))
            for e in v:
                if et in FIXED or et in ("string", "bytes", "uuid"):
                    out += self.enc_value(f, et, e, version, flex)
                else:
                    out += self.enc_struct(self.struct_fields(f), e, version, flex)
            return bytes(out)
        if t in FIXED:
            return struct.pack(FIXED[t], v)
        if t == "uuid":
            return v
        if t == "string":
            if v is None:
                return uvarint(0) if compact else struct.pack(">h", -1)
            b = v.encode()
            return (uvarint(len(b) + 1) if compact else struct.pack(">h", len(b))) + b
        if t in ("bytes", "records"):
            if v is None:
                return uvarint(0) if compact else struct.pack(">i", -1)
            return (uvarint(len(v) + 1) if compact else struct.pack(">i", len(v))) + v
        # A struct-typed field.
        if v is None:
            return struct.pack(">b", -1)
        return self.enc_struct(self.struct_fields(f), v, version, flex)


RESPONSES = {}
API_NAMES = {}
FLEXIBLE = {}
for name in os.listdir(SPEC):
    if name.endswith("Response.json"):
        s = load_spec(name[:-5])
        RESPONSES[s["apiKey"]] = Encoder(s)
        API_NAMES[s["apiKey"]] = s["name"][: -len("Response")]
        FLEXIBLE[s["apiKey"]] = s["flexibleVersions"]


def response_frame(api_key, version, correlation_id, body):
    payload = RESPONSES[api_key].encode(body, version)
    header = struct.pack(">i", correlation_id)
    if api_key != 18 and in_versions(version, FLEXIBLE[api_key]):
        header += uvarint(0)  # response header v1: empty tagged fields
    data = header + payload
    return struct.pack(">i", len(data)) + data


# ------------------------------------------------------------------ the recording listener
class Recorder:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.client = None
        self.seq = 0
        self.wanted = set()  # (api_key, version) pairs still to record for the current client
        self.recorded = []
        with open(os.path.join(ROOT, "broker", "protocol", "advertised.json")) as f:
            self.advertised = json.load(f)["apis"]
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def start_client(self, name, wanted_apis):
        with self.lock:
            self.client = name
            self.seq = 0
            self.wanted = set(wanted_apis)

    def accept_loop(self):
        while True:
            conn, _ = self.sock.accept()
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def save(self, frame, api_key, version):
        with self.lock:
            if api_key not in self.wanted:
                return
            self.wanted.discard(api_key)
            name = f"{self.client}_{self.seq:02d}_{API_NAMES.get(api_key, api_key)}_v{version}.bin"
            self.seq += 1
            with open(os.path.join(self.out_dir, name), "wb") as f:
                f.write(frame)
            self.recorded.append(name)
            print(f"  recorded {name} ({len(frame)} bytes)")

    def serve(self, conn):
        buf = b""
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
                while len(buf) >= 4:
                    (size,) = struct.unpack(">i", buf[:4])
                    if len(buf) < 4 + size:
                        break
                    frame, buf = buf[: 4 + size], buf[4 + size:]
                    api_key, version, corr = struct.unpack(">hhi", frame[4:12])
                    self.save(frame, api_key, version)
                    body = self.answer(api_key, version)
                    if body is None:
                        conn.close()
                        return
                    conn.sendall(response_frame(api_key, version, corr, body))
        except OSError:
            return

    def answer(self, api_key, version):
        broker = {"NodeId": 0, "Host": "127.0.0.1", "Port": self.port, "Rack": None}
        partition = {"ErrorCode": 0, "PartitionIndex": 0, "LeaderId": 0, "LeaderEpoch": 0,
                     "ReplicaNodes": [0], "IsrNodes": [0], "OfflineReplicas": []}
        if api_key == 18:  # ApiVersions
            keys = [{"ApiKey": a["key"], "MinVersion": int(a["advertise"].split("-")[0]),
                     "MaxVersion": int(a["advertise"].split("-")[-1])} for a in self.advertised]
            return {"ErrorCode": 0, "ApiKeys": keys, "ThrottleTimeMs": 0}
        if api_key == 3:  # Metadata
            return {"Brokers": [broker], "ClusterId": "golden-cluster", "ControllerId": 0,
                    "Topics": [{"ErrorCode": 0, "Name": TOPIC, "TopicId": bytes(range(1, 17)),
                                "IsInternal": False, "Partitions": [partition],
                                "TopicAuthorizedOperations": -2147483648}],
                    "ClusterAuthorizedOperations": -2147483648}
        if api_key == 0:  # Produce
            return {"Responses": [{"Name": TOPIC, "PartitionResponses": [
                {"Index": 0, "ErrorCode": 0, "BaseOffset": 0, "LogAppendTimeMs": -1,
                 "LogStartOffset": 0, "RecordErrors": [], "ErrorMessage": None}]}],
                "ThrottleTimeMs": 0}
        if api_key == 1:  # Fetch: nothing yet
            return {"ThrottleTimeMs": 0, "ErrorCode": 0, "SessionId": 0, "Responses": [
                {"Topic": TOPIC, "Partitions": [
                    {"PartitionIndex": 0, "ErrorCode": 0, "HighWatermark": 0,
                     "LastStableOffset": 0, "LogStartOffset": 0, "AbortedTransactions": [],
                     "PreferredReadReplica": -1, "Records": b""}]}]}
        if api_key == 22:  # InitProducerId
            return {"ThrottleTimeMs": 0, "ErrorCode": 0, "ProducerId": 1000, "ProducerEpoch": 0}
        if api_key == 19:  # CreateTopics
            return {"ThrottleTimeMs": 0, "Topics": [
                {"Name": NEW_TOPIC, "ErrorCode": 0, "ErrorMessage": None, "NumPartitions": 3,
                 "ReplicationFactor": 1, "Configs": []}]}
        return None  # anything else: close the connection


# ------------------------------------------------------------------ the clients
def run(cmd, timeout_s, env=None):
    try:
        subprocess.run(cmd, timeout=timeout_s, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, env=env)
    except subprocess.TimeoutExpired:
        pass


KAFKA_PYTHON_PRODUCE = """
import sys
from kafka import KafkaProducer
p = KafkaProducer(bootstrap_servers=sys.argv[1], client_id='golden-kafka-python',
                  request_timeout_ms=5000, max_block_ms=5000)
p.send('golden', key=b'k1', value=b'hello from kafka-python').get(timeout=5)
p.close(timeout=2)
"""

KAFKA_PYTHON_FETCH = """
import sys
from kafka import KafkaConsumer, TopicPartition
c = KafkaConsumer(bootstrap_servers=sys.argv[1], client_id='golden-kafka-python',
                  enable_auto_commit=False, request_timeout_ms=11000, fetch_max_wait_ms=100)
tp = TopicPartition('golden', 0)
c.assign([tp])
c.seek(tp, 5)
c.poll(timeout_ms=2000)
c.close()
"""

CONFLUENT_ADMIN = """
import sys
from confluent_kafka.admin import AdminClient, NewTopic
a = AdminClient({'bootstrap.servers': sys.argv[1], 'client.id': 'golden-confluent'})
fs = a.create_topics([NewTopic('golden-new', num_partitions=3, replication_factor=1,
                               config={'retention.ms': '60000'})], operation_timeout=5)
for t, f in fs.items():
    f.result(timeout=10)
"""

CONFLUENT_PRODUCE = """
import sys
from confluent_kafka import Producer
p = Producer({'bootstrap.servers': sys.argv[1], 'client.id': 'golden-confluent',
              'enable.idempotence': True, 'linger.ms': 0})
p.produce('golden', key=b'k1', value=b'hello from confluent-kafka')
p.flush(5)
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "golden"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name in os.listdir(args.out):
        if name.endswith(".bin"):
            os.remove(os.path.join(args.out, name))
    rec = Recorder(args.out)
    bootstrap = f"127.0.0.1:{rec.port}"
    py = "/usr/bin/python3"
    print(f"recording on {bootstrap}")

    rec.start_client("kcat", {18, 3})
    run(["kcat", "-b", bootstrap, "-L", "-m", "5", "-X", "client.id=golden-kcat"], 15)
    # kafka-python probes with ApiVersions v0 + Metadata v0, then uses fixed versions.
    rec.start_client("kafka_python", {18, 3, 0})
    run([py, "-c", KAFKA_PYTHON_PRODUCE, bootstrap], 20)
    rec.start_client("kafka_python_consumer", {1})
    run([py, "-c", KAFKA_PYTHON_FETCH, bootstrap], 20)
    rec.start_client("confluent", {18, 3, 19})
    run([py, "-c", CONFLUENT_ADMIN, bootstrap], 20)
    rec.start_client("confluent_producer", {22, 0})
    run([py, "-c", CONFLUENT_PRODUCE, bootstrap], 20)
    time.sleep(0.5)
    print(f"{len(rec.recorded)} frames recorded in {os.path.relpath(args.out, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
