"""pytest plugin (entry point ``pytest11``): labs for tests, and the scenarios as tests.

Fixtures, all prefixed ``ucclab_``:

``ucclab_keys``
    session-scoped: a :class:`~harness.keys.KeyCache` shared by the test session (by all
    its pytest-xdist workers): each CA and RSA key a lab needs is made once, not per test.
``ucclab_ca_seed``
    session-scoped: a CA state folder of the default topology, from ``ucclab_keys``.
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

Scenarios: the folders named by the ini option ``ucclab_scenarios`` (paths relative to the
ini file) have each ``*.yaml`` scenario collected as one test, ``<file>::<name>``, which
runs it in a lab of its own and passes when it reaches its expected outcome and codes
(``ucclab scenarios run`` judges the same way). pytest-xdist spreads them like any test,
over local cores (``-n auto``) or remote ``--tx`` workers::

    [tool.pytest.ini_options]
    testpaths = ["tests", "scenarios"]
    ucclab_scenarios = ["scenarios"]

The plugin imports the lab only when a fixture or a scenario needs it, so a test session
that uses neither starts no faster or slower for having it installed.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import pytest

if TYPE_CHECKING:
    from .keys import KeyCache
    from .lab import Lab, Topology
    from .replay import ReplayResult
    from .scenarios import Scenario

__all__ = ["LabThread", "ScenarioFile", "ScenarioItem", "ScenarioFailed"]

T = TypeVar("T")


class LabThread:
    """A :class:`Lab` served by an event loop in a thread of its own.

    Synchronous code (tests, a REPL) can then talk to the lab's real sockets with
    blocking clients while the servers keep answering.
    """

    def __init__(
        self, workdir: Path, topology: Topology | None = None, *, ca_seed: Path | None = None, keys: KeyCache | None = None
    ) -> None:
        from .lab import Lab, Topology

        self.lab: Lab = Lab(workdir, topology or Topology(), ca_seed=ca_seed, keys=keys)
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
        from .replay import parse_overrides, replay

        return self.run(replay(self.lab, path, parse_overrides(sets or []), client=client), timeout=180)

    def stop(self) -> None:
        if self._thread.is_alive():
            try:
                self.run(self.lab.close(), timeout=30)
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(timeout=30)
        self._loop.close()


def session_folder(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A folder of this test session shared by its pytest-xdist workers (beside their own
    temporary folders), or of this session alone without xdist."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / name


@pytest.fixture(scope="session")
def ucclab_keys(tmp_path_factory: pytest.TempPathFactory) -> KeyCache:
    """The session's key cache: each CA and key a lab needs is made once for all workers."""
    from .keys import KeyCache

    return KeyCache(session_folder(tmp_path_factory, "ucclab-keys"))


@pytest.fixture(scope="session")
def ucclab_ca_seed(ucclab_keys: KeyCache) -> Path:
    """A CA state folder with the default topology's CA (copy it before changing it)."""
    from .lab import Topology

    return ucclab_keys.ca_seed(Topology())


@pytest.fixture
def ucclab_lab_factory(tmp_path: Path, ucclab_keys: KeyCache) -> Iterator[Callable[..., LabThread]]:
    """Make started labs; each takes its CA and keys from the session's key cache."""
    started: list[LabThread] = []

    def make(topology: Topology | None = None, workdir: Path | None = None) -> LabThread:
        folder = workdir or tmp_path / f"lab{len(started)}"
        lab = LabThread(folder, topology, keys=ucclab_keys)
        started.append(lab)
        return lab.start()

    yield make
    for lab in reversed(started):
        lab.stop()


@pytest.fixture
def ucclab_lab(ucclab_lab_factory: Callable[..., LabThread]) -> LabThread:
    """A started lab of the page's default topology, isolated in this test's tmp_path."""
    return ucclab_lab_factory()


# -- scenarios as tests ---------------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("ucclab_scenarios", "folders whose *.yaml scenarios are collected as tests", type="paths", default=[])


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """A ``*.yaml`` file in one of the ``ucclab_scenarios`` folders is a scenario to run."""
    if file_path.suffix != ".yaml":
        return None
    folders = {Path(folder).resolve() for folder in parent.config.getini("ucclab_scenarios")}
    if file_path.parent.resolve() not in folders:
        return None
    return ScenarioFile.from_parent(parent, path=file_path)


class ScenarioFailed(Exception):
    """A scenario did not reach its expected outcome and codes (its problems, in words)."""


class ScenarioFile(pytest.File):
    """One scenario file; a file the loader refuses is a collection error naming the field."""

    def collect(self) -> Iterator[ScenarioItem]:
        from .scenarios import load_scenario

        scenario = load_scenario(self.path)
        yield ScenarioItem.from_parent(self, name=scenario.name, callobj=_scenario_test(scenario))


class ScenarioItem(pytest.Function):
    """A scenario run as a test (with the fixtures ``tmp_path`` and ``ucclab_keys``)."""

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"scenario {self.name}"

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> Any:  # type: ignore[override]
        if isinstance(excinfo.value, ScenarioFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


def _scenario_test(scenario: Scenario) -> Callable[[Path, KeyCache], None]:
    """The test function of one scenario: run it in a lab of its own and judge it."""

    def test(tmp_path: Path, ucclab_keys: KeyCache) -> None:
        from .scenarios import run_scenario

        result = asyncio.run(run_scenario(scenario, tmp_path / "lab", keys=ucclab_keys))
        if not result.passed:
            raise ScenarioFailed(
                f"{scenario.name}: {'; '.join(result.problems)} (codes {result.codes}, warnings {result.warnings})"
            )
        if scenario.expect_outcome != "confirmed" and not result.codes:
            # A failure always names its cause in the page's terms.
            raise ScenarioFailed(f"{scenario.name}: {result.outcome}, yet no diagnosis")

    return test
