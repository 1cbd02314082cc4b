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
import ipaddress
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
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from fakes._files import write_private_file, write_public_file
from fakes.ca import CAError, CertificationAuthority, CertsrvServer
from fakes.configserver import CfgApplication, ConfigServer, ConfigServerClient, StoreError
from fakes.frontend import FrontendServer, write_service_keys
from fakes.host import HostConfigError, RunningHost, start_host
from fakes.kdc import Account, KdcServer, domain_controller_account, load_accounts_file
from fakes.kdc.admin import save_accounts

from .admin import AdminClient, local_client
from .connector.service import ConnectorService, start_connector
from .errors import HostDown, LabError
from .hosts import HostStoreError, WindowsHost
from .keys import KeyCache
from .labservices import Address, Authority, Domain, Endpoints
from .manifest import Manifest, ManifestError

__all__ = ["Topology", "LabBase", "Lab", "Deployment", "LabError", "HostDown", "LabSecrets", "free_port", "make_private_folder", "HOSTS", "WINDOWS_ROLES", "WorkdirLock"]


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
    # The Genesys host of the Configuration Server (the page does not name it: the lab's choice).
    configserver_host: str = "gcfg01"
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

    @property
    def administrator(self) -> str:
        """The domain's Administrator as AD CS records a requester: ``COMPANYA\\Administrator``
        (the NetBIOS domain name taken as the DNS name's first label, as the lab's domain has it)."""
        return f"{self.domain.split('.')[0].upper()}\\Administrator"

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
    def configserver_fqdn(self) -> str:
        return self.fqdn(self.configserver_host)

    @property
    def host_names(self) -> dict[str, str]:
        """The short name of each host, by its role in the lab (:data:`HOSTS`)."""
        return {"ca": self.ca_host, "frontend": self.frontend_host, "ucc": self.ucc_host,
                "configserver": self.configserver_host}

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Topology":
        """Inverse of :meth:`to_json`; unknown keys are refused (a lab.json from elsewhere)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown topology fields {sorted(unknown)}")
        return cls(**data)

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
    # The token of the stand-ins' admin API (lab.json's "admin"); filled in on load when missing.
    admin_token: str = ""
    CONFIGSERVER_USERNAME = "default"

    @classmethod
    def load_or_create(cls, path: Path) -> "LabSecrets":
        if path.exists():
            try:
                loaded = cls(**json.loads(path.read_text()))
            except (ValueError, TypeError) as exc:
                raise LabError(f"{path}: unreadable lab secrets ({exc}); remove the workdir to start afresh") from exc
            if loaded.configserver_password and loaded.admin_token:
                return loaded
            loaded.configserver_password = loaded.configserver_password or _password()
            loaded.admin_token = loaded.admin_token or secrets.token_urlsafe(24)
            write_private_file(path, json.dumps(asdict(loaded), indent=2).encode())
            return loaded
        made = cls(
            enroll_password=_password(),
            ucc_account_password=_password(),
            frontend_computer_password=_password(),
            configserver_password=_password(),
            admin_token=secrets.token_urlsafe(24),
        )
        write_private_file(path, json.dumps(asdict(made), indent=2).encode())
        return made


#: The hosts of a lab by role, and what each runs: labdc01 is a domain controller with the
#: enterprise CA (certsrv) and the KDC; fe01 the Front End; a Genesys host the
#: Configuration Server; ucc01 the UC Connector.
HOSTS: dict[str, tuple[str, ...]] = {
    "ca": ("ca", "kdc"), "configserver": ("configserver",), "frontend": ("frontend",), "ucc": ("connector",),
}
#: The Secured SIP port the lab gives the connector on a host of its own (assumed: any
#: free port will do, the page says; this one is next to Lync's 5061 and 5067/5068).
UCC_SECURE_PORT = 5070
#: The Windows machines of the page, whose certificate stores the lab keeps.
WINDOWS_ROLES = ("ca", "frontend", "ucc")


def _password() -> str:
    # AD's default complexity rules: upper, lower, digit, 12+ characters.
    return "Lab-" + secrets.token_urlsafe(9) + "1a"


class LabBase:
    """What every lab offers the page's steps, the drivers and the judge, wherever its
    stand-ins run: its folder and files, its hosts' certificate stores, its secrets, where
    its services are (:attr:`endpoints` as this process reaches them, :attr:`network` as
    the lab's own hosts reach each other), and each stand-in's admin API (:attr:`admin`).

    :class:`Lab` runs the stand-ins in this process; :class:`harness.attach.AttachedLab`
    meets a lab that runs elsewhere (containers, a LAN, another ``ucclab up``) through
    ``lab.json``. The page's steps and the judge see no difference.
    """

    def __init__(
        self, workdir: Path | str, topology: Topology, *, java_home: Path | None = None, keys: KeyCache | None = None
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.topology = topology
        # Where the lab's RSA keys come from (None: each made anew, where it is needed).
        self.keys = keys
        # The JDK whose lib/security holds jssecacerts/cacerts, where the connector looks
        # when it is given no trust store: the machine's own JDK unless told otherwise.
        self.java_home = java_home if java_home is not None else find_java_home()
        self.logs_dir = self.workdir / "logs"
        self.state_dir = self.workdir / "state"
        self.artifacts_dir = self.workdir / "artifacts"
        self.hosts_dir = self.workdir / "hosts"
        self.lab_json_path = self.workdir / "lab.json"
        self.secrets: LabSecrets | None = None
        self.manifest: Manifest | None = None
        self.hosts: dict[str, WindowsHost] = {}
        self.setup_notes: list[str] = []
        self.admin: dict[str, AdminClient] = {}
        self.endpoints: Endpoints | None = None
        self.network: Endpoints | None = None
        self.authority: Authority | None = None
        self.domain: Domain | None = None
        #: The lab console's URL when one serves this lab (``ucclab up``): ``endpoints.console``.
        self.console_url: str | None = None
        #: This machine's address as the lab's hosts reach it, where they live in a network of
        #: their own (a container lab: its bridge's gateway); None otherwise.
        self.host_in_lab: str | None = None

    # -- names ---------------------------------------------------------------------------
    def host_name(self, role: str) -> str:
        """Short host name for a topology role (``ca``, ``frontend``, ``ucc``, ``configserver``)."""
        return self.topology.host_names[role]

    def host(self, role: str) -> WindowsHost:
        return self.hosts[role]

    def rsa_key(self, role: str, bits: int = 2048) -> rsa.RSAPrivateKey:
        """A new RSA key, as a host of the lab makes one at a step (``role`` says which: its
        key cache keeps one per role and size; without a cache it is generated now)."""
        if self.keys is None:
            return rsa.generate_private_key(public_exponent=65537, key_size=bits)
        return self.keys.rsa_key(role, bits)

    def _open_files(self) -> None:
        """The lab's secrets, manifest and the Windows hosts' certificate stores."""
        t = self.topology
        self.secrets = LabSecrets.load_or_create(self.state_dir / "secrets.json")
        self.manifest = Manifest(self.artifacts_dir)
        for role in WINDOWS_ROLES:
            name = self.host_name(role)
            self.hosts[role] = WindowsHost(name, t.fqdn(name), self.state_dir / "hosts" / name)

    async def ensure_application(self) -> None:
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
                command_line_arguments=f"-host {t.configserver_fqdn} -port 2020 -app {t.application_name}",
            )
            await cfg.create_application(app)

    async def _open_services(self) -> None:
        """The CA and the domain as the page's steps use them, once :attr:`admin` is set."""
        self.authority = await Authority.load(self.admin["ca"])
        self.domain = Domain(self.admin["kdc"])

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
        assert self.endpoints is not None and self.secrets is not None, "the lab is not started"
        return ConfigServerClient(
            self.endpoints.configserver, LabSecrets.CONFIGSERVER_USERNAME, self.secrets.configserver_password
        )

    def free_ucc_port(self) -> int:
        """A port nothing listens on at the UC Connector host, for its Secured SIP port (the
        page: "Any free port on the UC Connector host may be used"). On a host of its own
        (a container) only the admin API listens there, so the lab's usual one is free."""
        assert self.network is not None
        try:
            local = ipaddress.ip_address(self.network.ucc).is_loopback
        except ValueError:
            local = False
        return free_port_below_ephemeral(self.network.ucc) if local else UCC_SECURE_PORT

    @property
    def ca_root_pem_path(self) -> Path:
        """The enterprise root's certificate (PEM), as the CA keeps it in its state folder."""
        return self.state_dir / "ca" / "root.pem"

    def lab_json(self, *, deployment: str = "process") -> dict[str, Any]:
        """The ``lab.json`` document (DESIGN.md contract, with ``admin``, ``network``,
        ``topology`` and ``deployment`` beside it).

        ``deployment`` is ``process`` (the stand-ins of one process, ``ucclab up``) or
        ``containers`` (one container per host). A container lab's ``lab.json`` may be
        written before its containers run (``docker-compose``'s ``prepare`` step): its
        ``endpoints`` and admin URLs are then absent, and whoever attaches finds them from
        the containers' labels.
        """
        assert self.network is not None and self.secrets is not None
        t = self.topology
        e = self.endpoints or self.network
        published = self.endpoints is not None
        document = {
            "domain": t.domain,
            "realm": t.realm,
            "hosts": {"ca": t.ca_fqdn, "frontend": t.frontend_fqdn, "ucc": t.ucc_fqdn, "configserver": t.configserver_fqdn},
            "endpoints": {
                "certsrv": e.certsrv,
                "configserver": e.configserver,
                "frontend": e.frontend.to_json(),
                "kdc": e.kdc.to_json(),
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
                "kdc": str(e.kdc),
                "ucc_principal": f"{t.ucc_account}@{t.realm}",
                "ucc_password": self.secrets.ucc_account_password,
                "frontend_spn": f"{t.frontend_spn}@{t.realm}",
            },
            "admin": {
                "token": self.secrets.admin_token,
                "services": {name: client.url for name, client in sorted(self.admin.items()) if client.url},
            },
            "network": self.network.to_json(),
            "topology": t.to_json(),
            "deployment": deployment,
        }
        if self.console_url:
            document["endpoints"]["console"] = self.console_url
        if not published:
            del document["endpoints"]
        return document

    def write_lab_json(self, *, deployment: str = "process") -> Path:
        document = self.lab_json(deployment=deployment)
        return write_private_file(self.lab_json_path, (json.dumps(document, indent=2) + "\n").encode())


@dataclass(frozen=True)
class Deployment:
    """How the hosts of a lab are started: the address every service binds, the port of
    each (0: any free), and how the UC Connector host reaches the Configuration Server and
    which JDK it has (None: found when the lab is in this process)."""

    bind: str = "127.0.0.1"
    ports: Mapping[str, int] = dataclasses.field(default_factory=dict)
    configserver_url: str | None = None
    java_home: str | None = None
    keylog: bool = False


class Lab(LabBase):
    """The stand-ins of one lab, started together in this process on loopback.

    Use as ``async with Lab(workdir) as lab:``. ``keys`` (a :class:`~harness.keys.KeyCache`)
    gives a new lab its CA and its hosts' keys made once per machine (or per test session)
    instead of generating them; ``ca_seed`` names a CA state folder to copy when the workdir
    has none yet. ``lab.json`` is written once the stand-ins serve (unless ``publish`` is
    false; the caller then calls :meth:`write_lab_json` when ready).

    Each host of the topology (:data:`HOSTS`) runs from a config file in
    ``WORKDIR/hosts/`` exactly as ``python -m fakes.host`` runs it in a container, so the
    embedded lab and a deployed one start their stand-ins the same way.
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
        advertise: str | None = None,
        keys: KeyCache | None = None,
    ) -> None:
        super().__init__(workdir, topology, java_home=java_home, keys=keys)
        self.ca_seed = ca_seed
        self.bind_host = host
        # The address others reach the lab's services by (a LAN lab bound to 0.0.0.0).
        self.advertise = advertise or host
        # Write lab.json as soon as the stand-ins serve; ``ucclab up`` writes it itself,
        # after bringing the lab to the page's end state.
        self.publish = publish
        self.keylog = keylog
        self.running: dict[str, RunningHost] = {}
        self._lock = WorkdirLock(self.workdir / "lab.lock")

    # -- the stand-ins of this process -----------------------------------------------------
    def _object(self, name: str) -> Any:
        for running in self.running.values():
            if name in running.objects:
                return running.objects[name]
        return None

    @property
    def ca(self) -> CertificationAuthority | None:
        return self._object("ca")

    @property
    def certsrv(self) -> CertsrvServer | None:
        return self._object("certsrv")

    @property
    def kdc(self) -> KdcServer | None:
        return self._object("kdc")

    @property
    def frontend(self) -> FrontendServer | None:
        return self._object("frontend")

    @property
    def configserver(self) -> ConfigServer | None:
        return self._object("configserver")

    @property
    def connector(self) -> ConnectorService | None:
        return self._object("connector")

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
        except (CAError, StoreError, ManifestError, HostStoreError, HostConfigError, ValueError) as exc:
            await self.close()
            raise LabError(f"the lab's state in {self.workdir} is unusable: {exc}; remove the workdir to start afresh") from exc
        except BaseException:
            await self.close()
            raise
        if self.publish:
            self.write_lab_json()
        return self

    async def _start(self) -> None:
        accounts = self._open_state()
        deployment = Deployment(bind=self.bind_host, java_home=str(self.java_home) if self.java_home else None,
                                keylog=self.keylog)
        configs = self.host_configs(deployment)
        if self._copy_cached_ca():
            # The key cache made this CA for this topology's CA: its host opens it, once
            # (opening a CA reads and checks its keys), and fe01 enrolls with it there.
            self.running["ca"] = await start_host(configs["ca"], root=self.workdir)
            assert self.ca is not None
            self._enroll_frontend(self.ca, accounts)
        else:
            with self._open_ca() as ca:
                self._enroll_frontend(ca, accounts)
            self.running["ca"] = await start_host(configs["ca"], root=self.workdir)
        configs["frontend"]["services"]["frontend"]["cdp_hosts"] = {self.topology.ca_fqdn: f"{self.advertise}:{self.running['ca'].ports['crl']}"}
        for role in ("configserver", "frontend"):
            self.running[role] = await start_host(configs[role], root=self.workdir)
        # The connector reads its Application object from the Configuration Server just started.
        assert self.configserver is not None
        configs["ucc"]["services"]["connector"]["configserver"]["url"] = self.configserver.url
        self.running["ucc"] = await start_host(configs["ucc"], root=self.workdir, extra={"connector": start_connector})
        self.write_host_configs(configs)
        self.admin = {
            name: local_client(service, url=running.admin.service_url(name))
            for running in self.running.values()
            for name, service in running.services.items()
        }
        assert self.certsrv and self.kdc and self.frontend
        here = self.advertise
        host = f"[{here}]" if ":" in here else here
        self.endpoints = self.network = Endpoints(
            certsrv=f"https://{host}:{self.certsrv.port}/certsrv/",
            configserver=f"http://{host}:{self.configserver.port}/",
            kdc=Address(here, self.kdc.port),
            frontend=Address(here, self.frontend.port),
            ucc=here,
        )
        await self.ensure_application()
        await self._open_services()
        await self._follow_moved_ports()

    async def close(self) -> None:
        for role in reversed(list(self.running)):
            await self.running.pop(role).close()
        self.admin = {}
        self._lock.release()

    async def __aenter__(self) -> "Lab":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- the lab's state, whatever runs it -----------------------------------------------------
    def prepare(self) -> None:
        """Bring the workdir to what the stand-ins start from: the lab's secrets, the CA
        (created once), the hosts' stores with fe01's domain certificate, the domain's
        accounts (``state/ad.json``) and the Front End's certificate, key and keys."""
        accounts = self._open_state()
        self._copy_cached_ca()
        with self._open_ca() as ca:
            self._enroll_frontend(ca, accounts)

    def _open_state(self) -> list[Account]:
        """The lab's secrets, manifest and hosts' stores, and the domain's accounts (made once)."""
        self._open_files()
        accounts_file = self.state_dir / "ad.json"
        if not accounts_file.exists():
            save_accounts(accounts_file, self._domain_accounts())
        return load_accounts_file(accounts_file)

    def _copy_cached_ca(self) -> bool:
        """A new lab's CA copied from the key cache's CA for this topology (see
        :mod:`harness.keys`); False when the lab has a CA already, is given a ``ca_seed``,
        or has no key cache."""
        ca_dir = self.state_dir / "ca"
        if self.keys is None or self.ca_seed is not None or ca_dir.exists():
            return False
        KeyCache.copy_ca_seed(self.keys.ca_seed(self.topology), ca_dir)
        return True

    def _enroll_frontend(self, ca: CertificationAuthority, accounts: list[Account]) -> None:
        """fe01 joins the domain (its domain certificate, once) and the Front End's state is written."""
        key = self._join_domain(ca)
        self._write_frontend_state(ca, accounts, key)

    def host_configs(self, deployment: Deployment) -> dict[str, dict[str, Any]]:
        """The config of each host (:data:`HOSTS`), as :mod:`fakes.host` reads it, by role."""
        assert self.secrets is not None
        t = self.topology
        ports = deployment.ports

        def host(role: str, services: dict[str, Any]) -> dict[str, Any]:
            return {
                "host": t.fqdn(self.host_name(role)),
                "bind": deployment.bind,
                "admin": {"port": ports.get("admin", 0), "token": self.secrets.admin_token},
                "services": services,
            }

        return {
            "ca": host("ca", {
                "ca": {"state_dir": "state/ca", "port": ports.get("ca", 0), "crl_port": ports.get("crl", 0),
                       "accounts": {t.enroll_username: self.secrets.enroll_password}},
                "kdc": {"realm": t.realm, "port": ports.get("kdc", 0), "accounts_file": "state/ad.json"},
            }),
            "configserver": host("configserver", {
                "configserver": {"db": "state/configserver.sqlite", "port": ports.get("configserver", 0),
                                 "users": {LabSecrets.CONFIGSERVER_USERNAME: self.secrets.configserver_password}},
            }),
            "frontend": host("frontend", {
                "frontend": {"fqdn": t.frontend_fqdn, "port": ports.get("frontend", 0), "state_dir": "state/frontend",
                             "known_peers": [t.ucc_fqdn, t.frontend_fqdn], "kerberos": True,
                             "keylog": "logs/sslkeylog.txt" if deployment.keylog else None},
            }),
            "ucc": host("ucc", {
                "connector": {
                    "configserver": {"url": deployment.configserver_url, "username": LabSecrets.CONFIGSERVER_USERNAME,
                                     "password": self.secrets.configserver_password},
                    "application": t.application_name, "files": "artifacts", "java_home": deployment.java_home,
                    "frontend_fqdn": t.frontend_fqdn, "ucc_fqdn": t.ucc_fqdn,
                },
            }),
        }

    def write_host_configs(self, configs: Mapping[str, dict[str, Any]]) -> None:
        """``WORKDIR/hosts/<host>.json`` (0600: they hold the lab's passwords and admin token)."""
        make_private_folder(self.hosts_dir)
        for role, config in configs.items():
            write_private_file(self.hosts_dir / f"{self.host_name(role)}.json", (json.dumps(config, indent=2) + "\n").encode())

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
        assert self.network is not None and self.manifest is not None
        record = self.state_dir / "endpoints.json"
        kdc = str(self.network.kdc)
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
        taken = {port for running in self.running.values() for port in running.ports.values()}
        taken |= {running.admin.port for running in self.running.values()}
        async with self.configserver_client() as cfg:
            app = await cfg.find_application(self.topology.application_name)
            clashes = [p for p in app.port_infos if p.port in taken] if app is not None else []
            if app is None or not clashes:
                return
            moved = {p.id: free_port_below_ephemeral(self.bind_host) for p in clashes}
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

    def _join_domain(self, ca: CertificationAuthority) -> rsa.RSAPrivateKey | None:
        """What joining the domain gives each host: the root CA trusted, fe01 a domain certificate.

        Group policy puts the enterprise root into every member's Trusted Root store, and
        autoenrollment gives a computer its "domain certificate" from the Computer
        (``Machine``) template — the certificate the page's "Generating the Front End
        Server Certificate" starts from. Returns fe01's new key, or None when fe01 had its
        certificate already.
        """
        for host in self.hosts.values():
            if not host.trusted_roots.find(subject_cn=_cn(ca.root_certificate)):
                host.trusted_roots.add(ca.root_certificate)
        frontend = self.hosts["frontend"]
        if frontend.personal.find(subject_cn=frontend.fqdn):
            return None
        key = self.rsa_key("frontend-domain")
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, frontend.fqdn)]))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(frontend.fqdn)]), critical=False)
            .sign(key, hashes.SHA256())
        )
        result = ca.submit(csr, template=self.topology.frontend_template, requester=frontend.fqdn)
        if result.certificate is None:
            raise LabError(f"the lab CA refused {frontend.fqdn}'s domain certificate: {result.message}")
        frontend.personal.add(result.certificate, key, key_exportable=self.topology.frontend_key_exportable)
        self.setup_notes.append(
            f"{frontend.fqdn} enrolled its domain certificate (template {self.topology.frontend_template}, request {result.request_id})"
            + (", key marked exportable so the page's Front End export can work" if self.topology.frontend_key_exportable else "")
        )
        return key

    def _domain_accounts(self) -> list[Account]:
        """The accounts a new domain gets: the connector's OCS user, fe01's computer account
        and the domain controller's own (labdc01: ``HOST/``, ``ldap/``, ``GC/`` ... SPNs;
        no one needs its keys, so its password is random)."""
        assert self.secrets is not None
        t = self.topology
        return [
            Account(t.ucc_account, self.secrets.ucc_account_password, upn=f"{t.ucc_account}@{t.domain}"),
            Account(
                f"{t.frontend_host.upper()}$",
                self.secrets.frontend_computer_password,
                spns=(t.frontend_spn, f"HOST/{t.frontend_fqdn}"),
            ),
            domain_controller_account(t.ca_host, t.domain, secrets.token_urlsafe(24)),
        ]

    def _write_frontend_state(
        self, ca: CertificationAuthority, accounts: list[Account], key: rsa.RSAPrivateKey | None = None
    ) -> None:
        """What the Front End starts from (``state/frontend/``): fe01's domain certificate
        with its chain and key, the enterprise root it trusts, and the keys of its computer
        account (the keytab of ``sip/<fqdn>``, for MS-SIPAE Kerberos).

        Only the root is trusted: a client must send its intermediate CAs itself, which is
        what "Include all certificates in the certification path" is for. ``key`` is fe01's
        key when it was made just now (else it is read from fe01's store).
        """
        t = self.topology
        frontend = self.hosts["frontend"]
        entry = [e for e in frontend.personal.find(subject_cn=frontend.fqdn) if e.has_private_key][-1]
        if key is None:
            key = frontend.personal.private_key(entry)
        folder = self.state_dir / "frontend"
        pem = serialization.Encoding.PEM
        intermediates = [c for c in ca.chain if c != ca.root_certificate]
        write_public_file(
            folder / "certificate-chain.pem", b"".join(c.public_bytes(pem) for c in [entry.certificate, *intermediates])
        )
        write_private_file(
            folder / "private-key.pem",
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        )
        write_public_file(folder / "trusted-roots.pem", ca.root_certificate.public_bytes(pem))
        computer_name = f"{t.frontend_host.upper()}$".lower()
        computer = next((a for a in accounts if a.sam_account_name.lower() == computer_name), None)
        if computer is None:
            raise LabError(f"the domain has no computer account {computer_name.upper()} for {t.frontend_fqdn}")
        write_service_keys(folder / "service-keys.json", tuple(computer.keys(t.realm).values()))



def free_port(host: str) -> int:
    """A TCP port nothing listens on now at ``host`` (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def free_port_below_ephemeral(host: str, *, attempts: int = 50) -> int:
    """A TCP port nothing listens on now at ``host``, for a server that binds it later (the
    connector's Secured SIP port is written into its Application first).

    :func:`free_port` gives one of the kernel's ephemeral ports, which any outgoing
    connection on the machine may take before the server binds it (a busy machine did, and
    the connector could not listen). This one is drawn at random below that range
    (``ip_local_port_range``), where only another server that binds it explicitly can; the
    OS picks one when the range cannot be read or no draw is free.
    """
    try:
        low = int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return free_port(host)
    ports = range(max(1024, low - 16384), low)
    for _ in range(attempts if ports else 0):
        port = ports[secrets.randbelow(len(ports))]
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    return free_port(host)


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


class WorkdirLock:
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

    def held(self) -> bool:
        """Whether a lab holds the lock now (probed without taking it)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing drops a lock taken just now
        return False

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

