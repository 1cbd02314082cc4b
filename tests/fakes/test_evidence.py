"""The evidence log every stand-in keeps: cursors, the ring, the file."""

from __future__ import annotations

import asyncio
import json
import itertools
from pathlib import Path

import pytest

from fakes._evidence import EvidenceLog


def _clock() -> itertools.count[float]:
    return itertools.count(1000.0)


def test_records_carry_seq_type_and_time_first() -> None:
    clock = _clock()
    log = EvidenceLog(now=lambda: next(clock))
    first = log.record("tls-handshake", peer="ucc01.companya.com")
    second = log.record("response", status=200)
    assert list(first) == ["seq", "type", "time", "peer"]
    assert (first["seq"], first["time"], second["seq"]) == (1, 1000.0, 2)
    assert log.cursor == 2


def test_since_a_cursor_gives_only_what_came_after() -> None:
    log = EvidenceLog(now=lambda: 0.0)
    log.record("a")
    mark = log.cursor
    log.record("b")
    log.record("c")
    after = log.since(mark)
    assert [r["type"] for r in after.records] == ["b", "c"]
    assert (after.cursor, after.truncated) == (3, False)
    assert log.since(after.cursor).records == [] and log.since(after.cursor).cursor == 3
    assert [r["type"] for r in log.since(mark, limit=1).records] == ["b"]


def test_the_ring_keeps_the_last_records_and_says_when_some_were_lost() -> None:
    log = EvidenceLog(now=lambda: 0.0, capacity=3)
    for i in range(10):
        log.record("event", i=i)
    assert len(log) == 3 and log.cursor == 10
    assert [r["i"] for r in log] == [7, 8, 9]
    lost = log.since(2)
    assert lost.truncated and [r["seq"] for r in lost.records] == [8, 9, 10]
    fine = log.since(7)
    assert not fine.truncated and [r["seq"] for r in fine.records] == [8, 9, 10]


def test_memory_stays_bounded_under_many_records() -> None:
    log = EvidenceLog(now=lambda: 0.0, capacity=1000)
    for i in range(200_000):
        log.record("request", method="OPTIONS", status=200, connection=i)
    assert len(log) == 1000 and log.first_in_memory == 199_001 and log.cursor == 200_000


def test_the_file_holds_every_record_even_those_that_left_memory(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    log = EvidenceLog(now=lambda: 0.0, path=path, capacity=2)
    for i in range(5):
        log.record("event", i=i)
    log.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["i"] for line in lines] == [0, 1, 2, 3, 4]
    assert [r["i"] for r in log] == [3, 4]  # still readable after close


def test_records_of_one_loop_turn_reach_the_file_together(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"

    async def scenario() -> tuple[str, str]:
        log = EvidenceLog(now=lambda: 0.0, path=path)
        log.record("a")
        log.record("b")
        during = path.read_text()  # same turn: not yet written
        await asyncio.sleep(0)  # the loop turns once: the batch is written
        after = path.read_text()
        log.close()
        return during, after

    during, after = asyncio.run(scenario())
    assert during == ""
    assert [json.loads(line)["type"] for line in after.splitlines()] == ["a", "b"]


def test_a_restart_appends_to_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    for run in range(2):
        log = EvidenceLog(now=lambda: 0.0, path=path)
        log.record("listening", run=run)
        log.close()
    assert [json.loads(line)["run"] for line in path.read_text().splitlines()] == [0, 1]


def test_await_record_sees_past_and_future_records() -> None:
    async def scenario() -> tuple[str, str]:
        log = EvidenceLog(now=lambda: 0.0)
        log.record("old", n=1)
        past = await log.await_record(lambda r: r["type"] == "old")
        asyncio.get_running_loop().call_later(0.01, lambda: log.record("new", n=2))
        future = await log.await_record(lambda r: r["type"] == "new", after=log.cursor, timeout=5)
        return past["type"], future["type"]

    assert asyncio.run(scenario()) == ("old", "new")


def test_await_record_names_what_never_came() -> None:
    async def scenario() -> None:
        log = EvidenceLog(now=lambda: 0.0)
        await log.await_record(lambda r: False, timeout=0.01, what="REGISTER 200")

    with pytest.raises(TimeoutError, match="no REGISTER 200 within"):
        asyncio.run(scenario())


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least one record"):
        EvidenceLog(now=lambda: 0.0, capacity=0)
