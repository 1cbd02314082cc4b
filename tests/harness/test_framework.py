"""The step framework: --set parsing and typing, transcript masking."""

from __future__ import annotations

import pytest

from harness.procedures import OverrideError, all_steps, parse_override
from harness.replay import parse_overrides
from harness.transcript import MASK, mask_secrets


def test_parse_override_splits_on_last_dot_before_equals() -> None:
    assert parse_override("shell.export_pfx.password=a.b=c") == ("shell.export_pfx", "password", "a.b=c")


@pytest.mark.parametrize("text", ["nodot=1", "shell.export_pfx.password", ".x=1", "shell.=1"])
def test_parse_override_rejects_malformed(text: str) -> None:
    with pytest.raises(OverrideError, match="STEP.PARAM=VALUE"):
        parse_override(text)


def test_overrides_are_typed_from_annotations() -> None:
    overrides = parse_overrides(
        [
            "shell.export_pfx.include_chain=false",
            "web.create_and_submit_request.key_size=4096",
            "shell.request_cs_certificate.server_name=none",
            "replay.pfx_source=web",
            "replay.literal=yes",
        ]
    )
    assert overrides["shell.export_pfx"] == {"include_chain": False}
    assert overrides["web.create_and_submit_request"] == {"key_size": 4096}
    assert overrides["shell.request_cs_certificate"] == {"server_name": None}
    assert overrides["replay"] == {"pfx_source": "web", "literal": True}


def test_unknown_step_suggests_the_close_one() -> None:
    with pytest.raises(OverrideError, match="did you mean shell.export_pfx"):
        parse_overrides(["shell.export_pf.password=x"])


def test_unknown_parameter_is_named() -> None:
    with pytest.raises(OverrideError, match="no parameter 'shell.export_pfx.pasword'.*shell.export_pfx.password"):
        parse_overrides(["shell.export_pfx.pasword=x"])


def test_bad_bool_and_int_values_are_refused() -> None:
    with pytest.raises(OverrideError, match="expected true or false"):
        parse_overrides(["shell.export_pfx.include_chain=maybe"])
    with pytest.raises(OverrideError, match="expected a whole number"):
        parse_overrides(["web.create_and_submit_request.key_size=big"])


def test_step_ids_are_unique_and_numbered_as_the_page() -> None:
    ids = [s.id for s in all_steps()]
    assert len(ids) == len(set(ids))
    shell = [s.number for s in all_steps() if s.procedure.key == "shell"]
    assert shell == ["1", "2", "3", "4", "5", "6"]


def test_secrets_are_masked() -> None:
    masked = mask_secrets({"password": "mnopqr", "storepass": "genesys", "file_name": "x.pfx", "key_store_pass": "p"})
    assert masked == {"password": MASK, "storepass": MASK, "file_name": "x.pfx", "key_store_pass": MASK}
