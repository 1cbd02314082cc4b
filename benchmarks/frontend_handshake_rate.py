#!/usr/bin/env python3
"""Full MTLS handshakes per second: the Front End stand-in beside ``openssl s_server``.

Both servers present the same certificate, require a client certificate and trust the
same CA; the client is ``openssl s_time -new``, TLS 1.2 against the default profile and
TLS 1.3 against the sfb2019 profile. A rate is the connections s_time counted over the
wall time measured around it (s_time's own "real seconds" is whole seconds, ±17 % over
5 s). ``frontend_rates.py`` measures these beside the SIP OPTIONS rates; this script is
the handshakes alone.

    python benchmarks/frontend_handshake_rate.py [--rounds 3] [--seconds 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from frontend_rates import Round, _table, frontend, handshake_rate, make_files, s_server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ucclab-bench-") as tmp:
        folder = Path(tmp)
        files = make_files(folder)
        results: dict[str, list[Round]] = defaultdict(list)
        with frontend(files, folder / "events.jsonl") as fe, \
                frontend(files, folder / "events-sfb2019.jsonl", profile="sfb2019") as fe13, s_server(files) as openssl:
            for _ in range(args.rounds):
                for version, server in (("tls1_2", fe), ("tls1_3", fe13)):
                    ours = handshake_rate(server, version, args.seconds, files)
                    results[f"full MTLS handshakes, {version}"].append(
                        (ours, handshake_rate(openssl, version, args.seconds, files), None))
        _table(results, {name: "openssl s_server -Verify 1" for name in results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
