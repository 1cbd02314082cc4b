#!/usr/bin/env python3
"""Wall time of ``ucclab replay`` and where it goes.

Runs ``ucclab replay PATH --json`` several times as a user would (a new process and a new
lab each time, CA key generation included), prints the median wall time, then the median
time of each step of the page and of each handshake, as the replay's own JSON reports
them, and the cost of one RSA-2048 key generation for scale.

    python benchmarks/replay_time.py [mtls|tls-kerberos|all] [--runs 5] [--set STEP.PARAM=VALUE]...
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

from cryptography.hazmat.primitives.asymmetric import rsa


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default="mtls", choices=("mtls", "tls-kerberos", "all"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--set", dest="sets", action="append", default=[])
    args = parser.parse_args()

    walls: list[float] = []
    steps: dict[str, list[float]] = defaultdict(list)
    handshakes: dict[str, list[float]] = defaultdict(list)
    outcome = None
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="ucclab-bench-") as workdir:
            command = [sys.executable, "-m", "harness.cli", "replay", args.path, "--workdir", workdir, "--json"]
            for s in args.sets:
                command += ["--set", s]
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True)
            walls.append(time.perf_counter() - started)
        if done.returncode == 2:
            print(done.stderr, file=sys.stderr)
            return 2
        doc = json.loads(done.stdout)
        outcome = doc["outcome"]
        for entry in doc["transcript"]:
            steps[f"{entry['step_id']} (step {entry['step']})"].append(entry.get("duration_ms", 0.0))
        for h in doc["handshakes"]:
            if "duration_ms" in h:
                handshakes[f"{h['kind']} ({h['client']})"].append(h["duration_ms"])
        print(f"run {run + 1}/{args.runs}: {walls[-1]:.2f} s, outcome {outcome}", file=sys.stderr)

    keygen = []
    for _ in range(5):
        started = time.perf_counter()
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        keygen.append((time.perf_counter() - started) * 1000)

    print(f"ucclab replay {args.path}: median wall time {statistics.median(walls):.2f} s over {args.runs} runs "
          f"(min {min(walls):.2f}, max {max(walls):.2f}); outcome {outcome}")
    print(f"RSA-2048 key generation: median {statistics.median(keygen):.0f} ms")
    print("\nmedian per step (ms), slowest first:")
    rows = sorted(((statistics.median(v), k) for k, v in steps.items()), reverse=True)
    for ms, name in rows:
        print(f"  {ms:8.1f}  {name}")
    print(f"  {sum(ms for ms, _ in rows):8.1f}  all steps")
    if handshakes:
        print("\nmedian per handshake (ms):")
        for name, values in handshakes.items():
            print(f"  {statistics.median(values):8.1f}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
