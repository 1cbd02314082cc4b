#!/usr/bin/env python3
"""Capture MIT Kerberos's real messages as test fixtures (see README.md beside this file).

MIT's ``kinit`` and ``kvno`` talk through a UDP relay that keeps every request and answer,
first to the KDC stand-in (with a krbtgt password fixed here, so the tests can open the
TGTs it issued), then to MIT's own ``krb5kdc`` in a throwaway ``k5test`` realm. Run from
the repository root; it rewrites the ``*.der`` files and ``manifest.json``::

    python tests/data/kerberos/capture.py
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # run as a script from anywhere

from fakes.kdc import Account, KdcCore  # noqa: E402
from fakes.kerberos import message_type  # noqa: E402
from tests.fakes.kdc_support import (  # noqa: E402
    FRONTEND_SPN,
    REALM,
    UCC_PASSWORD,
    MitClient,
    RunningKdc,
    krb5_conf_text,
    lab_accounts,
)

HERE = Path(__file__).resolve().parent
#: The stand-in's krbtgt password: fixed so the tests can decrypt the TGTs in the fixtures.
KRBTGT_PASSWORD = "fixture-krbtgt-password"
#: Passwords in MIT's realm: k5test hands them to kadmin.local -q, which keeps shell quotes.
MIT_UCC_PASSWORD = "Genesys-OCS-2024"
MIT_SERVICE_PASSWORD = "fe01-Service-2024"
_KINDS = {10: "as-req", 11: "as-rep", 12: "tgs-req", 13: "tgs-rep", 30: "krb-error"}


class Relay:
    """A UDP relay on 127.0.0.1 to ``port`` that keeps each (request, answer) pair."""

    def __init__(self, port: int) -> None:
        self.upstream = ("127.0.0.1", port)
        self.exchanges: list[tuple[bytes, bytes]] = []
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            request, client = self.socket.recvfrom(65536)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as upstream:
                upstream.settimeout(5)
                upstream.sendto(request, self.upstream)
                answer = upstream.recv(65536)
            self.exchanges.append((request, answer))
            self.socket.sendto(answer, client)


def _run_mit(client: MitClient, principal: str, password: str) -> None:
    for result in (client.kinit(principal, password), client.kvno(f"{FRONTEND_SPN}@{REALM}")):
        if result.returncode:
            raise SystemExit(f"MIT failed: {result.stderr}")


def _save(prefix: str, exchanges: list[tuple[bytes, bytes]]) -> list[dict[str, str]]:
    saved = []
    for number, (request, answer) in enumerate(exchanges, 1):
        names = {}
        for role, data in (("request", request), ("answer", answer)):
            name = f"{prefix}-{number}-{_KINDS[message_type(data) or 0]}.der"
            (HERE / name).write_bytes(data)
            names[role] = name
        saved.append(names)
    return saved


def main() -> int:
    captured_at = datetime.now(UTC)
    krbtgt = Account("krbtgt", KRBTGT_PASSWORD, enabled=False)
    running = RunningKdc(KdcCore(REALM, [*lab_accounts(), krbtgt]))
    with tempfile.TemporaryDirectory() as tmp:
        try:
            relay = Relay(running.port)
            _run_mit(MitClient(Path(tmp) / "standin", krb5_conf_text(relay.port)), f"ocs-ucc@{REALM}", UCC_PASSWORD)
            standin = relay.exchanges
        finally:
            running.stop()

        import k5test

        os.environ["PATH"] = os.environ.get("PATH", "") + ":/usr/sbin"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            portbase = probe.getsockname()[1]
        realm = k5test.K5Realm(realm=REALM, portbase=portbase, start_kadmind=False, create_host=False,
                               get_creds=False)
        try:
            realm.addprinc(f"ocs-ucc@{REALM}", MIT_UCC_PASSWORD)
            realm.addprinc(f"{FRONTEND_SPN}@{REALM}", MIT_SERVICE_PASSWORD)
            realm.run_kadminl(f"modprinc +requires_preauth ocs-ucc@{REALM}")  # as AD requires it
            relay = Relay(portbase)
            _run_mit(MitClient(Path(tmp) / "mit", krb5_conf_text(relay.port)), f"ocs-ucc@{REALM}", MIT_UCC_PASSWORD)
            mit = relay.exchanges
        finally:
            realm.stop()
    manifest = {
        "captured_at": captured_at.isoformat(),
        "realm": REALM,
        "standin": {"krbtgt_password": KRBTGT_PASSWORD, "ocs_ucc_password": UCC_PASSWORD,
                    "exchanges": _save("standin", standin)},
        "mit_kdc": {"ocs_ucc_password": MIT_UCC_PASSWORD, "service_password": MIT_SERVICE_PASSWORD,
                    "exchanges": _save("mitkdc", mit)},
    }
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(json.dumps(manifest, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
