"""Run the AD CS stand-in alone: ``python -m fakes.ca --state-dir DIR``.

Opens the CA in ``DIR`` (creating it the first time), serves certsrv over HTTPS and the
CA host's ``/CertEnroll/`` site (the CRLs its certificates point to) over plain HTTP
until SIGINT or SIGTERM, and prints one line once it is serving, which starts with
``certsrv listening on`` and holds the URL — wait for that line, not for a delay. A
following line names the CertEnroll URL (``--crl-port``, default 0: any free port; 80
is what the certificates' CDP URL means).

The web-enrollment account is ``--username`` (default ``enroll``). Its password comes
from ``--password``, else the ``UCCLAB_CERTSRV_PASSWORD`` environment variable (not
visible in the process list), else it is generated and written to
``DIR/certsrv-account.json`` (mode 0600). Passwords are never printed.

Exit status: 0 after a clean stop, 1 if the server could not serve (port in use), 2
for bad usage or an unusable state folder (one line on stderr says why).

``--header-timeout``, ``--body-timeout`` and ``--max-connections`` bound slow and greedy
clients (see :class:`~fakes.ca.certsrv.CertsrvServer`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import sys
from pathlib import Path

from fakes._cli import connection_count, os_error_text, port_number, seconds
from fakes._files import write_private_file

from ._authority import CertificationAuthority
from ._errors import CAStateError
from .certsrv import BODY_TIMEOUT, HEADER_TIMEOUT, MAX_CONNECTIONS, CertsrvServer

__all__ = ["main"]

PASSWORD_ENV = "UCCLAB_CERTSRV_PASSWORD"
ACCOUNT_FILE = "certsrv-account.json"


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m fakes.ca",
        description="AD CS stand-in: an enterprise CA with certsrv web enrollment over HTTPS.",
    )
    parser.add_argument("--state-dir", type=Path, required=True,
                        help="folder holding the CA (created on first use)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=port_number, default=0, help="port to bind (default 0: any free)")
    parser.add_argument("--crl-port", type=port_number, default=0,
                        help="port of the plain HTTP /CertEnroll/ site with the CRLs (default 0: any free)")
    parser.add_argument("--two-tier", action="store_true",
                        help="when creating: an offline root signs the issuing CA")
    parser.add_argument("--username", type=_user_name, default="enroll", help="web enrollment account name")
    parser.add_argument("--password", help=f"its password (else ${PASSWORD_ENV}, else generated)")
    limits = parser.add_argument_group("limits", "how long and how many clients are served (http.sys's "
                                                 "timeouts by default)")
    limits.add_argument("--header-timeout", type=seconds, default=HEADER_TIMEOUT, metavar="SECONDS",
                        help="seconds for a whole request head, from the connection or the previous "
                             "answer; then the connection is closed (default %(default)g)")
    limits.add_argument("--body-timeout", type=seconds, default=BODY_TIMEOUT, metavar="SECONDS",
                        help="seconds for a whole request body after its head; then the connection "
                             "is dropped (default %(default)g)")
    limits.add_argument("--max-connections", type=connection_count, default=MAX_CONNECTIONS, metavar="N",
                        help="connections served at once; a request on one more is answered 503 "
                             "(default %(default)d)")
    return parser.parse_args(argv)


def _user_name(text: str) -> str:
    """A Basic authentication user name: not empty, no colon (RFC 7617 §2), no control
    characters."""
    if not text or ":" in text or not text.isprintable():
        raise argparse.ArgumentTypeError(
            f"a user name is not empty and holds no colon or control character, not {text!r}")
    return text


def _password(state_dir: Path, username: str, given: str | None) -> tuple[str, str]:
    """The password and where it came from (for the ready line; never the password)."""
    if given:
        return given, "--password"
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV], f"${PASSWORD_ENV}"
    path = state_dir / ACCOUNT_FILE
    try:
        stored = json.loads(path.read_text())
        if stored.get("username") == username and isinstance(stored.get("password"), str):
            return stored["password"], str(path)
    except FileNotFoundError:
        pass
    except (ValueError, AttributeError):  # unreadable JSON or not an object: make a new one
        pass
    password = secrets.token_urlsafe(16)
    write_private_file(path, json.dumps({"username": username, "password": password}).encode())
    return password, str(path)


async def _serve(server: CertsrvServer, host: str, port: int, crl_port: int, password_source: str,
                 username: str) -> None:
    await server.start(host, port, crl_port=crl_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    ca = server.ca
    print(f"certsrv listening on {server.url}", flush=True)
    print(f"  CA {ca.config_string} ({'two-tier' if ca.two_tier else 'one-tier'}), "
          f"root certificate {ca.root_certificate_path}", flush=True)
    print(f"  account {username}, password from {password_source}", flush=True)
    print(f"  CRL {ca.cdp_url} served at {server.crl_url}", flush=True)
    try:
        await stop.wait()
    finally:
        await server.close()


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = _arguments(argv)
    if args.state_dir.exists() and not args.state_dir.is_dir():
        print(f"error: --state-dir {args.state_dir}: not a folder", file=sys.stderr)
        return 2
    try:
        # --two-tier shapes a new CA; without it an existing CA is opened as it is.
        ca = CertificationAuthority.open_or_create(
            args.state_dir, two_tier=True if args.two_tier else None)
    except CAStateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. a parent that is a file, a folder that cannot be made
        print(f"error: --state-dir: {os_error_text(exc)}", file=sys.stderr)
        return 2
    with ca:
        try:
            password, source = _password(args.state_dir, args.username, args.password)
        except OSError as exc:
            print(f"error: the account file: {os_error_text(exc)}", file=sys.stderr)
            return 2
        server = CertsrvServer(ca, accounts={args.username: password}, header_timeout=args.header_timeout,
                               body_timeout=args.body_timeout, max_connections=args.max_connections)
        try:
            asyncio.run(_serve(server, args.host, args.port, args.crl_port, source, args.username))
        except OSError as exc:
            print(f"error: cannot serve on {args.host} (ports {args.port} and {args.crl_port}): {exc.strerror}",
                  file=sys.stderr)
            return 1
    return 0
