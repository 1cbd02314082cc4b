"""The part of a Lync topology the Front End checks an MTLS peer against: trusted
application pools, their computers and applications.

Sans-I/O: a :class:`Topology` is an immutable value; each change (what the Management
Shell's cmdlets do, then ``Enable-CsTopology`` publishes) gives a new one, or raises
:class:`TopologyError` saying why the cmdlet would refuse.

Rules, from the cmdlets' documentation (learn.microsoft.com/en-us/powershell/module/skype/):

1. ``New-CsTrustedApplicationPool -Identity <pool fqdn> -Registrar <registrar pool>
   [-ComputerFqdn <fqdn>]`` creates the pool and one computer: "By default the computer
   will be assigned the same fully qualified domain name (FQDN) as the pool", unless
   ``-ComputerFqdn`` names another. ``-TreatAsAuthenticated`` and ``-ThrottleAsServer``
   default to true (what a trusted application needs to skip authentication).
2. ``New-CsTrustedApplicationComputer -Identity <fqdn> -Pool <pool fqdn>`` adds a computer
   to an existing pool; when the pool was created without ``-ComputerFqdn`` its computer
   has the pool's FQDN and no other computer can be added (the cmdlet's Lync Server 2010
   page, learn.microsoft.com previous-versions gg398405).
3. ``New-CsTrustedApplication -ApplicationId <id> -TrustedApplicationPoolFqdn <pool>
   -Port <n>``: the application's identity is ``<pool>/<id>``; its port is where the pool's
   computers listen for it.
4. A peer is a configured server when its certificate's **subject common name** equals a
   trusted application pool's FQDN or one of its computers' FQDNs (case-insensitive, a
   trailing dot ignored, no wildcards). The subject alone: the SIPStack trace of a refused
   Exchange server names the certificate's subject (``fqdn="deitterick.com"``) although its
   SAN held the pool's name (blogs.technet.microsoft.com/dodeitte/2011/12/22 — inferred from
   that trace: no document states the rule). Matching the SAN DNS names too is an option
   (``san_match``) for those who want the old lab behaviour, off by default.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["Topology", "TopologyError", "TrustedApplication", "TrustedApplicationPool", "check_fqdn"]


class TopologyError(ValueError):
    """A topology change the Management Shell would refuse, in words."""


def _fqdn(name: str) -> str:
    """An FQDN as the topology compares it: lower case, no trailing dot."""
    return name.strip().lower().rstrip(".")


def check_fqdn(name: object, what: str) -> str:
    """``name`` as the topology keeps it, or :class:`TopologyError` naming ``what`` when it is
    no FQDN the Management Shell would take."""
    if not isinstance(name, str) or not name.strip() or any(c.isspace() or c in "/*" for c in name.strip()):
        raise TopologyError(f"{what} must be a fully qualified domain name, not {name!r}")
    return _fqdn(name)


@dataclass(frozen=True)
class TrustedApplication:
    """``New-CsTrustedApplication``: an application of a pool and the port it listens on."""

    application_id: str
    port: int
    enable_tcp: bool = False

    def describe(self, pool: str) -> dict[str, Any]:
        """JSON-ready form (with its identity ``<pool>/<id>``)."""
        return {"identity": f"{pool}/{self.application_id}", "application_id": self.application_id,
                "port": self.port, "enable_tcp": self.enable_tcp}


@dataclass(frozen=True)
class TrustedApplicationPool:
    """``New-CsTrustedApplicationPool``: a pool of computers hosting trusted applications."""

    identity: str
    registrar: str
    computers: tuple[str, ...]
    applications: tuple[TrustedApplication, ...] = ()
    treat_as_authenticated: bool = True
    throttle_as_server: bool = True
    requires_replication: bool = True
    #: The first computer took the pool's own FQDN (no ``-ComputerFqdn``): no more can join.
    single_computer: bool = True

    def describe(self) -> dict[str, Any]:
        """JSON-ready form, as ``Get-CsTrustedApplicationPool`` lists a pool."""
        return {"identity": self.identity, "registrar": self.registrar, "computers": list(self.computers),
                "applications": [a.describe(self.identity) for a in self.applications],
                "treat_as_authenticated": self.treat_as_authenticated,
                "throttle_as_server": self.throttle_as_server,
                "requires_replication": self.requires_replication}


@dataclass(frozen=True)
class Topology:
    """The trusted application pools the Front End's registrar pool knows."""

    registrar: str
    pools: tuple[TrustedApplicationPool, ...] = ()
    #: Also accept a peer whose certificate names a known FQDN in its SAN (see rule 4).
    san_match: bool = False
    _index: dict[str, tuple[str, TrustedApplicationPool]] = field(
        default_factory=dict, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        index: dict[str, tuple[str, TrustedApplicationPool]] = {}
        for pool in self.pools:
            for name in (pool.identity, *pool.computers):
                index.setdefault(_fqdn(name), (name, pool))
        object.__setattr__(self, "_index", index)

    @classmethod
    def of_known_peers(cls, registrar: str, peers: Iterable[str], *, san_match: bool = False) -> Topology:
        """The topology a list of peer FQDNs stands for: one single-computer pool each
        (what ``New-CsTrustedApplicationPool -Identity <fqdn>`` makes)."""
        topology = cls(_fqdn(registrar), san_match=san_match)
        for peer in dict.fromkeys(_fqdn(p) for p in peers):
            topology = topology.new_pool(peer)
        return topology

    @property
    def known_fqdns(self) -> list[str]:
        """Every pool and computer FQDN, pools first, each once."""
        names = [p.identity for p in self.pools] + [c for p in self.pools for c in p.computers]
        return list(dict.fromkeys(names))

    def pool(self, identity: str) -> TrustedApplicationPool | None:
        """The pool of that FQDN, or None."""
        wanted = _fqdn(identity)
        return next((p for p in self.pools if p.identity == wanted), None)

    def match(self, common_names: Sequence[str], dns_names: Sequence[str] = ()) -> tuple[str, TrustedApplicationPool] | None:
        """The known FQDN and its pool that a certificate's names make it, or None (rule 4)."""
        for name in (*common_names, *(dns_names if self.san_match else ())):
            found = self._index.get(_fqdn(name))
            if found is not None:
                return found
        return None

    # -- the cmdlets -----------------------------------------------------------------------

    def new_pool(self, identity: str, *, registrar: str | None = None, computer_fqdn: str | None = None,
                 treat_as_authenticated: bool = True, throttle_as_server: bool = True,
                 requires_replication: bool = True) -> Topology:
        """``New-CsTrustedApplicationPool`` (rule 1)."""
        identity = check_fqdn(identity, "Identity")
        if self.pool(identity) is not None:
            raise TopologyError(f"a trusted application pool {identity} already exists")
        computer = check_fqdn(computer_fqdn, "ComputerFqdn") if computer_fqdn else identity
        if computer in self._index:
            raise TopologyError(f"the computer {computer} already belongs to the pool {self._index[computer][1].identity}")
        registrar = check_fqdn(registrar, "Registrar") if registrar else self.registrar
        if registrar != self.registrar:
            raise TopologyError(f"Registrar {registrar} is not this Front End's pool {self.registrar}")
        pool = TrustedApplicationPool(identity, registrar, (computer,), treat_as_authenticated=treat_as_authenticated,
                                      throttle_as_server=throttle_as_server, requires_replication=requires_replication,
                                      single_computer=computer == identity)
        return replace(self, pools=(*self.pools, pool))

    def new_computer(self, identity: str, pool: str) -> Topology:
        """``New-CsTrustedApplicationComputer`` (rule 2)."""
        identity = check_fqdn(identity, "Identity")
        found = self.pool(check_fqdn(pool, "Pool"))
        if found is None:
            raise TopologyError(f"no trusted application pool {_fqdn(pool)}: create it with New-CsTrustedApplicationPool first")
        if found.single_computer:
            raise TopologyError(f"the pool {found.identity} was created without -ComputerFqdn: its only computer has the "
                                "pool's FQDN and no other computer can be added")
        if identity in self._index:
            raise TopologyError(f"the computer {identity} already belongs to the pool {self._index[identity][1].identity}")
        return self._replace_pool(replace(found, computers=(*found.computers, identity)))

    def new_application(self, application_id: str, pool: str, port: int, *, enable_tcp: bool = False) -> Topology:
        """``New-CsTrustedApplication`` (rule 3)."""
        if not isinstance(application_id, str) or not application_id.strip() or "/" in application_id:
            raise TopologyError(f"ApplicationId must be a name without '/', not {application_id!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise TopologyError(f"Port must be 1..65535, not {port!r}")
        found = self.pool(check_fqdn(pool, "TrustedApplicationPoolFqdn"))
        if found is None:
            raise TopologyError(f"no trusted application pool {_fqdn(pool)}")
        if any(a.application_id == application_id.strip() for a in found.applications):
            raise TopologyError(f"the application {found.identity}/{application_id.strip()} already exists")
        if any(a.port == port for p in self.pools for a in p.applications if p.identity == found.identity):
            raise TopologyError(f"the port {port} is already used by another application of {found.identity}")
        application = TrustedApplication(application_id.strip(), port, enable_tcp)
        return self._replace_pool(replace(found, applications=(*found.applications, application)))

    def remove_pool(self, identity: str) -> Topology:
        """``Remove-CsTrustedApplicationPool``: the pool, its computers and applications."""
        found = self.pool(check_fqdn(identity, "Identity"))
        if found is None:
            raise TopologyError(f"no trusted application pool {_fqdn(identity)}")
        return replace(self, pools=tuple(p for p in self.pools if p is not found))

    def _replace_pool(self, pool: TrustedApplicationPool) -> Topology:
        return replace(self, pools=tuple(pool if p.identity == pool.identity else p for p in self.pools))

    def describe(self) -> list[dict[str, Any]]:
        """Every pool, as ``Get-CsTrustedApplicationPool`` lists them."""
        return [p.describe() for p in self.pools]
