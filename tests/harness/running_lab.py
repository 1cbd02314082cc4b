"""A lab running in a process of its own (``ucclab up``), as a trainee's sandbox, for the tests
of ``ucclab host`` and ``ucclab progress``; and a fingerprint of everything it keeps."""

from __future__ import annotations

import asyncio
import hashlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.attach import AttachedLab
from harness.powershell import HostResult, run_line

REPO = Path(__file__).resolve().parents[2]
ROLES = {"labdc01": "ca", "fe01": "frontend", "ucc01": "ucc"}


def ucclab(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``ucclab ARGS`` in a process of its own."""
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, check=False)


@contextmanager
def running_lab(workdir: Path, *args: str) -> Iterator[Path]:
    """``ucclab up ARGS --workdir WORKDIR`` until the block ends (then Ctrl-C)."""
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "up", *args, "--workdir", str(workdir)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while not (workdir / "lab.json").exists():
            if proc.poll() is not None:
                raise AssertionError(f"ucclab up exited early: {proc.stderr.read() if proc.stderr else ''}")
            if time.monotonic() > deadline:
                raise AssertionError("ucclab up did not write lab.json in time")
            time.sleep(0.1)
        yield workdir
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def host(workdir: Path, name: str, line: str) -> HostResult:
    """One PowerShell line on a host of the running lab, run from this process."""

    async def run() -> HostResult:
        async with AttachedLab(workdir) as lab:
            return await run_line(lab, ROLES[name], line)

    return asyncio.run(run())


def fingerprint(workdir: Path) -> dict[str, str]:
    """Every file the lab keeps (stores, CA database, accounts, Application, artifacts, the
    hosts' files) by its sha256: two equal fingerprints mean nothing was changed. The logs
    and the lock are left out (they record, they are not state)."""
    found = {}
    for path in sorted(workdir.rglob("*")):
        relative = path.relative_to(workdir)
        if not path.is_file() or relative.parts[0] in ("logs", "lab.lock") or path.name.endswith(("-wal", "-shm", "-journal")):
            continue
        found[str(relative)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found
