"""Every RFC 4475 torture message through the SIP core, as RFC 4475 says.

Read from ``tests/data/rfc4475`` (byte-exact; licence in ``tests/data/README.md``). Each
message is fed whole and byte by byte; no exception may escape, both feedings must agree,
and the first answer must be the status the RFC names.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from fakes.frontend import Registrar, SipSession
from fakes.sip import NEED_DATA, ConnectionClosed, Malformed, MessageReceived, SipLimits, SipStream

from .frontend_support import CORPUS, RFC4475_EXPECTED, RFC4475_FATAL

FILES = sorted(CORPUS.glob("*.dat"))


def test_the_corpus_is_complete_and_every_file_has_an_expectation() -> None:
    assert len(FILES) == 49
    assert {f.stem for f in FILES} == set(RFC4475_EXPECTED)


def _events(data: bytes, chunk: int) -> list[object]:
    stream = SipStream()
    events: list[object] = []
    for start in range(0, len(data), chunk):
        stream.receive_data(data[start:start + chunk])
        while (event := stream.next_event()) is not NEED_DATA:
            events.append(event)
            if isinstance(event, ConnectionClosed):
                return events
    if (stalled := stream.timed_out()) is not None:
        events.append(stalled)
    return events


def _shape(events: list[object]) -> list[object]:
    return [(type(e).__name__, e.raw, getattr(e, "status", None)) if hasattr(e, "raw") else e
            for e in events]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_framing_is_the_same_whole_and_byte_by_byte(path: Path) -> None:
    data = path.read_bytes()
    whole = _events(data, len(data))
    assert whole, "every message produces at least one event"
    assert _shape(_events(data, 1)) == _shape(whole)
    fatal = any(isinstance(e, Malformed) and e.fatal for e in whole)
    assert fatal == (path.stem in RFC4475_FATAL)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_each_message_gets_the_answer_the_readme_names(path: Path) -> None:
    registrar = Registrar("fe01.companya.com", now=lambda: 1_700_000_000.0, rng=random.Random(1))
    session = SipSession(registrar, peer="ucc01.companya.com", limits=SipLimits())
    output = session.receive_data(path.read_bytes())
    records = list(output.records)
    if not output.close:  # what a stalled message gets when the read timer fires
        records += session.timed_out().records
    statuses = [fields["status"] for kind, fields in records if kind == "response"]
    assert (statuses[0] if statuses else None) == RFC4475_EXPECTED[path.stem]
    if path.stem == "dblreq":
        # Over a stream the "spurious" INVITE after the REGISTER is framed and answered too.
        assert statuses[:2] == [200, 480]


def test_responses_in_the_corpus_parse_or_are_dropped_unanswered() -> None:
    for name, parsed in (("unreason", True), ("noreason", True), ("bcast", True),
                         ("bigcode", False), ("scalarlg", False)):
        (event,) = _events((CORPUS / f"{name}.dat").read_bytes(), 10_000)
        assert isinstance(event, MessageReceived) is parsed, name
    (unreason,) = _events((CORPUS / "unreason.dat").read_bytes(), 10_000)
    assert unreason.message.phrase == "= 2**3 * 5**2 но сто девяносто девять - простое"
