"""The lab: the stand-ins composed on loopback, with a state folder, ``lab.json`` and the manifest.

One :class:`Lab` is one event loop's worth of servers on ``127.0.0.1`` with port 0 (the
OS picks free ports), so labs run side by side and under pytest-xdist. Everything a lab
knows lives in its workdir::

    WORKDIR/lab.json              endpoints and lab accounts (mode 0600; a contract)
    WORKDIR/state/secrets.json    the lab's generated passwords (0600)
    WORKDIR/state/ca/             the CA stand-in: keys, certificates, ca.sqlite
    WORKDIR/state/configserver.sqlite
    WORKDIR/state/hosts/HOST/     each Windows host's certificate stores
    WORKDIR/state/frontend/       the Front End's certificate chain and key (as PEM, 0600)
    WORKDIR/artifacts/            the page's files and manifest.json
    WORKDIR/logs/                 the Front End's event log (JSONL) and, when asked, the
                                  NSS key log that lets Wireshark decrypt the SIP
    WORKDIR/lab.lock              who runs a lab in this folder now (pid, command)
    WORKDIR/state/endpoints.json  where the last lab listened (to follow its moves)

The folders the lab creates are 0700 whatever the umask: another local user must not be
able to swap a PFX, a krb5.conf or a key log. One lab at a time per workdir (a second one
is refused, naming the first); a lab started again on the same workdir reopens all of
it — the same CA, the same certificates in the hosts' stores, the same Application
object — and files naming a port of the last run (``artifacts/krb5.conf``'s KDC) follow
the new ports.
"""

from __future__ import annotations

import dataclasses
import datetime
import fcntl
import json
import ntpath
import os
import re
import secrets
import shutil
import socket
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from fakes._files import write_private_file, write_public_file
from fakes.ca import CAError, CertificationAuthority, CertsrvServer
from fakes.configserver import CfgApplication, ConfigServer, ConfigServerClient, StoreError
from fakes.frontend import FrontendConfig, FrontendKerberos, FrontendServer
from fakes.kdc import Account, KdcServer

from .activedirectory import ActiveDirectory, DirectoryError

from .hosts import HostStoreError, WindowsHost
from .manifest import Manifest, ManifestError

__all__ = ["Topology", "Lab", "LabError", "free_port", "make_private_folder"]


class LabError(RuntimeError):
    """The lab cannot start: an unusable workdir, a corrupt state file."""


@dataclass(frozen=True)
class Topology:
    """Names and accounts of the page's deployment; defaults are the page's examples.

    The page's CA is ``labdc01.companya.com\\companya-LABDC01-CA``; its UC Connector
    account is ``ocs-ucc``. With ``two_tier_ca`` the page's CA becomes an issuing CA below
    an offline root, which is when "Include all certificates in the certification path"
    makes a difference.
    """

    domain: str = "companya.com"
    ca_host: str = "labdc01"
    frontend_host: str = "fe01"
    ucc_host: str = "ucc01"
    ca_name: str = "companya-LABDC01-CA"
    two_tier_ca: bool = False
    root_ca_name: str = "companya-ROOT-CA"
    ucc_account: str = "ocs-ucc"
    enroll_username: str = "labadmin"
    application_name: str = "UCC_Lync"
    # The page's "Generating the Front End Server Certificate" exports fe01's domain
    # certificate with its key, which only works when the key was enrolled exportable.
    frontend_key_exportable: bool = True
    # The template of fe01's domain certificate, the one the Front End presents. The
    # Computer template ("Machine") allows client and server authentication; a Lync
    # default certificate from "WebServer" is serverAuth-only, which a Java connector
    # refuses when the Front End connects to its Secured port.
    frontend_template: str = "Machine"

    @property
    def realm(self) -> str:
        return self.domain.upper()

    def fqdn(self, host: str) -> str:
        return f"{host}.{self.domain}"

    @property
    def ca_fqdn(self) -> str:
        return self.fqdn(self.ca_host)

    @property
    def frontend_fqdn(self) -> str:
        return self.fqdn(self.frontend_host)

    @property
    def ucc_fqdn(self) -> str:
        return self.fqdn(self.ucc_host)

    @property
    def frontend_spn(self) -> str:
        """The service principal name MS-SIPAE's targetname gives: ``sip/<frontend fqdn>``."""
        return f"sip/{self.frontend_fqdn}"

    @property
    def ucc_working_directory(self) -> str:
        """Where the page says the UC Connector is installed (``C:\\GCTI\\UCConnector\\<app>``)."""
        return f"C:\\GCTI\\UCConnector\\{self.application_name}"


@dataclass
class LabSecrets:
    """Passwords the page leaves to the administrator; generated once per workdir."""

    enroll_password: str
    ucc_account_password: str
    frontend_computer_password: str
    # The lab's Configuration Server login. Not Genesys's fixed default/password: the
    # Application object there holds the connector's AD password. Empty in a workdir made
    # before the lab had it; filled in on load.
    configserver_password: str = ""
    CONFIGSERVER_USERNAME = "default"

    @classmethod
    def load_or_create(cls, path: Path) -> "LabSecrets":
        if path.exists():
            try:
                loaded = cls(**json.loads(path.read_text()))
            except (ValueError, TypeError) as exc:
                raise LabError(f"{path}: unreadable lab secrets ({exc}); remove the workdir to start afresh") from exc
            if loaded.configserver_password:
                return loaded
            loaded.configserver_password = _password()
            write_private_file(path, json.dumps(asdict(loaded), indent=2).encode())
            return loaded
        made = cls(
            enroll_password=_password(),
            ucc_account_password=_password(),
            frontend_computer_password=_password(),
            configserver_password=_password(),
        )
        write_private_file(path, json.dumps(asdict(made), indent=2).encode())
        return made


def _password() -> str:
    # AD's default complexity rules: upper, lower, digit, 12+ characters.
    return "Lab-" + secrets.token_urlsafe(9) + "1a"


class Lab:
    """The stand-ins of one lab, started together on loopback.

    Use as ``async with Lab(workdir) as lab:``. ``ca_seed`` names a CA state folder to
    copy when the workdir has none yet: the pytest plugin pays the CA's key generation
    once per session that way. ``lab.json`` is written once the stand-ins serve (unless
    ``publish`` is false; the caller then calls :meth:`write_lab_json` when ready).
    """

    def __init__(
        self,
        workdir: Path | str,
        topology: Topology = Topology(),
        *,
        ca_seed: Path | None = None,
        host: str = "127.0.0.1",
        publish: bool = True,
        keylog: bool = False,
        java_home: Path | None = None,
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.topology = topology
        self.ca_seed = ca_seed
        self.bind_host = host
        # Write lab.json as soon as the stand-ins serve; ``ucclab up`` writes it itself,
        # after bringing the lab to the page's end state.
        self.publish = publish
        self.keylog = keylog
        # The JDK whose lib/security holds jssecacerts/cacerts, where the connector looks
        # when it is given no trust store: the machine's own JDK unless told otherwise.
        self.java_home = java_home if java_home is not None else find_java_home()
        self.logs_dir = self.workdir / "logs"
        self.state_dir = self.workdir / "state"
        self.artifacts_dir = self.workdir / "artifacts"
        self.lab_json_path = self.workdir / "lab.json"
        self.ca: CertificationAuthority | None = None
        self.certsrv: CertsrvServer | None = None
        self.configserver: ConfigServer | None = None
        self.frontend: FrontendServer | None = None
        self.kdc: KdcServer | None = None
        self.directory: ActiveDirectory | None = None
        self.secrets: LabSecrets | None = None
        self.manifest: Manifest | None = None
        self.hosts: dict[str, WindowsHost] = {}
        self.setup_notes: list[str] = []
        self._lock = _WorkdirLock(self.workdir / "lab.lock")

    # -- names ---------------------------------------------------------------------------
    def host_name(self, role: str) -> str:
        """Short host name for a topology role (``ca``, ``frontend``, ``ucc``)."""
        return {"ca": self.topology.ca_host, "frontend": self.topology.frontend_host, "ucc": self.topology.ucc_host}[role]

    def host(self, role: str) -> WindowsHost:
        return self.hosts[role]

    # -- life cycle ----------------------------------------------------------------------
    async def start(self) -> "Lab":
        """Open (or create) the lab's state and start every stand-in; on any failure,
        whatever was started is stopped again and a :class:`LabError` names the cause."""
        try:
            self._make_folders()
            stale = self._lock.acquire()
        except OSError as exc:
            raise LabError(f"cannot use {self.workdir} as the lab's workdir: {exc.strerror}") from exc
        if stale:
            self.setup_notes.append(stale)
        try:
            await self._start()
        except (CAError, StoreError, DirectoryError, ManifestError, HostStoreError) as exc:
            await self.close()
            raise LabError(f"the lab's state in {self.workdir} is unusable: {exc}; remove the workdir to start afresh") from exc
        except BaseException:
            await self.close()
            raise
        if self.publish:
            self.write_lab_json()
        return self

    async def _start(self) -> None:
        t = self.topology
        self.secrets = LabSecrets.load_or_create(self.state_dir / "secrets.json")
        self.manifest = Manifest(self.artifacts_dir)
        self.ca = self._open_ca()
        for role in ("ca", "frontend", "ucc"):
            name = self.host_name(role)
            self.hosts[role] = WindowsHost(name, t.fqdn(name), self.state_dir / "hosts" / name)
        self._join_domain()
        self.directory = ActiveDirectory(self.state_dir / "ad.json", self._domain_accounts())
        self.kdc = KdcServer(list(self.directory.accounts.values()), realm=t.realm)
        await self.kdc.start(self.bind_host, 0)
        self.directory.on_change = self.kdc.core.directory.update
        self.certsrv = CertsrvServer(self.ca, accounts={t.enroll_username: self.secrets.enroll_password})
        await self.certsrv.start(self.bind_host, 0)
        self.configserver = ConfigServer(
            self.state_dir / "configserver.sqlite",
            users={LabSecrets.CONFIGSERVER_USERNAME: self.secrets.configserver_password},
        )
        await self.configserver.start(self.bind_host, 0)
        await self._ensure_application()
        self.frontend = FrontendServer(self._frontend_config(), event_log_path=self.logs_dir / "frontend-events.jsonl")
        await self.frontend.start(self.bind_host, 0)
        await self._follow_moved_ports()

    async def close(self) -> None:
        if self.kdc is not None:
            await self.kdc.close()
            self.kdc = None
        if self.frontend is not None:
            await self.frontend.close()
            self.frontend = None
        if self.certsrv is not None:
            await self.certsrv.close()
            self.certsrv = None
        if self.configserver is not None:
            await self.configserver.close()
            self.configserver = None
        if self.ca is not None:
            self.ca.close()
            self.ca = None
        self._lock.release()

    async def __aenter__(self) -> "Lab":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _make_folders(self) -> None:
        """The workdir (and any missing parent), ``state/``, ``artifacts/`` and ``logs/``, mode 0700.

        ``mkdir``'s mode is cut by the umask (under ``umask 000`` the folders would be
        0777), so each is set with ``chmod``. A workdir that already holds a lab's state
        loses group and other write permission; a folder of the user's that is not a lab
        yet keeps its mode.
        """
        if not make_private_folder(self.workdir) and self.state_dir.is_dir():
            mode = self.workdir.stat().st_mode
            if mode & 0o022:
                os.chmod(self.workdir, mode & 0o7755)
        for folder in (self.state_dir, self.artifacts_dir, self.logs_dir):
            folder.mkdir(mode=0o700, exist_ok=True)
            os.chmod(folder, 0o700)

    async def _follow_moved_ports(self) -> None:
        """After a restart: the files and objects naming a port of the last run follow this run's.

        Every stand-in listens on a new port each run. What names one:
        ``artifacts/krb5.conf`` (its realm's ``kdc = HOST:PORT``, written by "Creating the
        Configuration File for Kerberos security"; a KDC line naming anything else is the
        user's and stays), and the Application object's Secured SIP port, chosen free in
        the last run, which a stand-in may hold now. ``lab.json`` is written anew anyway.
        """
        assert self.kdc is not None and self.frontend is not None and self.certsrv is not None
        assert self.configserver is not None and self.manifest is not None
        record = self.state_dir / "endpoints.json"
        kdc = f"{self.bind_host}:{self.kdc.port}"
        previous = _previous_kdc(record, self.lab_json_path)
        write_public_file(record, (json.dumps({"kdc": kdc}) + "\n").encode())
        conf = self.manifest.file("krb5-conf")
        if previous and previous != kdc and conf is not None and conf.is_file():
            try:
                text = conf.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                self.setup_notes.append(f"{conf}: not read ({exc}), so its KDC line still names {previous}")
            else:
                line = re.compile(rf"^(\s*kdc\s*=\s*){re.escape(previous)}(\s*)$", re.MULTILINE)
                followed, count = line.subn(lambda m: f"{m.group(1)}{kdc}{m.group(2)}", text)
                if count:
                    write_public_file(conf, followed.encode("utf-8"))
                    self.setup_notes.append(
                        f"artifacts/{conf.name}: the KDC listens on {kdc} now (last run {previous}); its kdc line follows"
                    )
        taken = {self.kdc.port, self.frontend.port, self.certsrv.port, self.configserver.port}
        async with self.configserver_client() as cfg:
            app = await cfg.find_application(self.topology.application_name)
            clashes = [p for p in app.port_infos if p.port in taken] if app is not None else []
            if app is None or not clashes:
                return
            moved = {p.id: free_port(self.bind_host) for p in clashes}
            app.port_infos = [dataclasses.replace(p, port=moved[p.id]) if p.id in moved else p for p in app.port_infos]
            await cfg.update_application(app)
        for port in clashes:
            self.setup_notes.append(
                f"the Application's port {port.id} ({port.port}) is a stand-in's port in this run: moved to {moved[port.id]}"
            )

    def _open_ca(self) -> CertificationAuthority:
        t = self.topology
        ca_dir = self.state_dir / "ca"
        if not ca_dir.exists() and self.ca_seed is not None:
            shutil.copytree(self.ca_seed, ca_dir)
        return CertificationAuthority.open_or_create(
            ca_dir,
            common_name=t.ca_name,
            host_fqdn=t.ca_fqdn,
            two_tier=t.two_tier_ca,
            root_common_name=t.root_ca_name,
        )

    def _join_domain(self) -> None:
        """What joining the domain gives each host: the root CA trusted, fe01 a domain certificate.

        Group policy puts the enterprise root into every member's Trusted Root store, and
        autoenrollment gives a computer its "domain certificate" from the Computer
        (``Machine``) template — the certificate the page's "Generating the Front End
        Server Certificate" starts from.
        """
        assert self.ca is not None
        for host in self.hosts.values():
            if not host.trusted_roots.find(subject_cn=_cn(self.ca.root_certificate)):
                host.trusted_roots.add(self.ca.root_certificate)
        frontend = self.hosts["frontend"]
        if frontend.personal.find(subject_cn=frontend.fqdn):
            return
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, frontend.fqdn)]))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(frontend.fqdn)]), critical=False)
            .sign(key, hashes.SHA256())
        )
        result = self.ca.submit(csr, template=self.topology.frontend_template, requester=frontend.fqdn)
        if result.certificate is None:
            raise LabError(f"the lab CA refused {frontend.fqdn}'s domain certificate: {result.message}")
        frontend.personal.add(result.certificate, key, key_exportable=self.topology.frontend_key_exportable)
        self.setup_notes.append(
            f"{frontend.fqdn} enrolled its domain certificate (template {self.topology.frontend_template}, request {result.request_id})"
            + (", key marked exportable so the page's Front End export can work" if self.topology.frontend_key_exportable else "")
        )

    def _domain_accounts(self) -> list[Account]:
        """The accounts a new domain gets: the connector's OCS user and fe01's computer account."""
        assert self.secrets is not None
        t = self.topology
        return [
            Account(t.ucc_account, self.secrets.ucc_account_password, upn=f"{t.ucc_account}@{t.domain}"),
            Account(
                f"{t.frontend_host.upper()}$",
                self.secrets.frontend_computer_password,
                spns=(t.frontend_spn, f"HOST/{t.frontend_fqdn}"),
            ),
        ]

    def _frontend_config(self) -> FrontendConfig:
        """The Front End presents fe01's domain certificate and trusts the enterprise root.

        Its known peers are the topology's trusted application computer (the UC
        Connector host) and the pool's own server, as Lync's topology would list them.
        Only the root is trusted: a client must send its intermediate CAs itself, which is
        what "Include all certificates in the certification path" is for.
        """
        assert self.ca is not None
        t = self.topology
        frontend = self.hosts["frontend"]
        entry = [e for e in frontend.personal.find(subject_cn=frontend.fqdn) if e.has_private_key][-1]
        key = frontend.personal.private_key(entry)
        folder = self.state_dir / "frontend"
        pem = serialization.Encoding.PEM
        intermediates = [c for c in self.ca.chain if c != self.ca.root_certificate]
        chain_path = write_public_file(
            folder / "certificate-chain.pem", b"".join(c.public_bytes(pem) for c in [entry.certificate, *intermediates])
        )
        key_path = write_private_file(
            folder / "private-key.pem",
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        )
        roots_path = write_public_file(folder / "trusted-roots.pem", self.ca.root_certificate.public_bytes(pem))
        assert self.directory is not None
        computer = self.directory.get(f"{t.frontend_host.upper()}$")
        return FrontendConfig(
            fqdn=t.frontend_fqdn,
            certificate_chain=chain_path,
            private_key=key_path,
            trusted_cas=roots_path,
            known_peers=(t.ucc_fqdn, t.frontend_fqdn),
            keylog_path=self.logs_dir / "sslkeylog.txt" if self.keylog else None,
            # MS-SIPAE Kerberos for TLS clients without a certificate: the keys of the
            # computer account that holds sip/<fqdn>, as its keytab would hold them.
            kerberos=FrontendKerberos(tuple(computer.keys(t.realm).values())),
        )

    async def _ensure_application(self) -> None:
        """Create the UC Connector's Application object, as the deployment guide has it, once."""
        t = self.topology
        async with self.configserver_client() as cfg:
            if await cfg.find_application(t.application_name) is not None:
                return
            app = CfgApplication(
                name=t.application_name,
                # The OCS user the connector logs in as; the page adds its password.
                options={"Microsoft-OCS": {"user": t.ucc_account}},
                type="CFGGenericServer",
                version="8.1.0",
                work_directory=t.ucc_working_directory,
                command_line="startup.bat",
                command_line_arguments=f"-host {t.ca_fqdn} -port 2020 -app {t.application_name}",
            )
            await cfg.create_application(app)

    # -- the UC Connector host's file system -------------------------------------------------
    def windows_path(self, file_name: str) -> str:
        """Where the lab places a page file on the UC Connector host: its ``etc`` folder."""
        return f"{self.topology.ucc_working_directory}\\etc\\{file_name}"

    def resolve_windows_path(self, path: str) -> Path:
        """The lab file a Windows path on the UC Connector host stands for (by file name)."""
        return self.artifacts_dir / ntpath.basename(path)

    # -- clients and endpoints ------------------------------------------------------------
    def configserver_client(self) -> ConfigServerClient:
        """A client of the lab's Configuration Server, logging in with the lab's account."""
        assert self.configserver is not None and self.secrets is not None, "the lab is not started"
        return ConfigServerClient(
            self.configserver.url, LabSecrets.CONFIGSERVER_USERNAME, self.secrets.configserver_password
        )

    @property
    def ca_root_pem_path(self) -> Path:
        assert self.ca is not None
        return self.ca.root_certificate_path

    def lab_json(self) -> dict[str, Any]:
        """The ``lab.json`` document (DESIGN.md contract)."""
        assert self.certsrv and self.configserver and self.frontend and self.kdc and self.secrets
        t = self.topology
        return {
            "domain": t.domain,
            "realm": t.realm,
            "hosts": {"ca": t.ca_fqdn, "frontend": t.frontend_fqdn, "ucc": t.ucc_fqdn},
            "endpoints": {
                "certsrv": self.certsrv.url,
                "configserver": self.configserver.url,
                "frontend": {"host": self.bind_host, "port": self.frontend.port},
                "kdc": {"host": self.bind_host, "port": self.kdc.port},
            },
            "accounts": {
                "enroll": {"username": t.enroll_username, "password": self.secrets.enroll_password},
                "configserver": {
                    "username": LabSecrets.CONFIGSERVER_USERNAME,
                    "password": self.secrets.configserver_password,
                },
            },
            "manifest": "artifacts/manifest.json",
            "kerberos": {
                "realm": t.realm,
                "kdc": f"{self.bind_host}:{self.kdc.port}",
                "ucc_principal": f"{t.ucc_account}@{t.realm}",
                "ucc_password": self.secrets.ucc_account_password,
                "frontend_spn": f"{t.frontend_spn}@{t.realm}",
            },
        }

    def write_lab_json(self) -> Path:
        return write_private_file(self.lab_json_path, (json.dumps(self.lab_json(), indent=2) + "\n").encode())


def free_port(host: str) -> int:
    """A TCP port nothing listens on now at ``host`` (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def make_private_folder(path: Path) -> bool:
    """Create ``path`` and its missing parents with mode 0700 whatever the umask; True if
    ``path`` was made here."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)
    return bool(missing)


def _previous_kdc(record: Path, lab_json: Path) -> str | None:
    """``HOST:PORT`` of the last run's KDC: the lab's own record, else the last lab.json."""
    try:
        if record.is_file():
            return str(json.loads(record.read_text())["kdc"])
        if lab_json.is_file():
            kdc = json.loads(lab_json.read_text())["endpoints"]["kdc"]
            return f"{kdc['host']}:{kdc['port']}"
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no trustworthy record: nothing is rewritten
    return None


class _WorkdirLock:
    """One lab per workdir: an exclusive ``flock`` on ``WORKDIR/lab.lock`` while the lab runs.

    The kernel drops a ``flock`` when its holder closes the file or dies, killed or not, so
    a lock file left behind never blocks a new lab: only a live holder does (no pid has to
    be guessed alive or dead). The file names the holder — pid, command, start time — for
    the refusal, and is emptied when its lab stops. A second lab in the same process is
    refused too: each lab opens the file anew, and two opens conflict.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> str | None:
        """Take the lock or raise :class:`LabError` naming the lab that holds it; returns a
        note when a lab that did not stop cleanly left its record behind."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise LabError(
                f"{self.path.parent} is in use by another lab ({_describe_holder(holder)}): two labs in one folder "
                "would share its CA database, event logs and lab.json. Stop that lab first (Ctrl-C, or kill "
                f"{holder.get('pid', 'its process')}), or give another --workdir"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        left = _read_holder(fd)
        me = {"pid": os.getpid(), "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
              "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
        self._fd = fd
        if left:
            return f"{self.path.name}: the lab of {_describe_holder(left)} did not stop cleanly; its lock was free and is taken over"
        return None

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
        finally:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        data = os.pread(fd, 4096, 0)
        holder = json.loads(data) if data.strip() else {}
    except (OSError, ValueError):
        return {"pid": "?"}
    return holder if isinstance(holder, dict) else {"pid": "?"}


def _describe_holder(holder: dict[str, Any]) -> str:
    parts = [f"pid {holder.get('pid', '?')}"]
    if holder.get("command"):
        parts.append(f"`{holder['command']}`")
    if holder.get("started"):
        parts.append(f"since {holder['started']}")
    return ", ".join(parts)


def find_java_home() -> Path | None:
    """The JDK of the ``java`` on PATH (``$JAVA_HOME`` first), or None when there is none."""
    if os.environ.get("JAVA_HOME"):
        return Path(os.environ["JAVA_HOME"])
    java = shutil.which("java")
    if java is None:
        return None
    return Path(java).resolve().parent.parent


def _cn(certificate: x509.Certificate) -> str:
    return str(certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)

