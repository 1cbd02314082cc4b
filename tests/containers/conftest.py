"""Fixtures of the container tests: the engine and the lab's images.

``docker_engine`` is a connected Docker SDK client. Without an engine the tests are
skipped on a developer's machine, but fail under ``UCCLAB_REQUIRE_TOOLS=1`` (``.ci/run``,
which installs and starts one), as ``tests.conftest.require_tool`` does for tools.
``lab_images`` builds the images once per test session and reuses them across sessions
while the sources are unchanged (their tags are digests of the sources).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.containers import EngineUnavailable, connect, down
from harness.images import BuiltImage, build_images


def require_engine() -> Any:
    """A Docker SDK client, or a skip (a failure under UCCLAB_REQUIRE_TOOLS=1)."""
    try:
        return connect()
    except EngineUnavailable as exc:
        message = f"{exc} (Debian: see .ci/run)"
        if os.environ.get("UCCLAB_REQUIRE_TOOLS") == "1":
            pytest.fail(message + "; UCCLAB_REQUIRE_TOOLS=1 makes this an error")
        pytest.skip(message)


@pytest.fixture(scope="session")
def docker_engine() -> Any:
    return require_engine()


@pytest.fixture(scope="session")
def lab_images(docker_engine: Any) -> dict[str, BuiltImage]:
    """ucclab-standins and ucclab-lab, built or reused once per session."""
    return build_images(client=docker_engine)


@pytest.fixture
def lab_workdir(tmp_path: Path, docker_engine: Any) -> Iterator[Path]:
    """A lab folder whose containers and network are removed after the test, whatever happens."""
    workdir = tmp_path / "lab"
    workdir.mkdir()
    yield workdir
    down(workdir, client=docker_engine)
