"""The lab's errors, importable without the lab: the command line names them in its
``except`` clauses before it has started (or imported) a lab."""

from __future__ import annotations

__all__ = ["HostDown", "LabError"]


class LabError(RuntimeError):
    """The lab cannot start: an unusable workdir, a corrupt state file."""


class HostDown(RuntimeError):
    """A host of a running lab has stopped (its container exited): the message names it and
    ends with its last log lines."""


class AdminUnavailable(RuntimeError):
    """A stand-in's admin API cannot be reached or answered an error."""

    def __init__(self, service: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{service}: {message}")
        self.service = service
        self.status = status
