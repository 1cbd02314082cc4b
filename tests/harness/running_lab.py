"""A lab running in a process of its own (``ucclab up``), as a trainee's sandbox, for the tests
of ``ucclab host``, ``progress``, ``replay --attach``, the console and the lab's folder; and a
fingerprint of everything it keeps."""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.attach import AttachedLab
from harness.powershell import HostResult, run_line

REPO = Path(__file__).resolve().parents[2]
ROLES = {"labdc01": "ca", "fe01": "frontend", "ucc01": "ucc"}


UCCLAB = [sys.executable, "-m", "harness.cli"]


def ucclab(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``ucclab ARGS`` in a process of its own."""
    return subprocess.run([*UCCLAB, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False)


class Up:
    """``ucclab up --workdir WORKDIR ARGS`` in a process of its own, as a trainee starts it.

    What it prints goes to two files beside the folder (``WORKDIR.up-stdout`` and
    ``WORKDIR.up-stderr``), not to pipes: a pipe nobody reads would fill and stop the lab,
    and a failed test leaves them to read.
    """

    def __init__(self, workdir: Path, *args: str) -> None:
        self.workdir = workdir
        workdir.parent.mkdir(parents=True, exist_ok=True)
        self._stderr = workdir.parent / f"{workdir.name}.up-stderr"
        # lab.json outlives its lab: this lab's is the first one that is not the file there
        # now (lab.json is written whole under a new name, then renamed).
        self._stale = self._lab_json_version()
        with open(workdir.parent / f"{workdir.name}.up-stdout", "w") as out, open(self._stderr, "w") as err:
            self.proc = subprocess.Popen([*UCCLAB, "up", "--workdir", str(workdir), *args], cwd=REPO,
                                         stdout=out, stderr=err, text=True)

    @property
    def stderr(self) -> str:
        """What it wrote to stderr so far."""
        return self._stderr.read_text()

    def _lab_json_version(self) -> tuple[int, int] | None:
        try:
            stat = (self.workdir / "lab.json").stat()
        except FileNotFoundError:
            return None
        return stat.st_ino, stat.st_mtime_ns

    def wait_serving(self, timeout: float = 180) -> dict[str, Any]:
        """Its lab.json, once it is serving."""
        deadline = time.monotonic() + timeout
        while (version := self._lab_json_version()) is None or version == self._stale:
            if self.proc.poll() is not None:
                raise AssertionError(f"ucclab up exited early ({self.proc.returncode}): {self.stderr}")
            if time.monotonic() > deadline:
                raise AssertionError(f"ucclab up did not write lab.json in {timeout:.0f} s: {self.stderr}")
            time.sleep(0.1)
        return json.loads((self.workdir / "lab.json").read_text())

    def stop(self, signum: int = signal.SIGINT, timeout: float = 60) -> str:
        """Ctrl-C (or ``signum``); the lab must stop cleanly. Returns what it wrote to stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        self.proc.wait(timeout=timeout)
        stderr = self.stderr
        assert self.proc.returncode == 0, stderr
        return stderr

    def close(self) -> None:
        """Stop it if it still runs (Ctrl-C, then SIGKILL), whatever happened."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextmanager
def up(workdir: Path, *args: str) -> Iterator[Up]:
    """An :class:`Up` for the block; stopped at its end if the block did not stop it."""
    lab = Up(workdir, *args)
    try:
        yield lab
    finally:
        lab.close()


@contextmanager
def running_lab(workdir: Path, *args: str) -> Iterator[Path]:
    """``ucclab up --workdir WORKDIR ARGS`` serving for the block, then Ctrl-C (a clean stop
    is checked when the block passed)."""
    with up(workdir, *args) as lab:
        lab.wait_serving()
        yield workdir
        lab.stop()


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
