#!/usr/bin/env python3
"""Wall time of ``ucclab scenarios run`` (the whole catalogue), per scenario, beside one
``ucclab replay`` of the same rounds.

A scenario is a lab of its own and one replay of its path of the page, so the reference is
``ucclab replay mtls`` in a new process (what one scenario costs when it runs alone, the
process's start included). Each round runs the reference, then the catalogue with
``--jobs`` worker processes (default: one per core), and with ``--serial`` the catalogue
with ``--jobs 1`` as well, in turns, so that a shared machine's changing load falls on all
alike. It prints each round, the medians and ranges, the ratios, and the load average.

Like ``replay_time.py``, the ``ucclab`` processes run with Python's bytecode cached (a
private ``PYTHONPYCACHEPREFIX``) and the lab's keys from the machine's key cache, both
filled by a warm-up run.

    python benchmarks/scenarios_time.py --rounds 3
    python benchmarks/scenarios_time.py --rounds 3 --serial
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _run(args: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    with tempfile.TemporaryDirectory(prefix="ucclab-bench-") as workdir:
        command = [sys.executable, "-m", "harness.cli", *args, "--workdir", str(Path(workdir) / "lab"), "--json"]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, check=False)
        wall = time.perf_counter() - started
    if done.returncode == 2 or not done.stdout.strip():
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr}")
    return wall, done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--serial", action="store_true", help="also run the catalogue with --jobs 1")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ucclab-bench-pyc-") as pycache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = pycache
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
        _run(["replay", "mtls"], env)  # warm-up: bytecode and the key cache
        _run(["scenarios", "run", "page-as-intended", "two-tier-with-chain"], env)

        walls: dict[str, list[float]] = defaultdict(list)
        count = passed = 0
        variants = {f"scenarios run --jobs {args.jobs}": args.jobs} | ({"scenarios run --jobs 1": 1} if args.serial else {})
        for round_ in range(args.rounds):
            walls["replay mtls (one scenario's work)"].append(_run(["replay", "mtls"], env)[0])
            for name, jobs in variants.items():
                wall, done = _run(["scenarios", "run", "--jobs", str(jobs)], env)
                results = json.loads(done.stdout)["scenarios"]
                count, passed = len(results), sum(r["passed"] for r in results)
                walls[name].append(wall)
                walls[f"{name}, per scenario"].append(wall / count)
            print(f"round {round_ + 1}/{args.rounds}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in walls.items()),
                  file=sys.stderr)

    reference = walls["replay mtls (one scenario's work)"]
    print(f"{count} scenarios, {passed} reached their expected outcome; {args.rounds} interleaved rounds; "
          f"{os.cpu_count()} cores")
    for name, values in walls.items():
        ratios = [v / r for v, r in zip(values, reference)]
        print(f"{name:<42} median {statistics.median(values):7.3f} s (range {min(values):.3f}-{max(values):.3f})"
              f"  = {statistics.median(ratios):6.2f}x replay mtls (range {min(ratios):.2f}-{max(ratios):.2f})")
    print(f"load average (1, 5, 15 min) at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
