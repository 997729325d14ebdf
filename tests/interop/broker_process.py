"""Starts and stops a real runnel process for interop tests (stdlib only)."""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time


LISTENING = re.compile(r"runnel listening on 127\.0\.0\.1:(\d+) \(\d+ shard\(s\)\), "
                       r"advertising [^:\s]+:(\d+)")



# Every interop script counts its checks here: a failed check prints what failed and the run
# goes on, so one run reports every failure; summary() is the script's exit status.
CHECKS = {"passed": 0, "failed": 0}


def check(cond, what):
    if cond:
        CHECKS["passed"] += 1
    else:
        CHECKS["failed"] += 1
        print("FAILED:", what, flush=True)
    return cond


def summary():
    """Prints the counts; 0 only when something was checked and nothing failed."""
    print(f"{CHECKS['passed']} passed, {CHECKS['failed']} failed", flush=True)
    return 0 if CHECKS["failed"] == 0 and CHECKS["passed"] > 0 else 1


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """A runnel process on 127.0.0.1:<free port> with a temporary data dir."""

    def __init__(self, binary, smp=2, extra=(), data_dir=None, port=None, port_zero=False):
        """port_zero: listen on 127.0.0.1:0 and take the port the broker reports in its log."""
        self.binary = binary
        self.smp = smp
        self.extra = list(extra)
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="runnel-interop-")
        self.port_zero = port_zero
        self.port = None if port_zero else (port or free_port())
        self.advertised_port = None
        self.proc = None
        self.log_path = os.path.join(self.data_dir, "..", os.path.basename(self.data_dir) + ".log")

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def start(self, wait_s=20):
        log_start = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        self.log = open(self.log_path, "ab")
        listen = "127.0.0.1:0" if self.port_zero else self.bootstrap
        self.proc = subprocess.Popen(
            [self.binary, "--listen", listen, "--data-dir", self.data_dir,
             "--smp", str(self.smp)] + self.extra,
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"runnel exited with {self.proc.returncode}: {self.logs()}")
            if self.port_zero:
                # This start's "runnel listening on HOST:PORT (N shard(s)), advertising H:P".
                with open(self.log_path, "rb") as f:
                    f.seek(log_start)
                    m = LISTENING.search(f.read().decode(errors="replace"))
                if m:
                    self.port = int(m.group(1))
                    self.advertised_port = int(m.group(2))
                    return self
                time.sleep(0.05)
                continue
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("runnel did not start listening in time: " + self.logs())

    def stop(self, sig=signal.SIGTERM, wait_s=20):
        """Sends `sig` to the broker's PID and returns its exit code."""
        if self.proc is None:
            return None
        os.kill(self.proc.pid, sig)
        try:
            code = self.proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise RuntimeError("runnel did not stop within %ss of signal %d" % (wait_s, sig))
        self.proc = None
        self.log.close()
        return code

    def logs(self, tail=4000):
        """The broker's log: its last `tail` characters (for messages), or all of it (None)."""
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode(errors="replace")
        except OSError:
            return ""
        return text if tail is None else text[-tail:]

    def cleanup(self):
        if self.proc is not None:
            self.stop(signal.SIGKILL)
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        try:
            os.remove(self.log_path)
        except OSError:
            pass
