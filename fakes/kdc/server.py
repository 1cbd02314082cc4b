"""The KDC stand-in as a process: :class:`KdcCore` on UDP and TCP (RFC 4120 §7.2).

In a lab::

    server = KdcServer([Account("ocs-ucc", password), frontend_account], realm="COMPANYA.COM")
    await server.start()                 # 127.0.0.1, one free port for UDP and TCP
    ... server.port, server.events ...
    await server.close()

Alone: ``python -m fakes.kdc --realm COMPANYA.COM --account ocs-ucc:PASSWORD
--account fe01svc:PASSWORD:sip/fe01.companya.com`` (or ``--accounts accounts.json``;
``--des-enabled`` for a domain that still allows single DES)
prints ``{"realm", "host", "udp_port", "tcp_port"}`` as one JSON line on stdout and serves
until SIGINT or SIGTERM, logging each request on stderr.

The shell only moves bytes: one datagram is one request; over TCP each message has a
4-byte big-endian length, a length with the high bit set or beyond ``max_tcp_request``
gets KRB_ERR_FIELD_TOOLONG and the connection is closed (MIT does the same, measured), as
it is when the core drops a request.

TCP is bounded in time and number: a connection silent for ``tcp_idle_timeout`` between
requests is closed, and so is one whose request (length prefix and message) is not whole
``tcp_message_timeout`` seconds after its first byte — however the bytes are paced. Over
``max_tcp_connections`` open at once, a new connection is closed at once. Each case is a
``timeout`` or ``connection-refused`` evidence record saying why. (MIT's krb5kdc keeps 45
TCP connections and closes the least recently used one to admit another, logging "too
many connections" — ``net-server.c``; AD's limits are not published, assumed.) UDP needs
no such bounds: a datagram is a whole request.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import logging
import math
import signal
import struct
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from fakes._cli import connection_count, log_to_stderr, os_error_text, port_number, seconds
from fakes._evidence import EvidenceLog
from fakes.kerberos import SUPPORTED_ENCTYPES

from ._accounts import Account, DomainPolicy
from ._core import KdcCore, KdcEvent

__all__ = ["KdcServer", "main", "parse_account_spec", "load_accounts_file", "account_field_error",
           "DEFAULT_MAX_TCP_REQUEST"]

log = logging.getLogger("fakes.kdc")

#: Longest TCP request accepted (MIT's krb5kdc accepts at least 70 000 bytes and refuses
#: 1 MiB, measured; AD's MaxTokenSize is 48 000). Kerberos requests without PKINIT are
#: far smaller.
DEFAULT_MAX_TCP_REQUEST = 256 * 1024
DEFAULT_TCP_IDLE_TIMEOUT = 30.0  # seconds a TCP client may sit between requests
DEFAULT_TCP_MESSAGE_TIMEOUT = 30.0  # seconds from a request's first byte to its last
DEFAULT_MAX_TCP_CONNECTIONS = 256  # generous for a lab (assumed): a client needs one at a time
_BIND_ATTEMPTS = 20  # tries at finding a port number free for both UDP and TCP


class _UdpKdc(asyncio.DatagramProtocol):
    def __init__(self, core: KdcCore) -> None:
        self.core = core
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self.core.handle(data, transport="udp", peer=f"{addr[0]}:{addr[1]}")
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a client that went away: nothing to answer.
        log.debug("UDP error: %s", exc)


class KdcServer:
    """A KDC on 127.0.0.1 (by default), UDP and TCP on the same port number when possible.

    ``core`` is a ready :class:`KdcCore`, or the accounts to build one for ``realm``
    under the domain's ``policy`` (default: single DES off, as on a Windows Server 2008 R2
    or later DC). ``tcp_idle_timeout``, ``tcp_message_timeout`` (seconds) and
    ``max_tcp_connections`` bound TCP clients (see the module's docstring).
    """

    def __init__(self, core: KdcCore | Iterable[Account], *, realm: str = "COMPANYA.COM",
                 policy: DomainPolicy | None = None,
                 max_tcp_request: int = DEFAULT_MAX_TCP_REQUEST, event_log_path: Path | None = None,
                 tcp_idle_timeout: float = DEFAULT_TCP_IDLE_TIMEOUT,
                 tcp_message_timeout: float = DEFAULT_TCP_MESSAGE_TIMEOUT,
                 max_tcp_connections: int = DEFAULT_MAX_TCP_CONNECTIONS) -> None:
        for name, value in (("tcp_idle_timeout", tcp_idle_timeout), ("tcp_message_timeout", tcp_message_timeout)):
            if not 0 < value < math.inf:  # NaN fails this too
                raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
        if max_tcp_connections < 1:
            raise ValueError(f"max_tcp_connections must be at least 1, not {max_tcp_connections!r}")
        self.tcp_idle_timeout = tcp_idle_timeout
        self.tcp_message_timeout = tcp_message_timeout
        self.max_tcp_connections = max_tcp_connections
        if isinstance(core, KdcCore):
            if policy is not None:
                core.policy = policy
            self.core = core
        else:
            self.core = KdcCore(realm, core, policy=policy)
        #: The KDC's evidence: one record per request, its ``type`` the request's kind
        #: (``AS-REQ``, ``TGS-REQ``, ``malformed``, ...), ``time`` the DC's clock.
        self.evidence = EvidenceLog(now=time.time, path=event_log_path)
        self.core.on_event = self._record
        self.max_tcp_request = max_tcp_request
        self.host = ""
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._closing = False
        self._udp_port: int | None = None
        self._tcp_port: int | None = None

    @property
    def realm(self) -> str:
        """The realm the KDC serves (upper case)."""
        return self.core.realm

    def _record(self, event: KdcEvent) -> None:
        fields = event.to_dict()
        del fields["time"]
        self.evidence.record(event.request, time=event.time.timestamp(), **fields)

    @property
    def events(self) -> list[KdcEvent]:
        """The core's event log, oldest first (a copy)."""
        return list(self.core.events)

    @property
    def udp_port(self) -> int:
        """The UDP port (raises before :meth:`start`)."""
        if self._udp_port is None:
            raise RuntimeError("the KDC is not started")
        return self._udp_port

    @property
    def tcp_port(self) -> int:
        """The TCP port (raises before :meth:`start`)."""
        if self._tcp_port is None:
            raise RuntimeError("the KDC is not started")
        return self._tcp_port

    @property
    def port(self) -> int:
        """The port number UDP and TCP share (a krb5.conf ``kdc = host:port`` line)."""
        if self.udp_port != self.tcp_port:
            raise RuntimeError(f"UDP ({self.udp_port}) and TCP ({self.tcp_port}) listen on different ports")
        return self.udp_port

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host``:``port``; with port 0, on a free port number for both transports."""
        if self._tcp is not None:
            raise RuntimeError("the KDC is already started")
        loop = asyncio.get_running_loop()
        self._closing = False
        attempts = _BIND_ATTEMPTS if port == 0 else 1
        for attempt in range(attempts):
            tcp = await asyncio.start_server(self._serve_tcp, host, port)
            tcp_port = tcp.sockets[0].getsockname()[1]
            try:
                udp, _ = await loop.create_datagram_endpoint(lambda: _UdpKdc(self.core), local_addr=(host, tcp_port))
            except OSError as exc:
                tcp.close()
                await tcp.wait_closed()
                # The OS gave a TCP port whose UDP twin is taken: try another.
                if exc.errno != errno.EADDRINUSE or attempt == attempts - 1:
                    raise
                continue
            break
        self._tcp, self._udp = tcp, udp
        self._tcp_port = tcp_port
        self._udp_port = udp.get_extra_info("sockname")[1]
        self.host = host
        log.info("KDC for %s listening on %s port %d (UDP and TCP)", self.realm, host, self._udp_port)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = cast("asyncio.Task[None]", asyncio.current_task())
        peername = writer.get_extra_info("peername")
        peer = f"{peername[0]}:{peername[1]}" if peername else None
        if self._closing:  # accepted while close() runs
            writer.transport.abort()
            return
        if len(self._connections) >= self.max_tcp_connections:
            reason = (f"too many TCP connections: {len(self._connections)} open, "
                      f"the limit is {self.max_tcp_connections}")
            log.warning("TCP connection from %s refused: %s", peer, reason)
            self.evidence.record("connection-refused", transport="tcp", peer=peer, reason=reason)
            writer.transport.abort()
            return
        self._connections.add(task)
        try:
            await self._tcp_requests(reader, writer, peer)
        except asyncio.CancelledError:
            # close() cancels open connections. The task ends normally rather than
            # cancelled: Python 3.11's start_server logs a cancelled connection task as an
            # "Exception in callback" traceback (CPython gh-113538, fixed in 3.12).
            writer.transport.abort()
        finally:
            self._connections.discard(task)

    async def _tcp_requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                            peer: str | None) -> None:
        """Requests on one TCP connection until it ends, stalls or a request is refused."""
        try:
            while True:
                request = await self._tcp_request(reader, peer)
                if request is None:
                    break
                if isinstance(request, int):  # RFC 4120 §7.2.2: the high bit is reserved; either way refused
                    reply = self.core.field_too_long(request, transport="tcp", peer=peer)
                    writer.write(struct.pack(">I", len(reply)) + reply)
                    await writer.drain()
                    break
                reply = self.core.handle(request, transport="tcp", peer=peer)
                if reply is None:
                    break  # a dropped request closes the connection, as with MIT
                writer.write(struct.pack(">I", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away or sent a partial message: just close
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass  # reset by the peer while closing

    async def _tcp_request(self, reader: asyncio.StreamReader, peer: str | None) -> bytes | int | None:
        """The next request's bytes; its length when over ``max_tcp_request`` (not read);
        None when the client stalled (recorded). Raises ``IncompleteReadError`` at EOF."""
        limit = "tcp_idle_timeout"
        try:
            async with asyncio.timeout(self.tcp_idle_timeout):  # silence between requests
                first = await reader.readexactly(1)
            limit = "tcp_message_timeout"
            # From its first byte, the whole request has one deadline: an idle timer, reset
            # by each byte, would let a client trickle a request forever.
            async with asyncio.timeout(self.tcp_message_timeout):
                (length,) = struct.unpack(">I", first + await reader.readexactly(3))
                if length > self.max_tcp_request:
                    return length
                return await reader.readexactly(length)
        except TimeoutError:
            after = getattr(self, limit)
            log.info("TCP connection from %s closed: %s (%g s) passed", peer, limit, after)
            self.evidence.record("timeout", transport="tcp", peer=peer, limit=limit, after=after)
            return None

    async def close(self) -> None:
        """Stop listening and end open TCP connections (each is cancelled and awaited)."""
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._closing = True  # a connection accepted from now on is dropped at once
            self._tcp.close()
            while self._connections:
                ending = list(self._connections)
                for task in ending:
                    task.cancel()
                await asyncio.gather(*ending, return_exceptions=True)
            await self._tcp.wait_closed()
            self._tcp = None
        self.evidence.close()

    async def __aenter__(self) -> KdcServer:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()


# -- command line -----------------------------------------------------------------------------

def parse_account_spec(spec: str) -> Account:
    """``NAME:PASSWORD[:SPN,SPN...]`` → :class:`Account` (a password may not contain ``:``
    here; use an accounts file for that)."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise ValueError(f"--account takes NAME:PASSWORD[:SPN,...], got {spec!r}")
    spns = tuple(s for s in parts[2].split(",") if s) if len(parts) == 3 else ()
    return Account(parts[0], parts[1], spns=spns)


# The JSON shape each account field takes in an accounts file.
_ACCOUNT_FIELDS = {"sam_account_name": "text", "password": "password", "upn": "optional text",
                   "spns": "texts", "use_des_key_only": "flag", "dont_require_preauth": "flag",
                   "enabled": "flag", "enctypes": "enctypes", "kvno": "count", "locked_out": "flag",
                   "account_expires": "optional text", "must_change_password": "flag",
                   "password_expired": "flag"}


def account_field_error(name: str, value: Any) -> str | None:
    """What the account field ``name`` must be when ``value`` (from JSON) cannot be it, or None."""
    kind = _ACCOUNT_FIELDS[name]
    if kind == "text":
        return None if isinstance(value, str) and value else "a non-empty string"
    if kind == "password":
        return None if isinstance(value, str) else "a string"
    if kind == "optional text":
        return None if value is None or isinstance(value, str) else "a string or null"
    if kind == "flag":
        return None if isinstance(value, bool) else "true or false"
    if kind == "texts":
        return None if isinstance(value, list) and all(isinstance(v, str) for v in value) else "a list of strings"
    if kind == "enctypes":
        if value is None or (isinstance(value, list) and value
                             and all(type(v) is int and v in SUPPORTED_ENCTYPES for v in value)):
            return None
        return f"null or a list of enctypes among {sorted(int(e) for e in SUPPORTED_ENCTYPES)}"
    return None if type(value) is int and value >= 0 else "a whole number, 0 or more"  # kvno


def load_accounts_file(path: Path) -> list[Account]:
    """Accounts from a JSON list of objects with :class:`Account`'s field names.

    Raises ``OSError`` when the file cannot be read, ``ValueError`` naming the file and
    the account when it holds something else.
    """
    try:
        data: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    except ValueError as exc:  # not UTF-8, not JSON
        raise ValueError(f"{path}: not a JSON file ({exc})") from None
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of accounts")
    accounts = []
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise ValueError(f"{path}: account #{index + 1} is not an object")
        unknown = set(item) - set(_ACCOUNT_FIELDS)
        if unknown:
            raise ValueError(f"{path}: account #{index + 1} has unknown fields {sorted(unknown)}")
        for name, value in item.items():
            wanted = account_field_error(name, value)
            if wanted is not None:
                raise ValueError(f"{path}: account #{index + 1}: {name} must be {wanted}, not {value!r}")
        try:
            accounts.append(Account(**item))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: account #{index + 1}: {exc}") from exc
    return accounts


async def _serve(server: KdcServer, host: str, port: int) -> int:
    await server.start(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(json.dumps({"realm": server.realm, "host": host, "udp_port": server.udp_port,
                      "tcp_port": server.tcp_port}), flush=True)
    accounts = ", ".join(a.sam_account_name for a in server.core.directory.accounts)
    print(f"KDC for {server.realm} on {host} port {server.udp_port} (UDP and TCP); accounts: {accounts}",
          file=sys.stderr, flush=True)
    try:
        await stop.wait()
    finally:
        await server.close()
    return 0


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fakes.kdc",
        description="Active Directory KDC stand-in: AS and TGS exchanges over UDP and TCP.",
    )
    parser.add_argument("--realm", type=_realm, default="COMPANYA.COM", help="the realm (default: COMPANYA.COM)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=port_number, default=0,
                        help="port for UDP and TCP (default: 0, a free port)")
    parser.add_argument("--account", action="append", default=[], metavar="NAME:PASSWORD[:SPN,...]",
                        help="an account; repeatable")
    parser.add_argument("--accounts", type=Path, metavar="FILE",
                        help="a JSON list of accounts (fields as fakes.kdc.Account)")
    parser.add_argument("--use-des-key-only", action="append", default=[], metavar="NAME",
                        help='set "Use Kerberos DES encryption for this account" on NAME; repeatable')
    parser.add_argument("--dont-require-preauth", action="append", default=[], metavar="NAME",
                        help='set "Do not require Kerberos preauthentication" on NAME; repeatable')
    parser.add_argument("--des-enabled", action="store_true",
                        help="allow single DES (des-cbc-crc, des-cbc-md5) in the domain, as a GPO can; by default "
                             "it is off, as on Windows Server 2008 R2 and later DCs, and a DES-only account gets "
                             "KDC_ERR_ETYPE_NOSUPP (14) whatever the client offers")
    limits = parser.add_argument_group("TCP limits", "how long and how many TCP clients are served")
    limits.add_argument("--tcp-idle-timeout", type=seconds, default=DEFAULT_TCP_IDLE_TIMEOUT, metavar="SECONDS",
                        help="seconds of silence between requests before a connection is closed "
                             "(default %(default)g)")
    limits.add_argument("--tcp-message-timeout", type=seconds, default=DEFAULT_TCP_MESSAGE_TIMEOUT,
                        metavar="SECONDS", help="seconds from a request's first byte to its last, however "
                                                "the client paces them (default %(default)g)")
    limits.add_argument("--max-tcp-connections", type=connection_count, default=DEFAULT_MAX_TCP_CONNECTIONS,
                        metavar="N", help="TCP connections served at once; one more is closed at once "
                                          "(default %(default)d)")
    return parser


def _realm(text: str) -> str:
    """A realm name from the command line: not empty, no spaces (RFC 4120 §6.1 allows
    more, AD's DNS-style realms never do)."""
    if not text or any(c.isspace() or c in "/@:" for c in text):
        raise argparse.ArgumentTypeError(f"a realm is a name such as COMPANYA.COM, not {text!r}")
    return text


def _accounts_from(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[Account]:
    try:
        accounts = [parse_account_spec(spec) for spec in args.account]
        if args.accounts is not None:
            accounts += load_accounts_file(args.accounts)
    except ValueError as exc:
        parser.error(str(exc))
    except OSError as exc:
        parser.error(os_error_text(exc))
    names = {a.sam_account_name.lower() for a in accounts}
    for option, names_given in (("--use-des-key-only", args.use_des_key_only),
                                ("--dont-require-preauth", args.dont_require_preauth)):
        missing = [n for n in names_given if n.lower() not in names]
        if missing:
            parser.error(f"{option}: no account named {', '.join(missing)}")
    des = {n.lower() for n in args.use_des_key_only}
    no_preauth = {n.lower() for n in args.dont_require_preauth}
    return [_with_options(a, a.sam_account_name.lower() in des, a.sam_account_name.lower() in no_preauth)
            for a in accounts]


def _with_options(account: Account, des_only: bool, no_preauth: bool) -> Account:
    return replace(account, use_des_key_only=account.use_des_key_only or des_only,
                   dont_require_preauth=account.dont_require_preauth or no_preauth)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the KDC alone until SIGINT/SIGTERM; returns the exit status.

    0 after a clean stop, 1 if it cannot listen, 2 for bad usage or unusable accounts.
    """
    parser = _build_parser()
    args = parser.parse_args(argv)
    accounts = _accounts_from(parser, args)
    try:
        server = KdcServer(KdcCore(args.realm, accounts, policy=DomainPolicy(des_enabled=args.des_enabled)),
                           tcp_idle_timeout=args.tcp_idle_timeout,
                           tcp_message_timeout=args.tcp_message_timeout,
                           max_tcp_connections=args.max_tcp_connections)
    except ValueError as exc:
        print(f"kdc: {exc}", file=sys.stderr)
        return 2
    log_to_stderr()
    try:
        return asyncio.run(_serve(server, args.host, args.port))
    except OSError as exc:
        print(f"kdc: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
