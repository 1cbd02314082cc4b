"""The lab's Configuration Server login: random per lab, published in ``lab.json`` (0600)
under ``accounts.configserver``, used by the lab's own clients; Genesys's fixed
``default``/``password`` is refused. The Application object there holds the connector's AD
password, so a login anyone could guess would hand it to every user of the host."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path

import requests

from harness.pytest_plugin import LabThread

LOGIN = "gax/api/session/login"
APPS = "gax/api/cfg/objects/CfgApplication"


def lab_account(lab: LabThread) -> tuple[str, dict[str, str]]:
    """The lab's Configuration Server URL and account, as ``lab.json`` publishes them."""
    path = lab.lab.lab_json_path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = json.loads(path.read_text())
    return doc["endpoints"]["configserver"], doc["accounts"]["configserver"]


def login(url: str, username: str, password: str) -> requests.Response:
    return requests.post(url + LOGIN, json={"username": username, "password": password}, timeout=5)


def test_lab_json_account_logs_in_and_the_fixed_one_is_refused(ucclab_lab: LabThread) -> None:
    url, account = lab_account(ucclab_lab)
    assert set(account) == {"username", "password"}
    assert account["password"] != "password" and len(account["password"]) >= 16

    answer = login(url, account["username"], account["password"])
    assert answer.status_code == 200, answer.text
    apps = requests.get(url + APPS, headers={"Authorization": f"Bearer {answer.json()['token']}"}, timeout=5)
    assert [app["name"] for app in apps.json()] == [ucclab_lab.lab.topology.application_name]

    refused = login(url, "default", "password")
    assert refused.status_code == 401 and "wrong user name or password" in refused.json()["message"]
    assert requests.get(url + APPS, timeout=5).status_code == 401


def test_each_lab_has_its_own_password_and_keeps_it_across_restarts(
    ucclab_lab_factory: Callable[..., LabThread], tmp_path: Path
) -> None:
    first = ucclab_lab_factory(workdir=tmp_path / "one")
    other = ucclab_lab_factory(workdir=tmp_path / "two")
    _, first_account = lab_account(first)
    other_url, other_account = lab_account(other)
    assert first_account["password"] != other_account["password"]
    # One lab's password does not open another lab's Configuration Server.
    assert login(other_url, first_account["username"], first_account["password"]).status_code == 401

    first.stop()
    again = ucclab_lab_factory(workdir=tmp_path / "one")
    url, account = lab_account(again)
    assert account == first_account
    assert login(url, account["username"], account["password"]).status_code == 200


def test_a_workdir_from_before_the_account_gets_one(
    ucclab_lab_factory: Callable[..., LabThread], tmp_path: Path
) -> None:
    workdir = tmp_path / "older"
    (workdir / "state").mkdir(parents=True, mode=0o700)
    older = {"enroll_password": "Lab-enroll-1a", "ucc_account_password": "Lab-ucc-1a",
             "frontend_computer_password": "Lab-fe-1a"}
    secrets_path = workdir / "state" / "secrets.json"
    secrets_path.write_text(json.dumps(older))
    lab = ucclab_lab_factory(workdir=workdir)
    url, account = lab_account(lab)
    assert login(url, account["username"], account["password"]).status_code == 200
    stored = json.loads(secrets_path.read_text())
    # The lab's later secrets are filled in too (the admin API's token), the older ones kept.
    assert stored == {**older, "configserver_password": account["password"], "admin_token": stored["admin_token"]}
    assert stored["admin_token"]
    assert stat.S_IMODE(secrets_path.stat().st_mode) == 0o600

    async def through_the_labs_own_client() -> str | None:
        async with lab.lab.configserver_client() as cfg:
            app = await cfg.find_application(lab.lab.topology.application_name)
            return app.option("Microsoft-OCS", "user") if app else None

    assert lab.run(through_the_labs_own_client()) == lab.lab.topology.ucc_account
