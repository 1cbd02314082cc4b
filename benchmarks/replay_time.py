#!/usr/bin/env python3
"""Wall time of ``ucclab replay`` and ``ucclab --help`` beside ``python -c pass``, and where
the replay's time goes.

Each round runs, one after the other, ``python -c pass`` (the reference: an interpreter
that starts and stops), ``ucclab --help`` and ``ucclab replay PATH --json`` in a new
process and a new lab, as a user would; the rounds interleave them so that a shared
machine's changing load falls on all alike. It prints each round, then the medians and
ranges, each figure beside ``python -c pass`` of the same rounds (the ratio), then the
median time of each step of the page and of each handshake as the replay's own JSON
reports them, and the machine's load average.

The ``ucclab`` processes run as an installed package runs: Python's bytecode cache is on
(in a private folder, ``PYTHONPYCACHEPREFIX``, filled by one warm-up run; an environment
with ``PYTHONDONTWRITEBYTECODE=1`` would otherwise compile every module of the lab in every
run), and the lab's keys come from the machine's key cache (filled by the warm-up run).
``--cold-bytecode`` measures with the environment's bytecode settings as they are;
``--fresh-keys`` makes every run generate its keys and CA.

``--baseline DIR`` adds, in the same rounds, the replay of another checkout of the
repository (e.g. ``git worktree add /tmp/before HEAD~5``), for a before/after comparison.

    python benchmarks/replay_time.py all --rounds 3
    python benchmarks/replay_time.py all --rounds 3 --baseline /tmp/before
    python benchmarks/replay_time.py mtls --rounds 5 --set replay.pfx_source=web
    python benchmarks/replay_time.py all --rounds 3 --imports 3   # and what the imports cost
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


def _environment(repo: Path, pycache: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    # The checkout measured is the one imported, whatever is installed.
    env["PYTHONPATH"] = os.pathsep.join([str(repo), *filter(None, [env.get("PYTHONPATH")])])
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def _timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, check=False)
    return time.perf_counter() - started, done


def _replay(repo: Path, env: dict[str, str], path: str, sets: list[str], fresh_keys: bool) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory(prefix="ucclab-bench-") as workdir:
        command = [sys.executable, "-m", "harness.cli", "replay", path, "--workdir", workdir, "--json"]
        command += [arg for s in sets for arg in ("--set", s)] + (["--fresh-keys"] if fresh_keys else [])
        wall, done = _timed(command, env, repo)
    if done.returncode == 2 or not done.stdout.strip():
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr}")
    return wall, json.loads(done.stdout)


def _import_costs(env: dict[str, str], path: str, runs: int) -> None:
    """Print what a replay's imports cost: ``python -X importtime`` over ``runs`` replays,
    each module's own time (its imports excluded) at its minimum over the runs."""
    own: dict[str, list[int]] = defaultdict(list)
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="ucclab-bench-") as workdir:
            done = subprocess.run([sys.executable, "-X", "importtime", "-m", "harness.cli", "replay", path,
                                   "--workdir", workdir, "--json"], capture_output=True, text=True, env=env,
                                  cwd=REPO, check=False)
        for line in done.stderr.splitlines():
            if line.startswith("import time:") and "|" in line and "self [us]" not in line:
                self_us, _cumulative, module = line[len("import time:"):].split("|")
                own[module.strip()].append(int(self_us))
    least = {module: min(values) for module, values in own.items() if len(values) == runs}
    packages: dict[str, int] = defaultdict(int)
    for module, us in least.items():
        packages[module.split(".")[0]] += us
    print(f"\nimports of a replay (own time of each module, least of {runs} runs): {sum(least.values()) / 1000:.0f} ms")
    print("  by top-level package:   " + ", ".join(
        f"{name} {us / 1000:.0f}" for name, us in sorted(packages.items(), key=lambda item: -item[1])[:10]))
    print("  slowest modules (ms):   " + ", ".join(
        f"{name} {us / 1000:.1f}" for name, us in sorted(least.items(), key=lambda item: -item[1])[:12]))


def _summary(name: str, values: list[float], reference: list[float]) -> str:
    ratios = [v / r for v, r in zip(values, reference)]
    return (f"{name:<34} median {statistics.median(values):6.3f} s  (range {min(values):.3f}-{max(values):.3f})"
            f"   = {statistics.median(ratios):5.1f}x python -c pass (range {min(ratios):.1f}-{max(ratios):.1f})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default="all", choices=("mtls", "tls-kerberos", "all"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--set", dest="sets", action="append", default=[])
    parser.add_argument("--cold-bytecode", action="store_true", help="no bytecode cache of our own")
    parser.add_argument("--fresh-keys", action="store_true", help="every run makes its keys and CA")
    parser.add_argument("--baseline", type=Path, help="another checkout, replayed in the same rounds")
    parser.add_argument("--imports", type=int, default=0, metavar="RUNS",
                        help="then list what the imports cost, from RUNS replays under python -X importtime")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ucclab-bench-pyc-") as pycache:
        prefix = None if args.cold_bytecode else Path(pycache)
        checkouts = {"replay": REPO} | ({"baseline replay": args.baseline.resolve()} if args.baseline else {})
        envs = {name: _environment(repo, prefix / name if prefix else None) for name, repo in checkouts.items()}
        for name, repo in checkouts.items():  # warm-up: bytecode and the key cache
            _replay(repo, envs[name], args.path, args.sets, args.fresh_keys)

        walls: dict[str, list[float]] = defaultdict(list)
        steps: dict[str, list[float]] = defaultdict(list)
        handshakes: dict[str, list[float]] = defaultdict(list)
        outcome = None
        for round_ in range(args.rounds):
            walls["python -c pass"].append(_timed([sys.executable, "-c", "pass"], envs["replay"], REPO)[0])
            help_wall, done = _timed([sys.executable, "-m", "harness.cli", "--help"], envs["replay"], REPO)
            if done.returncode != 0:
                raise SystemExit(f"ucclab --help exited {done.returncode}:\n{done.stderr}")
            walls["ucclab --help"].append(help_wall)
            for name, repo in checkouts.items():
                wall, doc = _replay(repo, envs[name], args.path, args.sets, args.fresh_keys)
                walls[f"ucclab {name} {args.path}"].append(wall)
                if name == "replay":
                    outcome = doc["outcome"]
                    for entry in doc["transcript"]:
                        steps[f"{entry['step_id']} (step {entry['step']})"].append(entry.get("duration_ms", 0.0))
                    for h in doc["handshakes"]:
                        if "duration_ms" in h:
                            handshakes[f"{h['kind']} {h.get('direction') or ''} ({h['client']})"].append(h["duration_ms"])
            print(f"round {round_ + 1}/{args.rounds}: " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in walls.items()),
                  file=sys.stderr)

    reference = walls["python -c pass"]
    print(f"ucclab replay {args.path} over {args.rounds} interleaved rounds; outcome {outcome}; "
          f"bytecode {'as the environment has it' if args.cold_bytecode else 'cached'}; "
          f"keys {'made in every run' if args.fresh_keys else 'from the key cache'}")
    for name, values in walls.items():
        print(_summary(name, values, reference))
    print(f"load average (1, 5, 15 min) at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} cores")
    print("\nmedian per step (ms), slowest first:")
    rows = sorted(((statistics.median(v), k) for k, v in steps.items()), reverse=True)
    for ms, name in rows:
        print(f"  {ms:8.1f}  {name}")
    print(f"  {sum(ms for ms, _ in rows):8.1f}  all steps")
    if handshakes:
        print("\nmedian per handshake (ms):")
        for name, values in handshakes.items():
            print(f"  {statistics.median(values):8.1f}  {name}")
    if args.imports:
        with tempfile.TemporaryDirectory(prefix="ucclab-bench-pyc-") as pycache:
            env = _environment(REPO, None if args.cold_bytecode else Path(pycache))
            _replay(REPO, env, args.path, args.sets, args.fresh_keys)  # fills the bytecode cache
            _import_costs(env, args.path, args.imports)
    return 0


if __name__ == "__main__":
    sys.exit(main())
