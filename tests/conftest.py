"""Shared test helpers.

``require_tool("keytool")`` returns a tool's path. When the tool is missing the test is
skipped on a developer's machine, but fails when ``UCCLAB_REQUIRE_TOOLS=1`` (set by
``.ci/run``): in CI a missing tool is a hole in the suite, not a skip.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from harness.pytest_plugin import session_folder

# Reference data the tests read (tests/data/README.md); nothing is read outside the repository.
DATA = Path(__file__).resolve().parent / "data"

# The suite starts a hundred Python processes (ucclab, the stand-ins, pytest-xdist's
# workers). Where PYTHONDONTWRITEBYTECODE keeps Python from caching compiled modules (so
# that no __pycache__ folder lands in the sources), each of them would compile every module
# of the lab again, and each worker every test module: their bytecode is kept in one folder
# of the repository's pytest cache instead, away from the sources (PYTHONPYCACHEPREFIX).
if os.environ.get("PYTHONDONTWRITEBYTECODE") and not os.environ.get("PYTHONPYCACHEPREFIX"):
    _PYCACHE = Path(__file__).resolve().parent.parent / ".pytest_cache" / "pycache"
    del os.environ["PYTHONDONTWRITEBYTECODE"]
    os.environ["PYTHONPYCACHEPREFIX"] = str(_PYCACHE)
    sys.dont_write_bytecode = False
    sys.pycache_prefix = str(_PYCACHE)


# Outside tools the suite talks to, with the Debian package that brings each.
REQUIRED_TOOLS = {
    "openssl": "openssl",
    "keytool": "openjdk-17-jdk-headless",
    "java": "openjdk-17-jdk-headless",
    "javac": "openjdk-17-jdk-headless",
    "kinit": "krb5-user",
    "kvno": "krb5-user",
    "klist": "krb5-user",
    "chromium": "chromium",
}


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: two workers per core. Most of the suite's time is spent waiting for other
    processes (ucclab, the JVM, keytool, openssl, MIT kinit) and sockets, so a core would
    stand idle behind one worker (measured on this shared 2-core machine: -n 2 kept 1.2 cores
    busy and took 253 s, -n 4 1.85 cores and 181 s, -n 6 1.9 cores and 170 s)."""
    return 2 * (os.cpu_count() or 1)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under UCCLAB_REQUIRE_TOOLS=1 (CI), refuse to run without every required tool."""
    if os.environ.get("UCCLAB_REQUIRE_TOOLS") != "1":
        return
    missing = [f"{tool} (apt-get install {pkg})" for tool, pkg in REQUIRED_TOOLS.items() if shutil.which(tool) is None]
    if missing:
        raise pytest.UsageError("UCCLAB_REQUIRE_TOOLS=1 and these tools are missing: " + ", ".join(missing))


@pytest.fixture(scope="session", autouse=True)
def ucclab_private_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``ucclab``'s per-machine cache (lab keys, the Java probe's classes) in a folder of this
    test session, shared by its workers: the ``ucclab`` processes the tests start neither
    read the user's cache nor leave keys in it."""
    folder = session_folder(tmp_path_factory, "xdg-cache")
    os.environ["XDG_CACHE_HOME"] = str(folder)
    return folder


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian: see .ci/run for the package)"
        if os.environ.get("UCCLAB_REQUIRE_TOOLS") == "1":
            pytest.fail(message + "; UCCLAB_REQUIRE_TOOLS=1 makes this an error")
        pytest.skip(message)
    return path


# The Front End tests' lab PKI: pki, fe (fe01's certificate), ucc (ucc01's), module-scoped; a
# module (or tests/harness, whose pki is another) defines its own to differ. Imported last:
# the support module reads DATA from here.
from tests.fakes.frontend_support import fe, pki, ucc  # noqa: E402,F401
