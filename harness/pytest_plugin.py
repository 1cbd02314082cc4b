"""pytest plugin (entry point ``pytest11``): labs for tests.

Fixtures, all prefixed ``ucclab_``:

``ucclab_ca_seed``
    session-scoped: a CA state folder generated once per test session (per xdist
    worker). Labs copy it, so a test pays no CA key generation.
``ucclab_lab``
    a started :class:`~harness.lab.Lab` of its own in ``tmp_path``, running on a
    background event loop: ``ucclab_lab.lab`` is the lab, ``ucclab_lab.run(coro)`` runs a
    coroutine on the lab's loop, ``ucclab_lab.replay(path, sets)`` replays the page.
``ucclab_lab_factory``
    ``ucclab_lab_factory(topology=..., workdir=...)`` for labs with another topology or
    several labs in one test; all are stopped at teardown.

Labs bind 127.0.0.1 with port 0, so tests run in parallel (``pytest -n auto``). Each lab
holds its folder's lock as ``ucclab`` does: a second lab on a folder in use raises
:class:`~harness.lab.LabError` naming the first.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable, TypeVar

import pytest

from fakes.ca import CertificationAuthority

from .lab import Lab, Topology
from .replay import ReplayResult, parse_overrides, replay

__all__ = ["LabThread"]

T = TypeVar("T")


class LabThread:
    """A :class:`Lab` served by an event loop in a thread of its own.

    Synchronous code (tests, a REPL) can then talk to the lab's real sockets with
    blocking clients while the servers keep answering.
    """

    def __init__(self, workdir: Path, topology: Topology = Topology(), *, ca_seed: Path | None = None) -> None:
        self.lab = Lab(workdir, topology, ca_seed=ca_seed)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"ucclab-{workdir.name}", daemon=True)

    def start(self, timeout: float = 60.0) -> "LabThread":
        self._thread.start()
        self.run(self.lab.start(), timeout=timeout)
        return self

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        """Run ``coro`` on the lab's loop and wait for its result."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout)

    def replay(self, path: str = "all", sets: list[str] | None = None, *, client: str = "python") -> ReplayResult:
        """Replay the page in this lab, ``sets`` as ``--set`` texts; ``client`` is python,
        java (the Java probe) or both."""
        return self.run(replay(self.lab, path, parse_overrides(sets or []), client=client), timeout=180)

    def stop(self) -> None:
        if self._thread.is_alive():
            try:
                self.run(self.lab.close(), timeout=30)
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(timeout=30)
        self._loop.close()


@pytest.fixture(scope="session")
def ucclab_ca_seed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA state folder with the default topology's CA, generated once per session."""
    folder = tmp_path_factory.mktemp("ucclab-ca-seed") / "ca"
    t = Topology()
    CertificationAuthority.create(folder, common_name=t.ca_name, host_fqdn=t.ca_fqdn).close()
    return folder


@pytest.fixture
def ucclab_lab_factory(tmp_path: Path, ucclab_ca_seed: Path) -> Iterator[Callable[..., LabThread]]:
    """Make started labs; the default topology reuses the session's CA."""
    started: list[LabThread] = []

    def make(topology: Topology = Topology(), workdir: Path | None = None) -> LabThread:
        folder = workdir or tmp_path / f"lab{len(started)}"
        same_ca = (topology.ca_name, topology.ca_fqdn, topology.two_tier_ca) == (
            Topology().ca_name,
            Topology().ca_fqdn,
            False,
        )
        lab = LabThread(folder, topology, ca_seed=ucclab_ca_seed if same_ca else None)
        started.append(lab)
        return lab.start()

    yield make
    for lab in reversed(started):
        lab.stop()


@pytest.fixture
def ucclab_lab(ucclab_lab_factory: Callable[..., LabThread]) -> LabThread:
    """A started lab of the page's default topology, isolated in this test's tmp_path."""
    return ucclab_lab_factory()
