"""Request bodies read strictly (``fakes.configserver._json``): each rule at its edge, what
it accepts as well as what it refuses, and the words of each refusal."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fakes.configserver._json import MAX_DEPTH, MAX_NUMBER_DIGITS, JsonBodyError, parse_json_body


def nested(levels: int) -> bytes:
    """``levels`` containers, alternating objects and arrays, around a 1."""
    doc: Any = 1
    for level in range(levels):
        doc = {"k": doc} if level % 2 else [doc]
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"name": "UCC_Lync"}', {"name": "UCC_Lync"}),
        # A surrogate pair is one character (U+1F600), not a lone surrogate.
        (b'{"name": "\\ud83d\\ude00"}', {"name": "\U0001F600"}),
        ('{"name": "Genesys Übergang"}'.encode(), {"name": "Genesys Übergang"}),
        (b'{"port": ' + b"9" * MAX_NUMBER_DIGITS + b"}", {"port": int("9" * MAX_NUMBER_DIGITS)}),
        (b'{"timeout": 1.5e3}', {"timeout": 1500.0}),
        (b'{"a": {"a": 1}, "b": {"a": 2}}', {"a": {"a": 1}, "b": {"a": 2}}),  # the same key in two objects
        (b"[]", []),
    ],
)
def test_accepted(raw: bytes, expected: Any) -> None:
    assert parse_json_body(raw) == expected


def test_nesting_up_to_the_limit_is_accepted() -> None:
    assert parse_json_body(nested(MAX_DEPTH)) is not None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"name": "\\ud800"}', "name: the string holds a lone UTF-16 surrogate (\\ud800 at character 0)"),
        (b'{"a": [{"b": "ok\\udfff"}]}', "a[0].b: the string holds a lone UTF-16 surrogate (\\udfff at character 2)"),
        (b'["\\ude00\\ud83d"]', "[0]: the string holds a lone UTF-16 surrogate (\\ude00 at character 0)"),
        (b'"\\ud800"', "the top level: the string holds a lone UTF-16 surrogate"),
        (b'{"a": {"\\udc00": 1}}', "a field name under a holds a lone UTF-16 surrogate"),
        (b'{"name": "\xff"}', "request body is not UTF-8 text (invalid start byte at byte 10)"),
        (b'\xef\xbb\xbf{}', "starts with a byte order mark; JSON senders must not add one (RFC 8259 section 8.1)"),
        (b'{"name": "a", "name": "b"}', "request body names 'name' twice in one object"),
        (b"[NaN]", "holds NaN, which is not a JSON value (RFC 8259 section 6)"),
        (b"[-Infinity]", "holds -Infinity, which is not a JSON value"),
        (b"[" + b"1" * (MAX_NUMBER_DIGITS + 1) + b"]",
         f"a number of {MAX_NUMBER_DIGITS + 1} characters (11111111111111111111...); numbers here are at most 40"),
        (b"[1." + b"5" * MAX_NUMBER_DIGITS + b"]", "numbers here are at most 40"),
        (nested(MAX_DEPTH + 1), f"nests deeper than {MAX_DEPTH} levels"),
        # Far deeper than the parser's own recursion limit: the same answer, not a RecursionError.
        (b"[" * 200_000 + b"]" * 200_000, f"request body nests deeper than {MAX_DEPTH} levels"),
        (b'{"name": ', "request body is not valid JSON: Expecting value at line 1 column 10"),
        (b"", "request body is not valid JSON: Expecting value at line 1 column 1"),
        (b'{"a": 1} {"b": 2}', "request body is not valid JSON: Extra data at line 1 column 10"),
        (b'{"a": "tab\there"}', "Invalid control character"),
    ],
)
def test_refused_with_the_reason(raw: bytes, message: str) -> None:
    with pytest.raises(JsonBodyError) as caught:
        parse_json_body(raw)
    assert message in str(caught.value)
