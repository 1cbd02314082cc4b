"""Exceptions of :mod:`harness.artifacts`.

Every error names the file and says what is wrong with it. Where a real tool has its own
words for the problem (keytool, Java's ``KeyStore.load``, the Windows Certificate Export
Wizard), :attr:`ArtifactError.message` carries those words unchanged, so a diagnosis can
match them and a transcript reads like the customer's screen.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ArtifactError",
    "WrongPasswordError",
    "WrongFormatError",
    "CorruptFileError",
    "KeyNotExportableError",
    "AliasExistsError",
    "PasswordTooShortError",
    "Krb5ConfSyntaxError",
]


class ArtifactError(Exception):
    """A file the page's procedures make or read cannot be written or read as asked.

    ``message`` is the problem alone (a real tool's wording where there is one); ``path``
    the file; ``str(error)`` is ``"<path>: <message>"``.
    """

    def __init__(self, message: str, path: Path | str | None = None) -> None:
        self.message = message
        self.path = Path(path) if path is not None else None
        super().__init__(f"{self.path}: {message}" if self.path is not None else message)


class WrongPasswordError(ArtifactError):
    """The password does not open the PFX or key store."""


class WrongFormatError(ArtifactError):
    """The file is a well-formed file of another kind (a PFX where a certificate was expected…).

    ``actual_format`` is what :func:`~harness.artifacts.detect_format` says the file is.
    """

    def __init__(self, message: str, path: Path | str | None = None, *, actual_format: str = "unknown") -> None:
        self.actual_format = actual_format
        super().__init__(message, path)


class CorruptFileError(ArtifactError):
    """The file is empty, truncated, or not a valid file of the kind it claims to be."""


class KeyNotExportableError(ArtifactError):
    """The certificate's private key is marked as not exportable, so no PFX with the key.

    ``message`` is the Certificate Export Wizard's note; the command-line equivalents fail
    with :attr:`HRESULT` (``NTE_BAD_KEY_STATE``) and the texts in :attr:`CERTUTIL_TEXT`
    and :attr:`POWERSHELL_TEXT`.
    """

    # The wizard's note on its "Export Private Key" page, where it greys out "Yes, export the
    # private key". Microsoft documents the rule in "Back Up Certificates" (Windows Server
    # 2008, learn.microsoft.com cc771848): the key option "will appear only if the private key
    # is marked as exportable and you have access to the private key".
    WIZARD_TEXT = "The associated private key is marked as not exportable. Only the certificate can be exported."
    # certutil -exportPFX on such a key, as quoted in public reports (e.g. a comment on
    # ammarhasayen.com "Migrate your CA from CSP to KSP"; PFXExportCertStoreEx returns the
    # same 0x8009000b in gentilkiwi/mimikatz issues #239 and #274).
    HRESULT = 0x8009000B
    CERTUTIL_TEXT = "0x8009000b (-2146893813 NTE_BAD_KEY_STATE). Key not valid for use in specified state."
    # Export-PfxCertificate (PowerShell/PowerShell issue #12081, PowerShell/WindowsCompatibility #76).
    POWERSHELL_TEXT = "Cannot export non-exportable private key."

    def __init__(self, path: Path | str | None = None) -> None:
        super().__init__(self.WIZARD_TEXT, path)


class AliasExistsError(ArtifactError):
    """keytool refuses to import under an alias the store already has."""


class PasswordTooShortError(ArtifactError):
    """keytool refuses to create a store with a password of fewer than 6 characters."""


class Krb5ConfSyntaxError(CorruptFileError):
    """A krb5.conf that the MIT profile parser rejects; names the line.

    ``str(error)`` is ``"<source> line <n>: <problem>"``.
    """

    def __init__(self, message: str, *, source: str, line: int) -> None:
        self.source = source
        self.line = line
        super().__init__(message, source)

    def __str__(self) -> str:
        return f"{self.source} line {self.line}: {self.message}"
