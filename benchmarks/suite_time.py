#!/usr/bin/env python3
"""Wall time of the test suite (``pytest -n auto``), and of the container tests with
``--containers``, each beside a fixed amount of CPU work timed in the same round.

The reference is a CPU-bound loop in a new Python process (about half a second on an idle
core of this machine): on a shared machine whose load changes, the suite's wall divided by
the reference's says how long the suite took in units of this machine's speed at that
moment, and the load average is printed too. Each round runs the reference, the suite, the
reference again (the suite's figure is set beside the mean of the two), then the container
tests if asked.

Run from the repository's root (the suites are the repository's ``pyproject.toml`` ones)::

    python benchmarks/suite_time.py                  # one round: the suite
    python benchmarks/suite_time.py --rounds 3 --containers
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REFERENCE = "total = 0\nfor i in range(4_000_000):\n    total += i * i\n"


def _timed(command: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=False)
    return time.perf_counter() - started, done


def _summary_line(output: str) -> str:
    lines = [line.strip("= ") for line in output.splitlines() if re.search(r"\b(passed|failed|error)\b.* in [\d.]+s", line)]
    return lines[-1] if lines else "(no summary line)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--containers", action="store_true", help="also the container tests (-m containers)")
    args = parser.parse_args()

    suites = {"suite (pytest -n auto)": []} | ({"container tests (-m containers)": ["-m", "containers"]} if args.containers else {})
    walls: dict[str, list[float]] = defaultdict(list)
    references: dict[str, list[float]] = defaultdict(list)
    for round_ in range(args.rounds):
        for name, extra in suites.items():
            before = _timed([sys.executable, "-c", REFERENCE])[0]
            wall, done = _timed([sys.executable, "-m", "pytest", "-n", "auto", "-q", "-p", "no:cacheprovider", *extra])
            after = _timed([sys.executable, "-c", REFERENCE])[0]
            walls[name].append(wall)
            references[name].append((before + after) / 2)
            print(f"round {round_ + 1}/{args.rounds}: {name}: {wall:.1f} s ({_summary_line(done.stdout)}), "
                  f"reference {before:.2f}/{after:.2f} s, load {os.getloadavg()[0]:.2f}", file=sys.stderr)

    print(f"{args.rounds} round(s) on {os.cpu_count()} cores")
    for name, values in walls.items():
        ratios = [w / r for w, r in zip(values, references[name])]
        print(f"{name:<34} median {statistics.median(values):7.1f} s (range {min(values):.1f}-{max(values):.1f})"
              f"  = {statistics.median(ratios):6.0f}x the reference (range {min(ratios):.0f}-{max(ratios):.0f}); "
              f"reference median {statistics.median(references[name]):.2f} s")
    print(f"load average (1, 5, 15 min) at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
