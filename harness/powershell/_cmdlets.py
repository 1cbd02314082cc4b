"""The cmdlets of the page's Windows steps, run on a lab's hosts (labdc01, fe01, ucc01).

Each host has what a real one has for the page: the PKI module everywhere
(``Get-ChildItem Cert:``, ``Export-PfxCertificate``, ``Export-Certificate``,
``Import-Certificate``) and ``certutil``; the Skype for Business Management Shell's
``Request-CsCertificate`` on the Front End only (the page: "On the host computer where the
Front End Server is installed"); the Active Directory module on the domain controller and
on the Front End (RSAT-ADDS is a Skype for Business Server prerequisite). Elsewhere a
command is "not recognized", as there.

Rule 1 — the lab's pieces. Certificates live in the hosts' stores (:mod:`harness.hosts`:
``Cert:\\LocalMachine\\My`` is Local Computer\\Personal, ``...\\Root`` the Trusted Root
Certification Authorities, ``Cert:\\CurrentUser\\...`` the user's); PFX and DER files are
written by :mod:`harness.artifacts` as the Windows tools write them; requests go to the CA
through ``lab.authority``, account changes to the domain controller through
``lab.domain``, revocations to the CA's admin action ``revoke``.

Rule 2 — files. A Windows path on ucc01 is the file the connector reads: by name in the
lab's ``artifacts`` folder (its ``etc`` folder, ``lab.resolve_windows_path``); on the other
hosts ``C:\\X\\Y`` is ``WORKDIR/hosts-fs/<host>/C/X/Y``. ``\\\\ucc01\\C$\\...`` reaches another
host's ``C:`` (an administrative share). Every file written is reported with where it is.

Rule 3 — nothing half-done. The whole line is parsed, bound and checked first, with every
change staged (files written to a private staging folder, store and account changes
recorded); only then are the changes applied. A line may hold one change the CA can still
refuse (a request, a revocation): it is applied first, and if the CA refuses, nothing else
of the line is. The output is printed once the line has been applied.
"""

from __future__ import annotations

import datetime
import ntpath
import os
import re
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fakes._files import write_public_file
from fakes.ca import (
    ShellError,
    build_cs_certificate_csr,
    check_ca_config,
    parse_request_cs_certificate,
)

from ..admin import AdminUnavailable
from ..artifacts import (
    ArtifactError,
    KeyNotExportableError,
    export_pfx,
    read_certificate,
    write_der_certificate,
)
from ..diagnosis import FRONTEND, SHELL, WEB
from ..hosts import (
    COMPUTER,
    PERSONAL,
    TRUSTED_ROOTS,
    USER,
    CertificateStore,
    StoredCertificate,
    WindowsHost,
)
from ..lab import WINDOWS_ROLES, make_private_folder
from ..manifest import Manifest
from ..procedures._framework import (
    StepFailed,
    refuse_long_common_name,
    rsa_key_size_problem,
)
from ._runtime import (
    Cmdlet,
    Evaluator,
    Invocation,
    Kind,
    Param,
    PSError,
    PSObject,
    ScriptBlockValue,
    SecureString,
    compare,
    is_true,
    to_text,
)
from ._syntax import Number, Parameter, Unsupported

if TYPE_CHECKING:  # pragma: no cover
    from ..lab import LabBase

__all__ = ["HostShell", "HostFiles", "Staging", "COMMANDS", "NativeCommandFailed", "render"]

#: Where a new PowerShell session starts (assumed: an administrator's profile folder).
HOME = "C:\\Users\\Administrator"
_CERT_TYPE = "Microsoft.CertificateServices.Commands.Certificate"
_AD_ACCOUNT = "Microsoft.ActiveDirectory.Management.ADAccount"
_AD_USER = "Microsoft.ActiveDirectory.Management.ADUser"
_LOCATIONS = {"localmachine": ("LocalMachine", COMPUTER), "currentuser": ("CurrentUser", USER)}
_STORES = {"my": ("My", PERSONAL), "root": ("Root", TRUSTED_ROOTS)}
# Stores a real Windows host has that the lab keeps empty (it keeps Personal and Trusted Roots).
_EMPTY_STORES = ("AuthRoot", "CA", "Disallowed", "REQUEST", "SmartCardRoot", "Trust", "TrustedPeople",
                 "TrustedPublisher", "Remote Desktop", "WebHosting")
_PROVIDER = "Microsoft.PowerShell.Security\\Certificate::"


class NativeCommandFailed(Exception):
    """A native program (certutil) that printed its failure and exited non-zero: PowerShell
    shows its output lines as they are, with no error record."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


# -- files on the hosts --------------------------------------------------------------------


@dataclass(frozen=True)
class HostPath:
    """A Windows path on one host and the lab file standing for it."""

    host: str  # short name
    windows: str
    local: Path
    artifacts: bool  # in the connector's etc folder (the artifacts folder)


class HostFiles:
    """Where a Windows path typed on ``host`` lives in the lab folder (Rule 2)."""

    def __init__(self, lab: LabBase, host: str) -> None:
        self.lab = lab
        self.host = host
        self.names = {lab.host_name(r).lower(): lab.host_name(r) for r in WINDOWS_ROLES}
        self.names.update({lab.topology.fqdn(lab.host_name(r)).lower(): lab.host_name(r) for r in WINDOWS_ROLES})

    def locate(self, typed: str, *, call: Invocation, offset: int) -> HostPath:
        text = re.sub(r"^(Microsoft\.PowerShell\.Core\\)?FileSystem::", "", typed.replace("/", "\\"), flags=re.IGNORECASE)
        host = self.host
        if text.startswith("\\\\"):
            server, _, rest = text[2:].partition("\\")
            share, _, inner = rest.partition("\\")
            if server.lower() not in self.names:
                raise call.error(f"The network path was not found: '\\\\{server}'. The lab's hosts are "
                                 f"{', '.join(sorted(set(self.names.values())))}.", category="ObjectNotFound",
                                 reason="IOException", offset=offset, length=len(typed))  # assumed wording
            if share.lower() != "c$":
                raise call.error(f"The network name cannot be found: '\\\\{server}\\{share}' (the lab's hosts share "
                                 "their C: as C$).", category="ObjectNotFound", reason="IOException", offset=offset,
                                 length=len(typed))  # assumed wording
            host, windows = self.names[server.lower()], "C:\\" + inner
        elif re.match(r"^[A-Za-z]:", text):
            drive = text[0].upper()
            if drive != "C":
                # SessionStateStrings.resx, DriveNotFound.
                raise call.error(f"Cannot find drive. A drive with the name '{drive}' does not exist.",
                                 category="ObjectNotFound", reason="DriveNotFoundException", target=f"{drive}:String",
                                 offset=offset, length=len(typed))
            rest = text[2:]
            windows = "C:" + rest if rest.startswith("\\") else ntpath.join(HOME, rest)
        elif text.startswith("\\"):
            windows = "C:" + text
        else:
            windows = ntpath.join(HOME, text)
        windows = ntpath.normpath(windows)
        if not ntpath.basename(windows):
            raise call.error(f"'{typed}' names a folder; give a file name.", offset=offset, length=len(typed))
        ucc = self.lab.host_name("ucc")
        if host == ucc:
            return HostPath(host, windows, self.lab.resolve_windows_path(windows), True)
        parts = [p for p in windows[3:].split("\\") if p]
        return HostPath(host, windows, self.lab.workdir / "hosts-fs" / host / "C" / Path(*parts), False)

    def describe(self, where: HostPath) -> str:
        """The sentence saying which lab file a Windows path is."""
        return f"{where.windows} on {where.host} is {where.local}"


# -- staged changes --------------------------------------------------------------------------


@dataclass
class _StoreAdd:
    store: CertificateStore
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey | None
    friendly_name: str | None
    exportable: bool


@dataclass
class Staging:
    """The line's changes, held until :meth:`commit` (Rule 3)."""

    lab: LabBase
    files: dict[Path, Path] = field(default_factory=dict)  # destination -> staged copy
    stores: list[_StoreAdd] = field(default_factory=list)
    manifest: list[tuple[str, Path, str, str | None, str]] = field(default_factory=list)
    refusable: Callable[[], Awaitable[list[str]]] | None = None
    refusable_by: str | None = None
    updates: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _folder: Path | None = None

    def staged_path(self, destination: Path) -> Path:
        """A private staging file for ``destination`` (written there now, moved at commit)."""
        if self._folder is None:
            make_private_folder(self.lab.state_dir)
            self._folder = Path(tempfile.mkdtemp(prefix="host-line-", dir=self.lab.state_dir))
        path = self._folder / f"{len(self.files)}-{destination.name}"
        self.files[destination] = path
        return path

    def read(self, path: Path) -> bytes | None:
        """A file as the line sees it: staged by an earlier command, or on disk."""
        source = self.files.get(path, path)
        try:
            return source.read_bytes() if source.is_file() else None
        except OSError:
            return None

    def pending_certificates(self, store: CertificateStore) -> list[_StoreAdd]:
        return [a for a in self.stores if a.store.folder == store.folder]

    def refuse_second(self, what: str, offset: int) -> None:
        """At most one change the CA may still refuse per line (Rule 3)."""
        if self.refusable is not None:
            raise Unsupported(f"this line already {self.refusable_by}; {what} must go on a line of its own, so that a "
                              "refusal by the CA leaves nothing half-done", offset)

    async def commit(self) -> list[str]:
        """Apply everything: the CA's part first, then files, stores, manifest, accounts."""
        lines: list[str] = []
        if self.refusable is not None:
            lines = await self.refusable()  # raises PSError when refused: nothing else is applied
        for destination, staged in self.files.items():
            make_private_folder(destination.parent)
            os.replace(staged, destination)
        for add in self.stores:
            add.store.add(add.certificate, add.key, friendly_name=add.friendly_name, key_exportable=add.exportable)
        if self.manifest:
            manifest = Manifest(self.lab.artifacts_dir)
            for role, path, fmt, password, doc_step in self.manifest:
                manifest.add(role, path, format=fmt, password=password, doc_step=doc_step)
        assert self.lab.domain is not None or not self.updates
        for name, changes in self.updates:
            await self.lab.domain.update(name, **changes)  # type: ignore[union-attr]
        self.discard()
        return lines

    def discard(self) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


# -- objects ---------------------------------------------------------------------------------


def _windows_time(moment: datetime.datetime) -> str:
    """A date as an en-US Windows console shows it (``12/5/2027 10:15:00 AM``)."""
    local = moment.astimezone()
    return f"{local.month}/{local.day}/{local.year} {local.strftime('%I:%M:%S %p').lstrip('0')}"


_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "Server Authentication",
    ExtendedKeyUsageOID.CLIENT_AUTH: "Client Authentication",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "Secure Email",
    ExtendedKeyUsageOID.CODE_SIGNING: "Code Signing",
}


class CertificateObject(PSObject):
    """An ``X509Certificate2`` as the certificate provider gives it (with PSPath)."""

    type_name = "System.Security.Cryptography.X509Certificates.X509Certificate2"

    def __init__(self, certificate: x509.Certificate, *, location: str, store: str, host: str,
                 friendly_name: str | None = None, has_private_key: bool = False, key_exportable: bool = False,
                 entry: StoredCertificate | None = None, source: CertificateStore | None = None) -> None:
        self.certificate = certificate
        self.location, self.store, self.host = location, store, host
        self.friendly_name = friendly_name
        self.has_private_key = has_private_key
        self.key_exportable = key_exportable
        self.entry = entry
        self.source = source

    @classmethod
    def of(cls, entry: StoredCertificate, store: CertificateStore, host: str) -> CertificateObject:
        location = "LocalMachine" if store.location == COMPUTER else "CurrentUser"
        name = "My" if store.name == PERSONAL else "Root"
        return cls(entry.certificate, location=location, store=name, host=host, friendly_name=entry.friendly_name,
                   has_private_key=entry.has_private_key, key_exportable=entry.key_exportable, entry=entry, source=store)

    @property
    def thumbprint(self) -> str:
        return self.certificate.fingerprint(hashes.SHA1()).hex().upper()

    @property
    def parent_path(self) -> str:
        return f"{_PROVIDER}{self.location}\\{self.store}"

    def names(self) -> list[str]:
        try:
            san = self.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            return [str(n) for n in san.get_values_for_type(x509.DNSName)]
        except x509.ExtensionNotFound:
            return [str(a.value) for a in self.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]

    def usages(self) -> list[str]:
        try:
            ekus = self.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            return []
        return [f"{_EKU_NAMES.get(o, o.dotted_string)} ({o.dotted_string})" for o in ekus]

    def properties(self) -> dict[str, Any]:
        c = self.certificate
        return {
            "Subject": c.subject.rfc4514_string(),
            "Issuer": c.issuer.rfc4514_string(),
            "Thumbprint": self.thumbprint,
            "FriendlyName": self.friendly_name or "",
            "NotBefore": _windows_time(c.not_valid_before_utc),
            "NotAfter": _windows_time(c.not_valid_after_utc),
            "SerialNumber": format(c.serial_number, "X").rjust(2, "0") if c.serial_number >= 0 else str(c.serial_number),
            "HasPrivateKey": self.has_private_key,
            "DnsNameList": self.names(),
            "EnhancedKeyUsageList": self.usages(),
            "Version": 3,
            "PSPath": f"{self.parent_path}\\{self.thumbprint}",
            "PSParentPath": self.parent_path,
            "PSChildName": self.thumbprint,
        }


class PendingCertificate(PSObject):
    """What Request-CsCertificate gives: known once the line is applied and the CA answered."""

    type_name = "Microsoft.Rtc.Management.Deployment.CertificateInfo"

    def __init__(self, offset: int) -> None:
        self.offset = offset
        self.issued: CertificateObject | None = None

    def properties(self) -> dict[str, Any]:
        if self.issued is None:
            raise Unsupported("the certificate Request-CsCertificate asks for exists once the line has run: use it on "
                              "a line of its own (Get-ChildItem Cert:\\LocalMachine\\My)", self.offset)
        return self.issued.properties()


class FileObject(PSObject):
    """A ``System.IO.FileInfo`` the export cmdlets return."""

    type_name = "System.IO.FileInfo"

    def __init__(self, where: HostPath, size: int) -> None:
        self.where = where
        self.size = size

    def properties(self) -> dict[str, Any]:
        return {"Name": ntpath.basename(self.where.windows), "FullName": self.where.windows,
                "DirectoryName": ntpath.dirname(self.where.windows), "Length": self.size,
                "Mode": "-a----", "LastWriteTime": _windows_time(datetime.datetime.now(datetime.UTC))}


class ContainerObject(PSObject):
    """A location (``CurrentUser``) or a store (``My``) of the certificate provider."""

    def __init__(self, name: str, parent: str, kind: str) -> None:
        self.name, self.parent, self.kind = name, parent, kind
        self.type_name = kind

    def properties(self) -> dict[str, Any]:
        return {"Name": self.name, "PSParentPath": self.parent, "PSPath": f"{self.parent}\\{self.name}".replace("::\\", "::")}


class ListOutput(PSObject):
    """Format-List's output: the text it prints."""

    type_name = "Microsoft.PowerShell.Commands.Internal.Format.FormatEntryData"

    def __init__(self, text: str) -> None:
        self.text = text


class TextLines(PSObject):
    """A native program's output lines, known once the line has been applied (certutil)."""

    type_name = "System.String"

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __str__(self) -> str:
        return "\n".join(self.lines)


class SelectedObject(PSObject):
    """Select-Object -Property's ``PSCustomObject``."""

    type_name = "System.Management.Automation.PSCustomObject"

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def properties(self) -> dict[str, Any]:
        return self.values


# -- the shell -----------------------------------------------------------------------------------


class HostShell(Evaluator):
    """One line on one host of a lab: the evaluator with the host's commands, files and
    staged changes."""

    def __init__(self, lab: LabBase, role: str, line: str) -> None:
        host = lab.host_name(role)
        super().__init__(line, self._resolve, {"HOME": HOME, "PWD": HOME})
        self.lab = lab
        self.role = role
        self.host_name = host
        self.windows: WindowsHost = lab.host(role)
        self.files = HostFiles(lab, host)
        self.staging = Staging(lab)
        self.notes: list[str] = []

    def _resolve(self, name: str) -> Cmdlet | None:
        if name.lower() in ("%", "foreach", "foreach-object"):
            raise Unsupported("ForEach-Object is not run by the lab's shell: use Where-Object and Select-Object", 0)
        cmdlet = COMMANDS.get(name.lower()) or COMMANDS.get(re.sub(r"(?i)\.exe$", "", name).lower())
        if cmdlet is None or self.role not in cmdlet.hosts:
            return None
        return cmdlet

    # -- the certificate provider -------------------------------------------------------------------
    def cert_path(self, typed: str, call: Invocation, offset: int) -> list[PSObject]:
        """What a ``Cert:`` path names: locations, stores, or certificates (with those staged)."""
        text = re.sub(r"(?i)^(Microsoft\.PowerShell\.Security\\)?Certificate::", lambda _: "Cert:\\", typed.replace("/", "\\"))
        match = re.match(r"(?i)^cert:\\*(.*)$", text)
        if match is None:
            raise Unsupported(f"'{typed}' is a file-system path: the lab's shell lists certificate stores only "
                              f"(Cert:\\...); {self.files_home(call)}", offset)
        parts = [p for p in match.group(1).split("\\") if p]

        def not_found() -> PSError:
            return call.error(f"Cannot find path '{typed}' because it does not exist.", category="ObjectNotFound",
                              reason="ItemNotFoundException", target=f"{typed}:String", error_id="PathNotFound",
                              offset=offset, length=len(typed))

        if not parts:
            return [ContainerObject(name, _PROVIDER.rstrip(":") + "::", "Microsoft.PowerShell.Commands.X509StoreLocation")
                    for name in ("CurrentUser", "LocalMachine")]
        location = _LOCATIONS.get(parts[0].lower())
        if location is None:
            raise not_found()
        if len(parts) == 1:
            return [ContainerObject(name, f"{_PROVIDER}{location[0]}", "System.Security.Cryptography.X509Certificates.X509Store")
                    for name in sorted(["My", "Root", *_EMPTY_STORES])]
        store_name = _STORES.get(parts[1].lower())
        if store_name is None:
            if parts[1].lower() in (s.lower() for s in _EMPTY_STORES) and len(parts) == 2:
                self.notes.append(f"the lab keeps {location[0]}\\My and {location[0]}\\Root of {self.host_name}; "
                                  f"{parts[1]} is empty here")
                return []
            raise not_found()
        store = self.windows.store(store_name[1], location[1])
        found = [CertificateObject.of(e, store, self.host_name) for e in store.certificates()]
        found += [CertificateObject(a.certificate, location=location[0], store=store_name[0], host=self.host_name,
                                    friendly_name=a.friendly_name, has_private_key=a.key is not None,
                                    key_exportable=a.exportable) for a in self.staging.pending_certificates(store)]
        if len(parts) == 2:
            return list(found)
        if len(parts) == 3:
            hit = [c for c in found if isinstance(c, CertificateObject) and c.thumbprint == parts[2].upper()]
            if hit:
                return hit[:1]
        raise not_found()

    def files_home(self, call: Invocation) -> str:
        """Where this host's files are in the lab folder, in words."""
        where = self.files.locate("C:\\file", call=call, offset=0)
        if where.artifacts:
            return f"the files of {self.host_name} are in {where.local.parent} (by name)"
        return f"the files of {self.host_name} are under {where.local.parent}"

    def store_location(self, typed: str, call: Invocation, offset: int) -> tuple[CertificateStore, str]:
        """``Cert:\\LocalMachine\\Root`` → the store (Import-Certificate's -CertStoreLocation)."""
        match = re.match(r"(?i)^cert:\\+(localmachine|currentuser)\\+(my|root)\\*$", typed.replace("/", "\\"))
        if match is None:
            raise call.error(f"Cannot find path '{typed}' because it does not exist (the lab's stores are "
                             "Cert:\\LocalMachine\\My, Cert:\\LocalMachine\\Root, Cert:\\CurrentUser\\My and "
                             "Cert:\\CurrentUser\\Root).", category="ObjectNotFound", reason="ItemNotFoundException",
                             offset=offset, length=len(typed))
        location, store = _LOCATIONS[match.group(1).lower()], _STORES[match.group(2).lower()]
        return self.windows.store(store[1], location[1]), f"{location[0]}\\{store[0]}"

    def certificates(self, value: Any, call: Invocation) -> list[CertificateObject]:
        """-Cert's value: certificate objects, or ``Cert:`` paths to them."""
        found: list[CertificateObject] = []
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, PendingCertificate):
                item.properties()  # not issued yet: says so
            if isinstance(item, CertificateObject):
                found.append(item)
            elif isinstance(item, str):
                found += [c for c in self.cert_path(item, call, call.command.offset) if isinstance(c, CertificateObject)]
            else:
                raise call.error(f'Cannot bind parameter \'Cert\'. Cannot convert the "{to_text(item)}" value of type '
                                 f'"{getattr(item, "type_name", "System.Object")}" to type "{_CERT_TYPE}".',
                                 reason="ParameterBindingException", error_id="CannotConvertArgumentNoMessage")
        return found


# -- the cmdlets -----------------------------------------------------------------------------------


async def get_child_item(shell: HostShell, call: Invocation) -> list[Any]:
    """``Get-ChildItem Cert:\\...``: the locations, stores or certificates a path names (-Recurse: and below)."""
    paths = call.bound.get("Path")
    if paths is None:
        raise Unsupported(f"the lab's shell lists certificate stores: give a Cert:\\ path ({shell.files_home(call)})",
                          call.command.offset)
    out: list[Any] = []
    for path in paths:
        items = shell.cert_path(path, call, call.command.offset)
        out += items
        if call.bound.get("Recurse"):
            for item in items:
                if isinstance(item, ContainerObject):
                    out += shell.cert_path(f"{path.rstrip(chr(92))}\\{item.name}", call, call.command.offset)
    return out


async def get_item(shell: HostShell, call: Invocation) -> list[Any]:
    """``Get-Item Cert:\\...``: the certificate, store or location itself."""
    shell.require(call, call.bound, "Path")
    out: list[Any] = []
    for path in call.bound["Path"]:
        items = shell.cert_path(path, call, call.command.offset)  # refuses what does not exist
        parts = [p for p in re.sub(r"(?i)^cert:", "", path).split("\\") if p]
        if len(parts) == 3:
            out += items
        else:
            parent = _PROVIDER + "\\".join(parts[:-1]) if parts else _PROVIDER.rstrip(":") + "::"
            out.append(ContainerObject(parts[-1] if parts else "Cert:\\", parent, "container"))
    return out


async def where_object(shell: HostShell, call: Invocation) -> list[Any]:
    """``Where-Object { script }`` or ``Where-Object Property -op Value`` (the simplified syntax)."""
    bound = call.bound
    script = bound.get("FilterScript")
    operators = [p.name for p in call.cmdlet.params if p.kind == Kind.SWITCH and bound.get(p.name)]
    prop = bound.get("Property")
    value = bound.get("Value")
    if isinstance(script, str) and prop is None:  # "Where-Object Subject -like '*x*'": the simplified syntax
        prop, script = script, None
    elif isinstance(script, str) and value is None:
        value, script = script, None
    if len(operators) > 1:
        raise call.error("Parameter set cannot be resolved using the specified named parameters.",
                         reason="ParameterBindingException", error_id="AmbiguousParameterSet")
    if script is None and prop is None:
        shell.require(call, bound, "FilterScript")
    kept: list[Any] = []
    items = call.input if call.input is not None else ([bound["InputObject"]] if "InputObject" in bound else [])
    for item in items:
        if isinstance(script, ScriptBlockValue):
            if is_true(await shell.script(script, item)):
                kept.append(item)
            continue
        if script is not None:
            raise call.error(f'Cannot bind parameter \'FilterScript\'. Cannot convert the "{to_text(script)}" value of type '
                             f'"{type(script).__name__}" to type "{Kind.SCRIPT}".', reason="ParameterBindingException")
        found = shell.member(item, str(prop))
        if not operators:
            hit = is_true(found)
        else:
            hit = is_true(compare(operators[0].lower(), found, value, call.command.offset))
        if hit:
            kept.append(item)
    return kept


async def select_object(shell: HostShell, call: Invocation) -> list[Any]:
    """``Select-Object``: -First, -Last, -Skip, -ExpandProperty, -Property."""
    items = list(call.input or [])
    bound = call.bound
    if "Skip" in bound:
        items = items[bound["Skip"]:]
    if "First" in bound:
        items = items[:bound["First"]]
    if "Last" in bound:
        items = items[-bound["Last"]:] if bound["Last"] else []
    if "ExpandProperty" in bound:
        return [shell.member(i, bound["ExpandProperty"]) for i in items]
    if "Property" in bound:
        names = [to_text(p) for p in (bound["Property"] if isinstance(bound["Property"], list) else [bound["Property"]])]
        return [SelectedObject({n: shell.member(i, n) for n in names}) for i in items]
    return items


async def format_list(shell: HostShell, call: Invocation) -> list[Any]:
    """``Format-List [Property...]``: name : value lines (a certificate's default view)."""
    wanted = call.bound.get("Property")
    names = None if wanted is None else [to_text(p) for p in (wanted if isinstance(wanted, list) else [wanted])]
    blocks = []
    for item in call.input or []:
        props = item.properties() if isinstance(item, PSObject) else {"": item}
        if names and names != ["*"]:
            props = {n: shell.member(item, n) for n in names}
        elif isinstance(item, CertificateObject) and names is None:
            props = {k: props[k] for k in ("Subject", "Issuer", "Thumbprint", "FriendlyName", "NotBefore", "NotAfter")}
        width = max((len(k) for k in props), default=0)
        blocks.append("\n".join(f"{k.ljust(width)} : {_shown(v)}" for k, v in props.items()))
    return [ListOutput("\n\n".join(blocks))] if blocks else []


async def convert_to_secure_string(shell: HostShell, call: Invocation) -> list[Any]:
    """``ConvertTo-SecureString -String X -AsPlainText -Force``: the secure string the export cmdlets and AD take."""
    out = []
    items = [None] if "String" in call.bound or call.input is None else call.input
    for item in items:
        bound = call.bound if item is None else shell.bind_input(call, item)
        shell.require(call, bound, "String")
        if not bound.get("AsPlainText"):
            # Without -AsPlainText the string must be an encrypted standard string (DPAPI),
            # which a typed password is not. Assumed wording: .NET's FormatException.
            raise call.error("Input string was not in a correct format.", category="NotSpecified",
                             reason="FormatException", error_id="System.FormatException")
        if not bound.get("Force"):
            # SecureStringCommands.resx, ForceRequired (Windows PowerShell 5.1 wants -Force with -AsPlainText).
            raise call.error("The system cannot protect plain text input. To suppress this warning and convert the "
                             "plain text to a SecureString, reissue the command specifying the Force parameter. For "
                             "more information ,type: get-help ConvertTo-SecureString.", reason="ArgumentException",
                             error_id="ImportSecureString_InvalidArgument")
        out.append(SecureString(bound["String"]))
    return out


def _reconstructed(call: Invocation) -> str:
    """The command with every argument evaluated, re-quoted for the CA stand-in's parser
    (which reads ``$true``/``$false`` unquoted and strings literally)."""
    words = [call.cmdlet.name]
    for element, value in call.arguments:
        if isinstance(element, Parameter):
            head = "-" + element.name + (":" if element.colon else "")
            if element.colon and element.argument is not None:
                words.append(head + _quoted(value))
            else:
                words.append(head)
        else:
            words.append(_quoted(value))
    return " ".join(words)


def _quoted(value: Any) -> str:
    if isinstance(value, bool):
        return "$true" if value else "$false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "'" + ",".join(to_text(v) for v in value).replace("'", "''") + "'"
    return "'" + to_text(value).replace("'", "''") + "'"


async def request_cs_certificate(shell: HostShell, call: Invocation) -> list[Any]:
    """The page's command, bound by :func:`fakes.ca.parse_request_cs_certificate` (the page's
    typos read as PowerShell reads them), submitted to the CA when the line is applied."""
    lab = shell.lab
    assert lab.authority is not None
    shell.staging.refuse_second("Request-CsCertificate", call.command.offset)
    try:
        request = parse_request_cs_certificate(_reconstructed(call))
        check_ca_config(request, lab.authority)  # type: ignore[arg-type]
        if request.computer_fqdn is None:
            raise ShellError("the lab needs -ComputerFqdn (the real cmdlet would use the computer it runs on).")
    except ShellError as exc:
        message = str(exc).removeprefix("Request-CsCertificate : ").removeprefix("Request-CsCertificate: ")
        raise call.error(message, reason="ParameterBindingException") from None
    problem = rsa_key_size_problem(request.key_size)
    if problem:
        raise call.error(f"-KeySize {request.key_size}: {problem}", category="InvalidArgument")  # assumed wording
    try:
        refuse_long_common_name(request.computer_fqdn, said_by="")
    except StepFailed as failure:
        raise call.error(failure.message, category="InvalidOperation") from None
    key = lab.rsa_key("shell-request", request.key_size)  # a new key, as the cmdlet makes one
    csr = build_cs_certificate_csr(request, key)
    pending = PendingCertificate(call.command.offset)
    store = shell.windows.personal
    requester = lab.topology.administrator

    async def submit() -> list[str]:
        result = await lab.authority.submit(csr, template=request.template, requester=requester)  # type: ignore[union-attr]
        if result.certificate is None:
            raise call.error(result.message, category="InvalidOperation", reason="InvalidOperationException")
        entry = store.add(result.certificate, key, friendly_name=request.friendly_name,
                          key_exportable=request.private_key_exportable)
        pending.issued = CertificateObject.of(entry, store, shell.host_name)
        return []

    shell.staging.refusable, shell.staging.refusable_by = submit, "requests a certificate"
    return [pending]


def _targets(shell: HostShell, call: Invocation) -> list[CertificateObject]:
    """The certificates of -Cert, or of the pipeline (a certificate object as it is, anything
    else bound as the cmdlet binds it); the mandatory parameters checked first."""
    bound = call.bound
    if call.input is None:
        shell.require(call, bound, "Cert", "FilePath")
    else:
        shell.require(call, bound, "FilePath")
    if "Cert" in bound:
        return shell.certificates(bound["Cert"], call)
    targets: list[CertificateObject] = []
    for item in call.input or []:
        targets += [item] if isinstance(item, CertificateObject) else shell.certificates(shell.bind_input(call, item)["Cert"], call)
    return targets


def _chain_for(shell: HostShell, certificate: x509.Certificate) -> list[x509.Certificate]:
    """The path Windows builds for a certificate of the lab's CA (issuing CAs up to the root)."""
    authority = shell.lab.authority
    assert authority is not None
    return list(authority.chain) if certificate.issuer == authority.certificate.subject else []


def _file_role(shell: HostShell, cert: CertificateObject) -> tuple[str, str]:
    """The manifest role and page step of an exported PFX: the Front End's own certificate
    (its domain certificate), else the connector's, by the way it was obtained."""
    t = shell.lab.topology
    if t.frontend_fqdn.lower() in (n.lower() for n in cert.names()) and cert.friendly_name is None:
        return "frontend-pfx", f"{FRONTEND}, step 4"
    if cert.host == t.frontend_host:
        return "ucc-pfx", f"{SHELL}, step 5"
    return "ucc-pfx", f"{WEB}, step 5"


async def export_pfx_certificate(shell: HostShell, call: Invocation) -> list[Any]:
    """``Export-PfxCertificate``: one certificate with its key (and chain, BuildChain) to a PFX the export wizard's way."""
    bound = call.bound
    targets = _targets(shell, call)
    if not targets:
        return []
    if len(targets) > 1:
        raise Unsupported("the lab's Export-PfxCertificate writes one certificate per file: select one (Where-Object, "
                          "Select-Object -First 1)", call.command.offset)
    if "Password" not in bound:
        # The reference page: "Either the ProtectTo or this parameter must be specified, or an
        # error will be displayed"; the error's words are assumed.
        raise call.error("Either the Password or the ProtectTo parameter must be specified.", reason="ArgumentException")
    if bound.get("ChainOption") == "PfxDataOnly":
        raise call.error("The ChainOption PfxDataOnly is only valid with the PFXData parameter.",  # assumed wording
                         reason="ArgumentException")
    cert = targets[0]
    where = shell.files.locate(bound["FilePath"], call=call, offset=call.command.offset)
    if bound.get("NoClobber") and (where.local in shell.staging.files or where.local.exists()):
        raise call.error(f"The file '{where.windows}' already exists.", category="ResourceExists",  # assumed wording
                         reason="IOException")
    key = None
    if cert.has_private_key and cert.source is not None and cert.entry is not None:
        key = cert.source.private_key(cert.entry)
    if key is None:
        # PFXExportCertStoreEx finds no key to export: CRYPT_E_NOT_FOUND (assumed wording).
        raise call.error("Cannot find object or property. 0x80092004 (-2146885628 CRYPT_E_NOT_FOUND)",
                         category="NotSpecified", reason="Win32Exception", error_id="System.ComponentModel.Win32Exception")
    include_chain = bound.get("ChainOption", "BuildChain") == "BuildChain"
    staged = shell.staging.staged_path(where.local)
    password = bound["Password"].reveal()
    try:
        export_pfx(staged, certificate=cert.certificate, private_key=key, chain=_chain_for(shell, cert.certificate),
                   include_chain=include_chain, password=password,
                   # The cmdlet's default is TripleDES_SHA1 (its reference page).
                   encryption="aes256" if bound.get("CryptoAlgorithmOption") == "AES256_SHA256" else "3des",
                   friendly_name=None if bound.get("NoProperties") else cert.friendly_name,
                   key_exportable=cert.key_exportable)
    except KeyNotExportableError:
        raise call.error(KeyNotExportableError.POWERSHELL_TEXT, category="NotSpecified", reason="Win32Exception",
                         error_id="System.ComponentModel.Win32Exception") from None
    except ArtifactError as exc:
        raise call.error(exc.message, reason="CryptographicException") from None
    shell.notes.append(shell.files.describe(where))
    if where.artifacts:
        role, step = _file_role(shell, cert)
        shell.staging.manifest.append((role, where.local, "pkcs12", password, step))
    return [FileObject(where, staged.stat().st_size)]


async def export_certificate(shell: HostShell, call: Invocation) -> list[Any]:
    """``Export-Certificate``: DER (CERT, one certificate) or PKCS #7 (P7B) without the key."""
    bound = call.bound
    targets = _targets(shell, call)
    if not targets:
        return []
    # The reference page: CERT for one certificate, SST for several.
    kind = bound.get("Type", "CERT" if len(targets) == 1 else "SST")
    if kind == "SST":
        raise Unsupported("the lab does not write Microsoft serialized certificate stores (-Type SST): export one "
                          "certificate with -Type CERT, or several with -Type P7B", call.command.offset)
    where = shell.files.locate(bound["FilePath"], call=call, offset=call.command.offset)
    if bound.get("NoClobber") and (where.local in shell.staging.files or where.local.exists()):
        raise call.error(f"The file '{where.windows}' already exists.", category="ResourceExists",  # assumed wording
                         reason="IOException")
    staged = shell.staging.staged_path(where.local)
    if kind == "CERT":
        write_der_certificate(staged, targets[0].certificate)
    else:
        write_public_file(staged, pkcs7.serialize_certificates([t.certificate for t in targets], serialization.Encoding.DER))
    shell.notes.append(shell.files.describe(where))
    authority = shell.lab.authority
    assert authority is not None
    first = targets[0]
    if where.artifacts and kind == "CERT" and first.store == "Root" and first.host == shell.lab.topology.frontend_host \
            and first.certificate == authority.root_certificate:
        shell.staging.manifest.append(("lync-trusted-certificate", where.local, "der-certificate", None,
                                       "Exporting the Trusted Certificate from the Lync Skype for Business Host, step 5"))
    return [FileObject(where, staged.stat().st_size)]


async def import_certificate(shell: HostShell, call: Invocation) -> list[Any]:
    """``Import-Certificate -FilePath X -CertStoreLocation Cert:\\...``: the file's (first) certificate into a store."""
    bound = call.bound
    shell.require(call, bound, "FilePath")
    if "CertStoreLocation" not in bound:
        # The current location of a new session is the file system (HOME), not a store;
        # the cmdlet's words for that are assumed.
        raise call.error(f"The current location {HOME} is not a certificate store: give -CertStoreLocation, e.g. "
                         "Cert:\\LocalMachine\\Root.", reason="ArgumentException")
    store, shown = shell.store_location(bound["CertStoreLocation"], call, call.command.offset)
    where = shell.files.locate(bound["FilePath"], call=call, offset=call.command.offset)
    data = shell.staging.read(where.local)
    if data is None:
        # Win32 ERROR_FILE_NOT_FOUND as the PKI cmdlets surface it (assumed wording).
        raise call.error("The system cannot find the file specified. 0x80070002 (WIN32: 2 ERROR_FILE_NOT_FOUND)",
                         category="NotSpecified", reason="Win32Exception", target=where.windows)
    shell.notes.append(shell.files.describe(where))
    certificate = _certificate_from(data, where.local, call)
    shell.staging.stores.append(_StoreAdd(store, certificate, None, None, False))
    location, name = shown.split("\\")
    return [CertificateObject(certificate, location=location, store=name, host=shell.host_name)]


def _certificate_from(data: bytes, path: Path, call: Invocation) -> x509.Certificate:
    """The first certificate of a .cer (DER or Base-64) or .p7b file."""
    try:
        return pkcs7.load_der_pkcs7_certificates(data)[0]
    except (ValueError, IndexError):
        pass
    staged = path
    try:
        with tempfile.TemporaryDirectory() as folder:
            staged = Path(folder) / path.name
            staged.write_bytes(data)
            return read_certificate(staged)
    except ArtifactError as exc:
        # CRYPT_E_NO_MATCH-style refusal of a file that holds no certificate (assumed wording).
        raise call.error(f"Cannot find the requested object. 0x80092009 (-2146885623 CRYPT_E_NO_MATCH) -- "
                         f"{exc.message.replace(str(staged), path.name)}", category="NotSpecified",
                         reason="Win32Exception") from None


async def _account(shell: HostShell, call: Invocation) -> dict[str, Any]:
    """The account ``-Identity`` names (sAMAccountName), or the AD module's refusal."""
    lab = shell.lab
    assert lab.domain is not None
    name = to_text(call.bound["Identity"])
    try:
        account = await lab.domain.account(name)
    except AdminUnavailable as exc:
        raise call.error(f"Unable to contact the server. {exc}", category="ResourceUnavailable",
                         reason="ADServerDownException") from None
    if account is None:
        # The AD module's ADIdentityNotFoundException, as public transcripts of Get-ADUser and
        # Set-AD* show it (its resource text is not published: the exact words are assumed).
        base = ",".join(f"DC={p}" for p in lab.topology.domain.split("."))
        raise call.error(f"Cannot find an object with identity: '{name}' under: '{base}'.", category="ObjectNotFound",
                         reason="ADIdentityNotFoundException", target=f"{name}:{call.cmdlet.params[0].kind.split('.')[-1]}",
                         error_id="ActiveDirectoryCmdlet:Microsoft.ActiveDirectory.Management.ADIdentityNotFoundException")
    return account


def _stage_update(shell: HostShell, account: dict[str, Any], changes: dict[str, Any]) -> None:
    if changes:
        shell.staging.updates.append((account["sam_account_name"], changes))


async def set_ad_account_control(shell: HostShell, call: Invocation) -> list[Any]:
    """``Set-ADAccountControl``: the Account tab's options (-UseDESKeyOnly, -DoesNotRequirePreAuth, -Enabled)."""
    shell.require(call, call.bound, "Identity")
    account = await _account(shell, call)
    fields = {"UseDESKeyOnly": "use_des_key_only", "DoesNotRequirePreAuth": "dont_require_preauth", "Enabled": "enabled"}
    _stage_update(shell, account, {f: call.bound[p] for p, f in fields.items() if p in call.bound})
    return []


def _complex_enough(password: str, account: str) -> bool:
    """AD's default domain policy: at least 7 characters ("Minimum password length") and
    "Password must meet complexity requirements": three of upper case, lower case, digits
    and other characters, and not the account name (learn.microsoft.com, "Password must
    meet complexity requirements")."""
    if len(password) < 7 or (len(account) >= 3 and account.lower() in password.lower()):
        return False
    kinds = [any(c.isupper() for c in password), any(c.islower() for c in password),
             any(c.isdigit() for c in password), any(not c.isalnum() for c in password)]
    return sum(kinds) >= 3


async def set_ad_account_password(shell: HostShell, call: Invocation) -> list[Any]:
    """``Set-ADAccountPassword -Reset -NewPassword``: an administrator's reset, under the domain's password policy."""
    bound = call.bound
    shell.require(call, bound, "Identity")
    if not bound.get("Reset"):
        raise Unsupported("the lab's shell resets passwords (-Reset -NewPassword ...), as an administrator does; it "
                          "cannot check an -OldPassword", call.command.offset)
    shell.require(call, bound, "NewPassword")
    account = await _account(shell, call)
    password = bound["NewPassword"].reveal()
    if not _complex_enough(password, account["sam_account_name"]):
        # The AD module's ADPasswordComplexityException (quoted e.g. by til.secretgeek.net,
        # "How to determine password complexity rules"); 1325 is ERROR_PASSWORD_RESTRICTION.
        raise call.error("The password does not meet the length, complexity, or history requirement of the domain.",
                         category="InvalidData", reason="ADPasswordComplexityException",
                         target=f"{account['sam_account_name']}:ADAccount", error_id="ActiveDirectoryServer:1325")
    # A new password gives new keys with the next key version number (msDS-KeyVersionNumber),
    # and an administrator's reset sets pwdLastSet to now: the password is no longer expired
    # nor to be changed at the next logon (assumed from pwdLastSet's meaning, [MS-ADTS] 3.1.1.4.4).
    changes: dict[str, Any] = {"password": password, "kvno": int(account.get("kvno") or 1) + 1}
    changes.update({f: False for f in ("password_expired", "must_change_password") if f in account})
    _stage_update(shell, account, changes)
    return []


async def set_ad_user(shell: HostShell, call: Invocation) -> list[Any]:
    """``Set-ADUser``: -ChangePasswordAtLogon and -Enabled."""
    bound = call.bound
    shell.require(call, bound, "Identity")
    account = await _account(shell, call)
    changes: dict[str, Any] = {}
    if "Enabled" in bound:
        changes["enabled"] = bound["Enabled"]
    if "ChangePasswordAtLogon" in bound:
        if "must_change_password" not in account:
            raise Unsupported("the lab's domain controller has no 'User must change password at next logon' state (its "
                              f"accounts show {', '.join(sorted(account))})", call.command.offset)
        changes["must_change_password"] = bound["ChangePasswordAtLogon"]
    _stage_update(shell, account, changes)
    return []


async def certutil(shell: HostShell, call: Invocation) -> list[Any]:
    """``certutil [-config CA] -revoke SERIAL [REASON]`` (a native program: its words are
    passed as typed). The CA reads the serial and reason as certutil does (its admin action
    ``revoke``); the output and failures are certutil's: ``CertUtil: -revoke command
    completed successfully.``, ``CertUtil: -revoke command FAILED: 0x... (...)``."""
    lab = shell.lab
    assert lab.authority is not None
    words: list[str] = []
    for (element, value), node in zip(call.arguments, call.command.elements, strict=True):
        if isinstance(element, Parameter):
            words.append("-" + element.name)
            if element.argument is not None:
                words.append(to_text(value))
        elif isinstance(node, Number):
            words.append(node.text)  # a native program gets the word as typed
        else:
            words.extend(to_text(v) for v in (value if isinstance(value, list) else [value]))
    config = None
    if len(words) >= 2 and words[0].lower() == "-config":
        config, words = words[1], words[2:]
    if not words or words[0].lower() != "-revoke":
        raise Unsupported("the lab's certutil runs -revoke SerialNumber [Reason] (with -config CA when not on the CA)",
                          call.command.offset)
    args = words[1:]

    def failed(hresult: str, text: str, *before: str) -> NativeCommandFailed:
        return NativeCommandFailed([*before, f"CertUtil: -revoke command FAILED: {hresult}", f"CertUtil: {text}"])

    if config is None and shell.role != "ca":
        # certutil's IDS_ERR_FORMAT_NO_LOCAL_CONFIG (its source, certutil.cpp): no CA on this
        # machine; the lookup's ERROR_NO_MORE_ITEMS then fails the verb.
        raise failed("0x80070103 (WIN32/RPC: 259 ERROR_NO_MORE_ITEMS)", "No more data is available.",
                     "CertUtil: No local Certification Authority; use -config option")
    if config is not None:
        host, _, name = config.partition("\\")
        if host.lower() not in (lab.authority.host_fqdn.lower(), lab.authority.host_fqdn.split(".")[0].lower()) \
                or name.lower() != lab.authority.common_name.lower():
            raise failed("0x800706ba (WIN32: 1722 RPC_S_SERVER_UNAVAILABLE)", "The RPC server is unavailable.")
    if not args or len(args) > 2:
        # certutil's usage error (assumed: the verb's help is printed before it).
        raise failed("0x80070057 (WIN32: 87 ERROR_INVALID_PARAMETER)", "The parameter is incorrect.",
                     "Usage:", "  CertUtil [Options] -revoke SerialNumber [Reason]")
    shell.staging.refuse_second("certutil -revoke", call.command.offset)
    output = TextLines()
    request: dict[str, Any] = {"serial": args[0]}
    if len(args) == 2:
        request["reason"] = args[1]

    async def revoke() -> list[str]:
        try:
            answer = await lab.admin["ca"].act("revoke", request)
        except AdminUnavailable as exc:
            text = str(exc.args[0])
            if exc.status == 404 and ("no action" in text or "no POST" in text):
                raise Unsupported("the lab's CA stand-in has no revoke action yet (its admin API does not list "
                                  "actions/revoke), so certutil -revoke cannot run", call.command.offset) from None
            # The CA's refusal in certutil's words: "<text> 0x<hresult> (<symbol>): <what>".
            found = re.search(r"(?P<text>[^:]*?\.) (?P<hr>0x[0-9a-fA-F]{8} \([^)]*\))(?:: (?P<what>.*))?$",
                              text.removeprefix("ca: "))
            if found is None:
                raise failed("0x8000ffff (E_UNEXPECTED)", text) from None
            if found.group("what"):
                shell.notes.append(f"the CA: {found.group('what')}")
            raise failed(found.group("hr"), found.group("text")) from None
        output.lines += [f'Revoking "{answer.get("serial", args[0])}" -- Reason: {answer.get("reason_text", "")}',
                         "CertUtil: -revoke command completed successfully."]
        return []

    shell.staging.refusable, shell.staging.refusable_by = revoke, "revokes a certificate"
    return [output]


# -- the command table ---------------------------------------------------------------------------

_ALL = ("ca", "frontend", "ucc")
_AD_HOSTS = ("ca", "frontend")
_AD_COMMON = (Param("AuthType", modelled=False), Param("Credential", Kind.CREDENTIAL, modelled=False),
              Param("Partition", modelled=False), Param("PassThru", Kind.SWITCH, modelled=False),
              Param("Server", modelled=False))
_WHERE_SWITCHES = tuple(Param(n, Kind.SWITCH) for n in (
    "EQ", "CEQ", "NE", "CNE", "GT", "CGT", "LT", "CLT", "GE", "CGE", "LE", "CLE", "Like", "CLike", "NotLike", "CNotLike",
    "Match", "CMatch", "NotMatch", "CNotMatch", "Contains", "CContains", "NotContains", "CNotContains", "In", "CIn",
    "NotIn", "CNotIn")) + (Param("Is", Kind.SWITCH, modelled=False), Param("IsNot", Kind.SWITCH, modelled=False))
_SET_ADUSER_OTHERS = (
    "AccountExpirationDate", "AccountNotDelegated", "Add", "AllowReversiblePasswordEncryption", "AuthenticationPolicy",
    "AuthenticationPolicySilo", "CannotChangePassword", "Certificates", "City", "Clear", "Company",
    "CompoundIdentitySupported", "Country", "Department", "Description", "DisplayName", "Division", "EmailAddress",
    "EmployeeID", "EmployeeNumber", "Fax", "GivenName", "HomeDirectory", "HomeDrive", "HomePage", "HomePhone",
    "Initials", "Instance", "KerberosEncryptionType", "LogonWorkstations", "Manager", "MobilePhone", "Office",
    "OfficePhone", "Organization", "OtherName", "PasswordNeverExpires", "PasswordNotRequired", "POBox", "PostalCode",
    "PrincipalsAllowedToDelegateToAccount", "ProfilePath", "Remove", "Replace", "SamAccountName", "ScriptPath",
    "ServicePrincipalNames", "SmartcardLogonRequired", "State", "StreetAddress", "Surname", "Title",
    "TrustedForDelegation", "UserPrincipalName")

_CMDLETS: tuple[tuple[Cmdlet, tuple[str, ...]], ...] = (
    (Cmdlet("Get-ChildItem", (
        Param("Path", Kind.STRINGS, position=0, pipeline="value"), Param("Recurse", Kind.SWITCH, aliases=("s",)),
        Param("LiteralPath", Kind.STRINGS, aliases=("PSPath", "LP"), modelled=False),
        Param("Filter", position=1, modelled=False), Param("Include", Kind.STRINGS, modelled=False),
        Param("Exclude", Kind.STRINGS, modelled=False), Param("Depth", Kind.INT, modelled=False),
        Param("Force", Kind.SWITCH, modelled=False), Param("Name", Kind.SWITCH, modelled=False),
        Param("CodeSigningCert", Kind.SWITCH, modelled=False), Param("DocumentEncryptionCert", Kind.SWITCH, modelled=False),
        Param("SSLServerAuthentication", Kind.SWITCH, modelled=False), Param("DnsName", modelled=False),
        Param("Eku", Kind.STRINGS, modelled=False), Param("ExpiringInDays", Kind.INT, modelled=False),
    ), get_child_item, dotnet="Microsoft.PowerShell.Commands.GetChildItemCommand"), ("gci", "dir", "ls")),
    (Cmdlet("Get-Item", (
        Param("Path", Kind.STRINGS, position=0, pipeline="value"),
        Param("LiteralPath", Kind.STRINGS, aliases=("PSPath", "LP"), modelled=False),
        Param("Filter", modelled=False), Param("Include", Kind.STRINGS, modelled=False),
        Param("Exclude", Kind.STRINGS, modelled=False), Param("Force", Kind.SWITCH, modelled=False),
    ), get_item, dotnet="Microsoft.PowerShell.Commands.GetItemCommand"), ("gi",)),
    (Cmdlet("Where-Object", (
        Param("FilterScript", Kind.OBJECT, position=0), Param("Property"), Param("Value", Kind.OBJECT, position=1),
        Param("InputObject", Kind.OBJECT, pipeline="value"), *_WHERE_SWITCHES,
    ), where_object, dotnet="Microsoft.PowerShell.Commands.WhereObjectCommand"), ("where", "?")),
    (Cmdlet("Select-Object", (
        Param("Property", Kind.OBJECTS, position=0), Param("First", Kind.INT), Param("Last", Kind.INT),
        Param("Skip", Kind.INT), Param("ExpandProperty"), Param("InputObject", Kind.OBJECT, pipeline="value"),
        Param("ExcludeProperty", Kind.STRINGS, modelled=False), Param("Index", modelled=False),
        Param("SkipLast", Kind.INT, modelled=False), Param("Unique", Kind.SWITCH, modelled=False),
        Param("Wait", Kind.SWITCH, modelled=False),
    ), select_object, dotnet="Microsoft.PowerShell.Commands.SelectObjectCommand"), ("select",)),
    (Cmdlet("Format-List", (
        Param("Property", Kind.OBJECTS, position=0), Param("InputObject", Kind.OBJECT, pipeline="value"),
        Param("GroupBy", modelled=False), Param("View", modelled=False), Param("ShowError", Kind.SWITCH, modelled=False),
        Param("DisplayError", Kind.SWITCH, modelled=False), Param("Force", Kind.SWITCH, modelled=False),
        Param("Expand", modelled=False),
    ), format_list, dotnet="Microsoft.PowerShell.Commands.FormatListCommand"), ("fl",)),
    (Cmdlet("ConvertTo-SecureString", (
        Param("String", position=0, pipeline="value"), Param("AsPlainText", Kind.SWITCH), Param("Force", Kind.SWITCH),
        Param("SecureKey", Kind.SECURE, modelled=False), Param("Key", modelled=False),
    ), convert_to_secure_string, dotnet="Microsoft.PowerShell.Commands.ConvertToSecureStringCommand"), ()),
    (Cmdlet("Request-CsCertificate", (), request_cs_certificate, hosts=("frontend",), binds_itself=True), ()),
    (Cmdlet("Export-PfxCertificate", (
        Param("Cert", _CERT_TYPE, position=0, pipeline="property", aliases=("PsPath",)),
        Param("FilePath", position=1), Param("Password", Kind.SECURE),
        Param("ChainOption", "Microsoft.CertificateServices.Commands.ExportChainOption",
              choices=("BuildChain", "EndEntityCertOnly", "PfxDataOnly")),
        Param("CryptoAlgorithmOption", "Microsoft.CertificateServices.Commands.CryptoAlgorithmOptions",
              choices=("TripleDES_SHA1", "AES256_SHA256")),
        Param("NoClobber", Kind.SWITCH), Param("Force", Kind.SWITCH), Param("NoProperties", Kind.SWITCH),
        Param("PFXData", "Microsoft.CertificateServices.Commands.PfxData", modelled=False),
        Param("ProtectTo", Kind.STRINGS, modelled=False),
    ), export_pfx_certificate, dotnet="Microsoft.CertificateServices.Commands.ExportPfxCertificate",
        should_process=True), ()),
    (Cmdlet("Export-Certificate", (
        Param("Cert", _CERT_TYPE, pipeline="value"), Param("FilePath", aliases=("FullName",)),
        Param("Type", "Microsoft.CertificateServices.Commands.CertType", choices=("SST", "CERT", "P7B")),
        Param("NoClobber", Kind.SWITCH), Param("Force", Kind.SWITCH),
    ), export_certificate, should_process=True), ()),
    (Cmdlet("Import-Certificate", (
        Param("FilePath", position=0, pipeline="property", aliases=("FullName",)), Param("CertStoreLocation"),
    ), import_certificate, should_process=True), ()),
    (Cmdlet("Set-ADAccountControl", (
        Param("Identity", _AD_ACCOUNT, position=0, pipeline="value"), Param("UseDESKeyOnly", Kind.BOOLEAN),
        Param("DoesNotRequirePreAuth", Kind.BOOLEAN), Param("Enabled", Kind.BOOLEAN),
        *(Param(n, Kind.BOOLEAN, modelled=False) for n in (
            "AccountNotDelegated", "AllowReversiblePasswordEncryption", "CannotChangePassword", "HomedirRequired",
            "MNSLogonAccount", "PasswordNeverExpires", "PasswordNotRequired", "TrustedForDelegation",
            "TrustedToAuthForDelegation")),
        *_AD_COMMON,
    ), set_ad_account_control, hosts=_AD_HOSTS, should_process=True,
        dotnet="Microsoft.ActiveDirectory.Management.Commands.SetADAccountControl"), ()),
    (Cmdlet("Set-ADAccountPassword", (
        Param("Identity", _AD_ACCOUNT, position=0, pipeline="value"), Param("NewPassword", Kind.SECURE),
        Param("Reset", Kind.SWITCH), Param("OldPassword", Kind.SECURE, modelled=False), *_AD_COMMON,
    ), set_ad_account_password, hosts=_AD_HOSTS, should_process=True,
        dotnet="Microsoft.ActiveDirectory.Management.Commands.SetADAccountPassword"), ()),
    (Cmdlet("Set-ADUser", (
        Param("Identity", _AD_USER, position=0, pipeline="value"), Param("ChangePasswordAtLogon", Kind.BOOLEAN),
        Param("Enabled", Kind.BOOLEAN), *(Param(n, Kind.OBJECT, modelled=False) for n in _SET_ADUSER_OTHERS),
        *_AD_COMMON,
    ), set_ad_user, hosts=_AD_HOSTS, should_process=True,
        dotnet="Microsoft.ActiveDirectory.Management.Commands.SetADUser"), ()),
    (Cmdlet("certutil", (), certutil, binds_itself=True), ()),
)

#: Every command by lower-case name and alias.
COMMANDS: dict[str, Cmdlet] = {}
for _cmdlet, _aliases in _CMDLETS:
    for _name in (_cmdlet.name, *_aliases):
        COMMANDS[_name.lower()] = _cmdlet


# -- output --------------------------------------------------------------------------------------


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return "{" + ", ".join(_shown(v) for v in value) + "}"
    return to_text(value)


def render(values: list[Any]) -> str:
    """The console's rendering of a line's output: certificates and files as tables under
    their parent, other objects as lists or text."""
    out: list[str] = []
    i = 0
    while i < len(values):
        value = values[i]
        if isinstance(value, PendingCertificate):
            value = value.issued
            if value is None:
                i += 1
                continue
            props = value.properties()
            # Request-CsCertificate's result as a list (assumed: the fields of the certificate
            # objects the Lync/Skype for Business certificate cmdlets print).
            shown = {k: props[k] for k in ("Issuer", "NotAfter", "NotBefore", "SerialNumber", "Subject", "Thumbprint")}
            shown["AlternativeNames"] = _shown(props["DnsNameList"])
            width = max(len(k) for k in shown)
            out.append("\n" + "\n".join(f"{k.ljust(width)} : {v}" for k, v in shown.items()) + "\n")
            i += 1
            continue
        group_type = type(value)
        j = i
        while j < len(values) and type(values[j]) is group_type and _parent(values[j]) == _parent(value):
            j += 1
        group = values[i:j]
        if isinstance(value, CertificateObject):
            rows = [f"{c.thumbprint:<40}  {c.properties()['Subject']}" for c in group]
            out.append(f"\n   PSParentPath: {value.parent_path}\n\nThumbprint{' ' * 32}Subject\n"
                       f"----------{' ' * 32}-------\n" + "\n".join(rows) + "\n")
        elif isinstance(value, FileObject):
            rows = []
            for f in group:
                p = f.properties()
                rows.append(f"{p['Mode']:<14}{p['LastWriteTime']:>22} {p['Length']:>14} {p['Name']}")
            out.append(f"\n    Directory: {value.properties()['DirectoryName']}\n\n\nMode                LastWriteTime"
                       "         Length Name\n----                -------------         ------ ----\n" + "\n".join(rows) + "\n")
        elif isinstance(value, ContainerObject):
            out.append(f"\n   PSParentPath: {value.parent}\n\nName\n----\n" + "\n".join(c.name for c in group) + "\n")
        elif isinstance(value, SelectedObject):
            names = list(value.values)
            widths = [max(len(n), *(len(_shown(v.values.get(n))) for v in group)) for n in names]
            header = " ".join(n.ljust(w) for n, w in zip(names, widths, strict=True))
            rule = " ".join(("-" * len(n)).ljust(w) for n, w in zip(names, widths, strict=True))
            rows = [" ".join(_shown(v.values.get(n)).ljust(w) for n, w in zip(names, widths, strict=True)) for v in group]
            out.append("\n" + "\n".join([header, rule, *rows]) + "\n")
        elif isinstance(value, ListOutput):
            out.extend("\n" + v.text + "\n" for v in group)
        else:
            out.extend(_shown(v) for v in group if v is not None)
        i = j
    return "\n".join(out)


def _parent(value: Any) -> str:
    if isinstance(value, CertificateObject):
        return value.parent_path
    if isinstance(value, FileObject):
        return ntpath.dirname(value.where.windows) + value.where.host
    if isinstance(value, ContainerObject):
        return value.parent
    if isinstance(value, SelectedObject):
        return ",".join(value.values)
    return ""
