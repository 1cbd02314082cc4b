"""The page's Windows hosts as PowerShell: ``ucclab host HOST -- 'LINE'``.

A trainee types the page's Windows actions on labdc01, fe01 or ucc01 of a running lab, one
PowerShell line at a time, and the lab does what Windows would::

    result = await run_line(lab, "frontend", 'Get-ChildItem Cert:\\LocalMachine\\My | '
                            'Where-Object { $_.Subject -like "*ucc01*" }')
    result.exit_code, result.stdout, result.stderr

- :mod:`._syntax` — the line parsed as Windows PowerShell 5.1 parses it (pipelines,
  variables, quoting, parameters, subexpressions), its parse errors in PowerShell's words;
- :mod:`._runtime` — values, operators, parameter binding and error records;
- :mod:`._cmdlets` — the cmdlets the page's steps need, on the lab's stores, files, CA and
  domain, with every change staged until the whole line has been checked.

Exit status: 0 the line ran; 1 PowerShell (or certutil) refused it — nothing was changed;
2 the lab's shell does not run that PowerShell (it says what it runs instead).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ._cmdlets import COMMANDS, HostShell, NativeCommandFailed, render
from ._runtime import PSError, format_error, format_parse_error
from ._syntax import ParseError, Unsupported, parse_line

if TYPE_CHECKING:  # pragma: no cover
    from ..lab import LabBase

__all__ = ["HostResult", "run_line", "parse_line", "ParseError", "Unsupported", "COMMANDS"]


@dataclass
class HostResult:
    """What the console showed: output (stdout), errors and the lab's notes (stderr)."""

    exit_code: int
    stdout: str = ""
    stderr: str = ""
    notes: list[str] = field(default_factory=list)


async def run_line(lab: LabBase, role: str, line: str) -> HostResult:
    """Run one PowerShell ``line`` on the host of ``role`` (``ca``, ``frontend``, ``ucc``)
    of a started lab; the line's changes are applied only when all of it succeeded."""
    try:
        statements = parse_line(line)
    except ParseError as exc:
        return HostResult(1, stderr=format_parse_error(line, exc))
    except Unsupported as exc:
        return HostResult(2, stderr=_unsupported(line, exc))
    shell = HostShell(lab, role, line)
    try:
        output = await shell.run(statements)
        await shell.staging.commit()
    except PSError as exc:
        return HostResult(1, stderr=format_error(line, exc))
    except NativeCommandFailed as exc:
        return HostResult(1, stdout="\n".join(exc.lines))
    except Unsupported as exc:
        return HostResult(2, stderr=_unsupported(line, exc))
    finally:
        shell.staging.discard()
    notes = list(dict.fromkeys(shell.notes))
    return HostResult(0, stdout=render(output), stderr="\n".join(f"note: {n}" for n in notes), notes=notes)


def _unsupported(line: str, exc: Unsupported) -> str:
    return f"ucclab host: not run: {exc.message} (at char {exc.offset + 1} of the line)"
