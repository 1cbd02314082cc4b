"""The repository stands alone: no code or test reads a path outside it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# A path built to climb out of the repository into the folder beside it: "../shared", a
# parent joined with "shared", or a literal absolute path into a sibling checkout.
ESCAPES = re.compile(r"""(\.\./shared|/work/shared|\.parents?(\[\d+\])?\s*/\s*["']shared["']|parents\[1\]\.parent)""")


def test_no_source_reaches_outside_the_repository() -> None:
    offenders = []
    for folder in ("fakes", "harness", "tests", "benchmarks", ".ci"):
        for path in sorted((ROOT / folder).rglob("*")):
            if not path.is_file() or path.suffix not in (".py", ".java", "") or path == Path(__file__):
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                if ESCAPES.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_the_reference_data_is_in_the_repository() -> None:
    data = ROOT / "tests" / "data"
    assert len(list((data / "rfc4475").glob("*.dat"))) == 49
    assert {p.name for p in (data / "page").iterdir()} >= {"mtls-arguments.txt", "tls-arguments.txt"}
    assert "Simplified BSD License" in " ".join((data / "README.md").read_text(encoding="utf-8").split())
