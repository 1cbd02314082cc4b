"""What the connector stand-in finds wrong before it opens a socket.

A finding is a stable diagnosis code (``arg-unknown``, ``pfx-wrong-password``,
``secure-port-missing`` …), what is wrong in the real component's words where it has
some, and the fix. The argument parser, the store loaders and the Application object
check all produce them, so one list can be shown, turned into JSON and matched by a
scenario's expected diagnosis.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["Finding", "Severity"]

# "error": the connector cannot do what the page wants with this; "warning": Java copes
# (keystore.type.compat, a fallback store) but the setup is not what the page says.
Severity = Literal["error", "warning"]


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One problem: ``code`` (stable), ``message`` (what is wrong), ``hint`` (the fix)."""

    code: str
    message: str
    hint: str = ""
    severity: Severity = "error"

    def to_dict(self) -> dict[str, Any]:
        """The finding as JSON-able data, its class name under ``kind``."""
        return {"kind": type(self).__name__, **asdict(self)}
