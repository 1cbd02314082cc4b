"""Shared test helpers.

``require_tool("keytool")`` returns a tool's path. When the tool is missing the test is
skipped on a developer's machine, but fails when ``UCCLAB_REQUIRE_TOOLS=1`` (set by
``.ci/run``): in CI a missing tool is a hole in the suite, not a skip.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian: see .ci/run for the package)"
        if os.environ.get("UCCLAB_REQUIRE_TOOLS") == "1":
            pytest.fail(message + "; UCCLAB_REQUIRE_TOOLS=1 makes this an error")
        pytest.skip(message)
    return path
