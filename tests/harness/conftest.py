"""Fixtures of the harness tests."""

from pathlib import Path

import pytest

from harness.javaprobe import ensure_compiled
from tests.conftest import require_tool

from .artifacts_support import pki  # noqa: F401  (a session fixture: the throwaway PKI)


@pytest.fixture(scope="session")
def java_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The probe compiled once for the test run: the cache root beside the workers' temporary
    folders, so pytest-xdist workers share it (and race to fill it)."""
    require_tool("java")
    require_tool("javac")
    root = tmp_path_factory.getbasetemp().parent / "ucclab-java-cache"
    ensure_compiled(root)
    return root
