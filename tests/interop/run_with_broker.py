#!/usr/bin/python3
"""Runs a client program against a real runnel process.

    run_with_broker.py --runnel BIN [--smp N] [--timeout S] [--skip-if-missing] -- PROGRAM ARGS...

Starts BIN on a free 127.0.0.1 port with a temporary data dir (broker_process.Broker), runs
PROGRAM with every "{bootstrap}" in ARGS replaced by host:port, then stops the broker by PID
with SIGTERM. Exits with the program's status (1 if the broker did not exit 0 on SIGTERM, or
if the program ran past --timeout); prints the broker's log tail when anything failed. With
--skip-if-missing, a PROGRAM that is not installed prints "skipped: PROGRAM not installed" and
exits 77 (ctest's SKIP_RETURN_CODE for such tests) without starting the broker.
"""
import argparse
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_process import Broker  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runnel", required=True)
    ap.add_argument("--smp", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=150)
    ap.add_argument("--skip-if-missing", action="store_true")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        ap.error("no program to run")
    if args.skip_if_missing and shutil.which(command[0]) is None:
        print(f"skipped: {command[0]} not installed", flush=True)
        return 77
    broker = Broker(args.runnel, smp=args.smp)
    code = 1
    try:
        broker.start()
        argv = [a.replace("{bootstrap}", broker.bootstrap) for a in command]
        try:
            code = subprocess.run(argv, timeout=args.timeout).returncode
        except subprocess.TimeoutExpired:
            print(f"FAILED: {argv[0]} ran longer than {args.timeout} s", flush=True)
            code = 1
        stop_code = broker.stop()
        if stop_code != 0:
            print(f"FAILED: runnel exited with {stop_code} on SIGTERM", flush=True)
            code = code or 1
    except Exception as e:  # the broker did not start or stop
        print(f"FAILED: {e!r}", flush=True)
        code = 1
    finally:
        if code != 0:
            print("--- runnel log tail ---\n" + broker.logs(), flush=True)
        broker.cleanup()
    return code


if __name__ == "__main__":
    sys.exit(main())
