"""Helpers for the KDC and Kerberos tests: a KDC on a background event loop, MIT's tools.

:class:`RunningKdc` runs a :class:`~fakes.kdc.KdcServer` on its own loop in a thread, as
another process would, so MIT's ``kinit`` and ``kvno`` (blocking subprocesses) and the
asyncio client can both talk to it. :class:`MitClient` runs MIT's tools with a krb5.conf
and a credentials cache of its own in a temporary folder.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from fakes.kdc import Account, KdcCore, KdcEvent, KdcServer

T = TypeVar("T")

REALM = "COMPANYA.COM"
UCC_PASSWORD = "Genesys#OCS-2024"
FRONTEND_PASSWORD = "fe01-Machine-Pw!"
DES_PASSWORD = "Des-Only#1"
FRONTEND_SPN = "sip/fe01.companya.com"


def lab_accounts() -> list[Account]:
    """The page's accounts: the connector's user, the Front End's computer, a DES-only user."""
    return [
        Account("ocs-ucc", UCC_PASSWORD, upn="ocs-ucc@companya.com"),
        Account("FE01$", FRONTEND_PASSWORD, spns=(FRONTEND_SPN, "HOST/fe01.companya.com")),
        Account("ocs-des", DES_PASSWORD, use_des_key_only=True),
    ]


class RunningKdc:
    """A KdcServer on its own event loop in a background thread."""

    def __init__(self, core: KdcCore) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = KdcServer(core)
        try:
            self.call(self.server.start())
        except BaseException:
            self._stop_loop()
            raise

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def events(self) -> list[KdcEvent]:
        return self.server.events

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 20) -> T:
        """Run ``coro`` on the KDC's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=timeout)

    def _stop_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    def stop(self) -> None:
        self.call(self.server.close())
        self._stop_loop()


def krb5_conf_text(port: int, *, realm: str = REALM, libdefaults: Iterable[str] = ()) -> str:
    """A krb5.conf for MIT's tools pointing at the KDC on 127.0.0.1:``port``.

    DNS lookups are off so the tools never wait on a resolver.
    """
    lines = ["[libdefaults]", f"    default_realm = {realm}", "    dns_lookup_kdc = false",
             "    dns_lookup_realm = false", "    rdns = false"]
    lines += [f"    {line}" for line in libdefaults]
    lines += ["[realms]", f"    {realm} = {{", f"        kdc = 127.0.0.1:{port}", "    }"]
    return "\n".join(lines) + "\n"


@dataclass
class MitResult:
    """What an MIT tool returned and printed."""

    returncode: int
    stdout: str
    stderr: str


class MitClient:
    """MIT's kinit/kvno/klist with a krb5.conf and a credentials cache in ``folder``."""

    def __init__(self, folder: Path, conf_text: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.conf = folder / "krb5.conf"
        self.conf.write_text(conf_text)
        self.env = dict(os.environ, KRB5_CONFIG=str(self.conf), KRB5CCNAME=f"FILE:{folder / 'ccache'}",
                        KRB5_TRACE=str(folder / "trace.log"))
        self.env.pop("KRB5_KTNAME", None)

    def run(self, *args: str, stdin: str | None = None) -> MitResult:
        done = subprocess.run(args, input=stdin, env=self.env, capture_output=True, text=True, timeout=30)
        return MitResult(done.returncode, done.stdout, done.stderr)

    def kinit(self, principal: str, password: str) -> MitResult:
        return self.run("kinit", principal, stdin=password + "\n")

    def kvno(self, service: str) -> MitResult:
        return self.run("kvno", service)

    def klist(self) -> MitResult:
        return self.run("klist", "-e")
