"""Exceptions of the AD CS stand-in.

A *denied* request is not an exception: AD CS records it in its database with a
disposition and answers normally, and so does :meth:`CertificationAuthority.submit`.
Exceptions are for misuse of the stand-in itself (:class:`CAError`), for a state folder
that cannot be used (:class:`CAStateError`) and for a shell command line that PowerShell
would refuse to run (:class:`ShellError`).
"""

from __future__ import annotations

__all__ = ["CAError", "CAStateError", "ShellError"]


class CAError(Exception):
    """Base class of every error raised by :mod:`fakes.ca`."""


class CAStateError(CAError):
    """The CA's state folder is missing, incomplete or corrupt; the message names the file."""


class ShellError(CAError):
    """A Management Shell command line that the real shell or cmdlet rejects.

    The message is worded as PowerShell or the cmdlet words it, so a transcript reads
    like the customer's screen.
    """
