"""``ucclab``: the lab's command line (DESIGN.md contracts).

Exit status: 0 confirmed / no problems; 1 not confirmed / problems found; 2 bad usage or
unreadable input. With ``--json`` exactly one JSON document goes to stdout; progress
and messages for people go to stderr.

Each command imports what it uses when it runs (the lab, the stand-ins, the artifact
readers, aiohttp): ``ucclab --help`` and ``ucclab inspect`` load no server, and a replay
loads no container or report code.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shlex
import shutil
import signal
import sys
import tempfile
import threading
from enum import Enum
from pathlib import Path
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, NoReturn, Optional, TextIO, TypeVar

import typer

from .errors import AdminUnavailable, HostDown, LabError

if TYPE_CHECKING:  # imported by the commands that use them
    from .attach import AttachedLab
    from .powershell import HostResult
    from .replay import ReplayResult

    from .keys import KeyCache
    from .lab import Lab, LabBase, Topology
    from .transcript import TranscriptEntry

# Help and usage errors in click's plain layout: typer's rich layout loads rich.markdown
# and pygments, which tripled the time ``ucclab --help`` takes.
HELP_LAYOUT = {"rich_markup_mode": None}

app = typer.Typer(
    name="ucclab",
    help="Mock lab for securing the Genesys UC Connector <-> Lync / Skype for Business Front End link.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    **HELP_LAYOUT,
)


# Messages for people, with a few styles written as tags: "[red]…[/red]", "[bold]", "[dim]",
# "[green]", "[yellow]"; "[[" is a literal "[" (what escape() makes of every "[" in a text).
_STYLES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33"}
_MARKUP = re.compile(r"\[\[|\[(/?)(" + "|".join(_STYLES) + r")\]")


def _wants_colour(stream: TextIO) -> bool:
    """No styles with NO_COLOR (https://no-color.org, which wins over FORCE_COLOR as in
    rich), styles with FORCE_COLOR (https://force-color.org), else on a terminal that is
    not a dumb one."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    if os.environ.get("TERM") in ("dumb", "unknown"):
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


def render(markup: str, *, colour: bool) -> str:
    """``markup`` with its tags as ANSI SGR sequences (``colour``) or removed."""
    active: list[str] = []

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "[[":
            return "["
        closing, style = match.groups()
        if closing:
            if style in active:
                del active[len(active) - 1 - active[::-1].index(style)]
            return "\x1b[0m" + "".join(f"\x1b[{_STYLES[a]}m" for a in active) if colour else ""
        active.append(style)
        return f"\x1b[{_STYLES[style]}m" if colour else ""

    text = _MARKUP.sub(replace, markup)
    return text + "\x1b[0m" if colour and active else text


class _Stderr:
    """stderr for people: :func:`render`'s markup, coloured on a terminal, one line per
    message however long (a log or a CI job gets them whole)."""

    def print(self, markup: str = "") -> None:
        sys.stderr.write(render(markup, colour=_wants_colour(sys.stderr)) + "\n")


err = _Stderr()


def escape(text: str) -> str:
    """``text`` shown as it is (its "[" are not tags)."""
    return text.replace("[", "[[")


EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


T = TypeVar("T")


class Path_(str, Enum):
    mtls = "mtls"
    tls_kerberos = "tls-kerberos"
    all = "all"


class Client(str, Enum):
    python = "python"
    java = "java"
    both = "both"


def _fail_usage(message: str) -> "typer.Exit":
    err.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(EXIT_USAGE)


def _print_entry(entry: TranscriptEntry) -> None:
    mark = "[red]✗[/red]" if entry.outcome == "failed" else "[green]✓[/green]"
    err.print(f"{mark} [bold]{escape(entry.heading)}[/bold], step {entry.step}: {escape(entry.action)}")
    for a in entry.artifacts:
        err.print(f"    wrote {escape(a.path)}  sha256 {a.sha256[:16]}…")
    if entry.gap:
        err.print(f"    [yellow]gap in the page:[/yellow] {escape(entry.gap)}")
    if entry.note:
        err.print(f"    note: {escape(entry.note)}")
    if entry.code:
        err.print(f"    [red]diagnosis {entry.code}[/red] — fix: {escape(entry.fix or '')}")


@app.command("replay")
def replay_command(
    path: Annotated[Path_, typer.Argument(help="Which procedures: the MTLS path, the TLS/Kerberos path, or both.")] = Path_.all,
    workdir: Annotated[Optional[Path], typer.Option(help="Lab folder (default: a new temporary folder).")] = None,
    client: Annotated[Client, typer.Option(help="Who plays the UC Connector: the Python stand-in, the real JSSE/JGSS stack (java), or both, compared.")] = Client.python,
    set_: Annotated[list[str], typer.Option("--set", help="Change a step's parameter: STEP.PARAM=VALUE (see --list-steps).")] = [],
    literal: Annotated[bool, typer.Option(help="Follow the page to the letter, gaps included.")] = False,
    two_tier: Annotated[bool, typer.Option(help="An offline root above the page's CA (issuing CA).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
    list_steps: Annotated[bool, typer.Option("--list-steps", help="List the steps and their parameters, then exit.")] = False,
    report: Annotated[Optional[Path], typer.Option(help="Write a self-contained HTML report (transcript, findings, ladder diagrams).")] = None,
    attach: Annotated[Optional[Path], typer.Option(help="Replay into the lab already running in this folder (ucclab up, --containers, compose), through its lab.json.")] = None,
    fresh_keys: Annotated[bool, typer.Option("--fresh-keys", help=FRESH_KEYS_HELP)] = False,
) -> None:
    """Replay the page's procedures in a lab and report the outcome."""
    import asyncio

    from .lab import Lab, Topology
    from .procedures import OverrideError
    from .replay import parse_overrides, replay

    if list_steps:
        _list_steps()
        raise typer.Exit(EXIT_OK)
    if attach is not None and (workdir is not None or two_tier):
        raise _fail_usage("--attach replays into a running lab: its folder and topology are that lab's (drop --workdir/--two-tier)")
    _check_report_path(report)
    try:
        overrides = parse_overrides(list(set_) + (["replay.literal=true"] if literal else []))
    except OverrideError as exc:
        raise _fail_usage(str(exc)) from None
    if client is not Client.python:
        from .javaprobe import JavaUnavailableError, ensure_compiled

        try:
            ensure_compiled()  # once, before the lab starts: javac takes about a second
        except JavaUnavailableError as exc:
            raise _fail_usage(str(exc)) from None
    topology = Topology(two_tier_ca=two_tier)
    folder = attach or workdir or Path(tempfile.mkdtemp(prefix="ucclab-replay-"))
    keys = _key_cache(fresh_keys)

    async def run():
        if attach is not None:
            from .attach import AttachedLab

            async with AttachedLab(attach, prepare=True) as attached:
                attached.keys = keys  # the keys the page's steps make on this machine
                return await replay(attached, path.value, overrides, client=client.value, progress=_print_entry)
        async with Lab(folder, topology, keys=keys) as lab:
            return await replay(lab, path.value, overrides, client=client.value, progress=_print_entry)

    try:
        result = asyncio.run(run())
    except LabError as exc:
        if workdir is None and attach is None:
            shutil.rmtree(folder, ignore_errors=True)  # a lab that never started: nothing to keep
        raise _fail_usage(str(exc)) from None
    except HostDown as exc:
        err.print(f"[red]a host of the lab is down:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_PROBLEMS) from None
    except AdminUnavailable as exc:
        # The attached lab stopped answering mid-replay: say which host, and why if a container died.
        err.print(f"[red]the lab stopped answering:[/red] {escape(str(exc))}")
        for line in _dead_hosts(folder):
            err.print(escape(line))
        raise typer.Exit(EXIT_PROBLEMS) from None
    if report is not None:
        _write_report(report, result.to_json(), f"ucc-lab replay {path.value}")
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
    _summarize(result)
    raise typer.Exit(result.exit_code)


def _dead_hosts(workdir: Path) -> list[str]:
    """For a container lab: each host whose container is not running, with its last log lines."""
    try:
        from .containers import ContainerError, lab_containers

        running = lab_containers(workdir)
    except Exception:  # noqa: BLE001 - no engine, or not a container lab: nothing more to say
        return []
    lines = []
    for host, container in sorted(running.items()):
        if host == "prepare":  # compose's one-shot step, done by design
            continue
        try:
            container.check_running()
        except ContainerError as exc:
            lines.append(str(exc))
    return lines


def _summarize(result) -> None:
    err.print()
    for h in result.handshakes:
        reason = f" — {h['reason']}" if h.get("reason") else ""
        direction = f" {h['direction']}" if h.get("direction") else ""
        err.print(escape(f"handshake {h['kind']}{direction} ({h['client']} client): {h['outcome']}{reason}"))
    for d in result.diagnoses:
        where = d["doc_step"] or "not a step of the page"  # the CA's CRL, a TLS version, the lab itself
        err.print(f"[red]{d['code']}[/red] at {escape(where)}: {escape(d['message'])}\n    fix: {escape(d['fix'] or '-')}")
    colour = {"confirmed": "green", "failed": "red"}.get(result.outcome, "yellow")
    err.print(f"outcome: [{colour}]{result.outcome}[/{colour}]   workdir: {escape(str(result.workdir))}")


FRESH_KEYS_HELP = ("Make the lab's keys and CA anew instead of taking them from this machine's key cache "
                   "(~/.cache/ucclab/keys), and keep the new ones there.")


def _key_cache(fresh: bool) -> KeyCache:
    """This machine's key cache (emptied first with ``--fresh-keys``); unusable: a usage error."""
    from .keys import KeyCache, KeyCacheError

    keys = KeyCache.default()
    if fresh:
        try:
            keys.clear()
        except (KeyCacheError, OSError) as exc:
            raise _fail_usage(str(exc)) from None
    return keys


def _list_steps() -> None:
    from .procedures import PROCEDURES
    from .replay import REPLAY_OPTIONS

    for proc in PROCEDURES.values():
        print(proc.heading)
        for step in proc.steps:
            params = ", ".join(f"{n}={d!r}" for n, d in step.defaults().items())
            print(f"  {step.number:>9}  {step.id}" + (f"  ({params})" if params else ""))
    print("replay options")
    print("           " + ", ".join(f"replay.{k}={v!r}" for k, v in REPLAY_OPTIONS.items()))


scenarios_app = typer.Typer(help="Customer-issue scenarios: the page with one wrong turn, and the diagnosis expected.", no_args_is_help=True, **HELP_LAYOUT)
app.add_typer(scenarios_app, name="scenarios")


@scenarios_app.command("list")
def scenarios_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
) -> None:
    """List the scenarios: name, path, expected outcome and codes, the customer's symptom."""
    from .scenarios import ScenarioError, load_scenarios

    try:
        scenarios = load_scenarios()
    except ScenarioError as exc:
        raise _fail_usage(str(exc)) from None
    if as_json:
        print(json.dumps({"scenarios": [s.to_json() for s in scenarios]}, indent=2))
        return
    for s in scenarios:
        codes = ", ".join(s.expect_codes) or "-"
        print(f"{s.name:<42} {s.path:<13} {s.expect_outcome:<10} {codes}")
        print(f"{'':<42} “{s.symptom}”")


@scenarios_app.command("run")
def scenarios_run(
    names: Annotated[Optional[list[str]], typer.Argument(help="Scenario names (default: all).")] = None,
    workdir: Annotated[Optional[Path], typer.Option(help="Folder for the scenarios' labs (default: a new temporary folder).")] = None,
    jobs: Annotated[Optional[int], typer.Option(help="Scenarios run at the same time, each in a process of its own (default: one per core).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
    report: Annotated[Optional[Path], typer.Option(help="Write a self-contained HTML report to this file.")] = None,
    fresh_keys: Annotated[bool, typer.Option("--fresh-keys", help=FRESH_KEYS_HELP)] = False,
) -> None:
    """Run scenarios; each must reach its expected outcome and diagnosis codes."""
    from .scenarios import ScenarioError, run_scenarios

    _check_report_path(report)
    keys = _key_cache(fresh_keys)
    root = workdir or Path(tempfile.mkdtemp(prefix="ucclab-scenarios-"))
    try:
        results = run_scenarios(names or None, workdir_root=root, jobs=jobs, keys=keys)
    except ScenarioError as exc:
        raise _fail_usage(str(exc)) from None
    document = {"scenarios": [r.to_json() for r in results]}
    if report is not None:
        _write_report(report, document, "ucc-lab scenarios")
    if as_json:
        print(json.dumps(document, indent=2, default=str))
    for r in results:
        mark = "[green]✓[/green]" if r.passed else "[red]✗[/red]"
        err.print(f"{mark} {escape(r.name)}: {r.outcome} {escape(', '.join(r.codes) or '-')}")
        for problem in r.problems:
            err.print(f"    [red]{escape(problem)}[/red]")
    passed = sum(r.passed for r in results)
    err.print(f"{passed} of {len(results)} scenarios reached their expected outcome   workdir: {escape(str(root))}")
    raise typer.Exit(EXIT_OK if passed == len(results) else EXIT_PROBLEMS)


def _check_report_path(path: Path | None) -> None:
    """Refuse a ``--report`` that cannot be written, before any work: a missing folder is
    named, not quietly created."""
    if path is None:
        return
    if not path.parent.is_dir():
        raise _fail_usage(f"--report {path}: there is no folder {path.parent}; create it first or write the report elsewhere")
    if path.is_dir():
        raise _fail_usage(f"--report {path}: that is a folder; give a file name, e.g. {path / 'report.html'}")


def _write_report(path: Path, document: dict, title: str) -> None:
    from .report import write_report

    try:
        write_report(path, document, title=title)
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename and str(exc.filename) != str(path) else ""
        raise _fail_usage(f"{path}: cannot write the report ({exc.strerror}{where})") from None
    err.print(f"report: {escape(str(path))}")


# What the page's end state has written: a restart finding all of them intact reuses them.
_END_STATE_ROLES = ("ca-certificate", "ucc-pfx", "lync-trusted-certificate", "truststore", "krb5-conf", "startup-bat")
# What each endpoint of lab.json is, for the banner.
_ENDPOINT_LABELS = {
    "certsrv": "AD CS web enrollment, HTTPS",
    "configserver": "Configuration Server: GAX API, and its console at /gax/",
    "frontend": "Front End, SIP over TLS: MTLS, or MS-SIPAE Kerberos without a client certificate",
    "kdc": "Kerberos KDC, UDP and TCP",
    "console": "the lab console, loopback only; log in with lab.json's admin.token",
}


def _end_state_damage(lab: Lab) -> list[str] | None:
    """``None`` when no file of the page's end state was made here; else why it cannot be
    reused, one line per file not made yet or not reading back (empty: reuse it all)."""
    assert lab.manifest is not None
    made = {role: entry for role in _END_STATE_ROLES if (entry := lab.manifest.get(role)) is not None}
    if not made:
        return None
    problems = [f"{role}: not made yet" for role in _END_STATE_ROLES if role not in made]
    for role, entry in made.items():
        why = lab.manifest.damage(role)
        if why is not None:
            problems.append(f"artifacts/{entry.path} ({role}): {why}")
    return problems


def _print_banner(lab: LabBase) -> None:
    """Where the lab listens, each endpoint named by what it is, and how to watch its SIP."""
    err.print(f"\nlab up in {escape(str(lab.workdir))}")
    endpoints = lab.lab_json()["endpoints"]
    for name, endpoint in endpoints.items():
        if isinstance(endpoint, dict):
            endpoint = f"{endpoint['host']}:{endpoint['port']}"
        label = f"  ({_ENDPOINT_LABELS[name]})" if name in _ENDPOINT_LABELS else ""
        err.print(f"  {name:<13} {escape(str(endpoint))}{label}")
    err.print(f"  lab.json      {escape(str(lab.lab_json_path))}")
    err.print(f"  events        {escape(str(lab.logs_dir / 'frontend-events.jsonl'))}")
    keylog = lab.logs_dir / "sslkeylog.txt"
    err.print(f"  TLS key log   {escape(str(keylog))}")
    # Wireshark's SIP dissector reads TLS only on its sip.tls.port preference (5061 unless
    # told: epan/dissectors/packet-sip.c); the lab's Front End listens on a port of its own.
    port = endpoints["frontend"]["port"]
    line = f"tshark -i lo -f 'tcp port {port}' -o tls.keylog_file:{shlex.quote(str(keylog))} -o sip.tls.port:{port} -Y sip"
    err.print(f"  watch the SIP {escape(line)}")


@app.command("up")
def up_command(
    workdir: Annotated[Path, typer.Option(help="Lab folder; a restart on the same folder reuses the CA and the artifacts.")] = Path("lab"),
    blank: Annotated[bool, typer.Option(help="Start the stand-ins only; do not replay the page first.")] = False,
    two_tier: Annotated[bool, typer.Option(help="An offline root above the page's CA (issuing CA).")] = False,
    containers: Annotated[bool, typer.Option(help="One container per host (Docker), on a network of their own; returns once they serve (ucclab down stops them).")] = False,
    bind: Annotated[str, typer.Option(help="Address the stand-ins listen on (a LAN address to let other machines in).")] = "127.0.0.1",
    advertise: Annotated[Optional[str], typer.Option(help="Address or name other machines reach the lab by (default: --bind).")] = None,
    fresh_keys: Annotated[bool, typer.Option("--fresh-keys", help=FRESH_KEYS_HELP)] = False,
    scenario: Annotated[Optional[str], typer.Option(help="A customer's fault in place for a trainee to find: the page replayed with the scenario's deviations (ucclab scenarios list).")] = None,
) -> None:
    """Keep a lab running (the sandbox) until Ctrl-C / SIGTERM; endpoints in WORKDIR/lab.json."""
    import asyncio

    from .console import LabConsole
    from .lab import Lab, Topology
    from .replay import replay

    topology = Topology(two_tier_ca=two_tier)
    staged = _scenario_for_up(scenario, workdir, blank=blank, two_tier=two_tier, containers=containers)
    java_home = None
    if staged is not None:
        topology = staged.topology
        java_home = workdir.resolve() / "jdk" if "jdk_cacerts" in staged.environment else None
    if containers:
        if bind != "127.0.0.1" or advertise is not None:
            raise _fail_usage("--containers publishes the hosts' ports on this machine's loopback; --bind/--advertise are for a lab in this process")
        raise typer.Exit(_up_containers(workdir, topology, blank))
    if bind in ("0.0.0.0", "::") and advertise is None:
        raise _fail_usage(f"--bind {bind} listens on every address: say which one other machines use with --advertise")
    keys = _key_cache(fresh_keys)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with Lab(workdir, topology, publish=False, keylog=True, host=bind, advertise=advertise, keys=keys,
                       java_home=java_home) as lab, \
                LabConsole(lab) as console:
            lab.console_url = console.url
            for note in lab.setup_notes:
                err.print(f"note: {escape(note)}")
            damage = None if blank or staged is not None else _end_state_damage(lab)
            if staged is not None:
                if not await _stage_for_up(lab, staged, java_home, stop):
                    return
            elif damage == []:
                err.print("the page's artifacts are already in place and read back intact: reusing them")
            elif not blank:
                for problem in damage or []:
                    err.print(f"[yellow]not reusable:[/yellow] {escape(problem)}")
                if damage:
                    err.print("replaying the page to make its files again")
                replaying = asyncio.ensure_future(replay(lab, "all", progress=_print_entry))
                stopping = asyncio.ensure_future(stop.wait())
                await asyncio.wait({replaying, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if stop.is_set():
                    replaying.cancel()
                    await asyncio.gather(replaying, return_exceptions=True)
                    err.print("stopped before the lab reached the page's end state")
                    return
                stopping.cancel()
                if replaying.result().outcome != "confirmed":
                    err.print("[red]the replay did not confirm the link; the lab keeps serving so you can look around[/red]")
            lab.write_lab_json()
            _print_banner(lab)
            if bind != "127.0.0.1":
                _print_hosts_file(lab)
            err.print("Ctrl-C to stop.")
            await stop.wait()
            err.print("stopping")

    try:
        asyncio.run(run())
    except LabError as exc:
        raise _fail_usage(str(exc)) from None


def _scenario_for_up(name: str | None, workdir: Path, *, blank: bool, two_tier: bool, containers: bool):
    """The scenario ``up --scenario`` stages, after its usage checks (None without one)."""
    if name is None:
        return None
    from .scenarios import ScenarioError, load_scenarios, select_scenarios

    if blank or two_tier or containers:
        raise _fail_usage("--scenario sets up its own lab in this process (its topology, the page with its fault): "
                          "drop --blank, --two-tier and --containers")
    try:
        chosen = select_scenarios(load_scenarios(), [name])[0]
    except ScenarioError as exc:
        raise _fail_usage(str(exc)) from None
    record = workdir / "state" / "scenario.json"
    if (workdir / "state").is_dir():
        try:
            staged_before = json.loads(record.read_text())["name"]
        except (OSError, ValueError, KeyError, TypeError):
            staged_before = None
        if staged_before != chosen.name:
            raise _fail_usage(f"{workdir} holds a lab{f' of scenario {staged_before}' if staged_before else ''}: a "
                              f"scenario starts in a new folder (give another --workdir)")
    return chosen


async def _stage_for_up(lab, scenario, java_home: Path | None, stop: asyncio.Event) -> bool:
    """Stage ``scenario`` in ``lab`` once (a restart finds it staged and keeps the trainee's
    work); False when stopped first."""
    import asyncio

    from fakes._files import write_private_file

    from .scenarios import stage_scenario

    record = lab.state_dir / "scenario.json"
    if record.is_file():
        err.print(f"scenario {escape(scenario.name)}: staged in this folder before; the lab resumes as it was left")
    else:
        err.print(f"staging scenario {escape(scenario.name)}: the page with the customer's deviations")
        # The sandbox's connector is the lab's stand-in: its records are the ones progress reads
        # (a Java probe's Secured port ends with the replay, and its records with it).
        staging = asyncio.ensure_future(stage_scenario(lab, scenario, java_home=java_home, client="python"))
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({staging, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            staging.cancel()
            await asyncio.gather(staging, return_exceptions=True)
            err.print("stopped before the scenario was in place")
            return False
        stopping.cancel()
        staging.result()
        write_private_file(record, (json.dumps({"name": scenario.name}) + "\n").encode())
    err.print(f"the customer says: “{escape(scenario.symptom)}”")
    folder = escape(shlex.quote(str(lab.workdir)))
    err.print(f"find the fault: ucclab progress --workdir {folder}; fix it, then start the connector again "
              f"(ucclab connect --workdir {folder}, or your own clients)")
    return True


def _print_hosts_file(lab: LabBase) -> None:
    """The lines a Windows host's hosts file needs to reach this lab by the page's names."""
    from .lab import HOSTS

    assert lab.network is not None
    err.print("  for other machines, add to C:\\Windows\\System32\\drivers\\etc\\hosts (or /etc/hosts):")
    for role in HOSTS:
        err.print(f"    {lab.network.frontend.host}  {lab.topology.fqdn(lab.host_name(role))}")


def _up_containers(workdir: Path, topology: Topology, blank: bool) -> int:
    """``ucclab up --containers``: the exit status."""
    import asyncio

    from .attach import AttachedLab
    from .containerlab import up_containers
    from .containers import ContainerError, ContainerFailed, EngineUnavailable
    from .images import ImageBuildError
    from .lab import HOSTS
    from .replay import replay

    async def run() -> int:
        lab = await up_containers(workdir, topology, progress=lambda line: err.print(escape(line)))
        outcome = EXIT_OK
        if not blank:
            async with AttachedLab(workdir, prepare=True) as attached:
                result = await replay(attached, "all", progress=_print_entry)
            _summarize(result)
            if result.outcome != "confirmed":
                err.print("[red]the replay did not confirm the link; the lab keeps serving so you can look around[/red]")
                outcome = EXIT_PROBLEMS
        _print_banner(lab)
        err.print(f"  hosts         {', '.join(lab.topology.fqdn(lab.host_name(role)) for role in HOSTS)} (containers)")
        err.print(f"replay into it: ucclab replay all --attach {escape(shlex.quote(str(lab.workdir)))}")
        err.print(f"stop it:        ucclab down --workdir {escape(shlex.quote(str(lab.workdir)))}")
        return outcome

    try:
        return asyncio.run(run())
    except (EngineUnavailable, LabError) as exc:
        raise _fail_usage(str(exc)) from None
    except (ContainerFailed, ImageBuildError, AdminUnavailable, HostDown) as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        return EXIT_PROBLEMS
    except ContainerError as exc:
        raise _fail_usage(str(exc)) from None


SERVE_HELP = """Usage: ucclab serve NAME [OPTIONS]

Run one stand-in alone, in the foreground, until Ctrl-C / SIGTERM. NAME is ca,
configserver, frontend or kdc; the stand-in's own options follow (ucclab serve ca --help)."""


@app.command(
    "serve",
    add_help_option=False,  # --help after NAME belongs to the stand-in
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def serve_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Which stand-in: ca, configserver, frontend or kdc.")],
) -> None:
    """Run one stand-in alone; the stand-in's own options follow (e.g. ucclab serve ca --help)."""
    if name in ("-h", "--help"):
        print(SERVE_HELP)
        raise typer.Exit(EXIT_OK)
    if name == "ca":
        from fakes.ca.server import main as serve_main
    elif name == "configserver":
        from fakes.configserver.server import main as serve_main
    elif name == "frontend":
        from fakes.frontend.server import main as serve_main
    elif name == "kdc":
        from fakes.kdc import main as serve_main
    else:
        raise _fail_usage(f"unknown stand-in {name!r}; expected ca, configserver, frontend, kdc")
    raise typer.Exit(serve_main(list(ctx.args)))


@app.command("check")
def check_command(
    args: Annotated[str, typer.Option("--args", help="The customer's Command Line Arguments, or their startup.bat line.")],
    files: Annotated[Optional[Path], typer.Option(help="Folder with the customer's files; Windows paths in --args resolve by file name here.")] = None,
    ucc_fqdn: Annotated[str, typer.Option(help="FQDN of the UC Connector host.")] = "ucc01.companya.com",
    frontend_fqdn: Annotated[str, typer.Option(help="FQDN of the Front End (pool).")] = "fe01.companya.com",
    frontend_cert: Annotated[Optional[Path], typer.Option(help="The certificate the Front End presents: DER/PEM, or a PFX (then live handshakes run).")] = None,
    frontend_pfx_password: Annotated[Optional[str], typer.Option(help="Password of --frontend-cert when it is a PFX.")] = None,
    krb5_conf: Annotated[Optional[Path], typer.Option(help="The customer's krb5.conf (if -krb_conf_file is not in --files).")] = None,
    endpoint_identification: Annotated[bool, typer.Option("--endpoint-identification", help="The customer's connector checks the Front End's name (HTTPS endpoint identification; a plain SSLSocket does not).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
    report: Annotated[Optional[Path], typer.Option(help="Write a self-contained HTML report to this file.")] = None,
) -> None:
    """Diagnose a customer's files and command line, without the customer's CA."""
    from .check import CheckOptions, CheckUsageError, check

    _check_report_path(report)
    options = CheckOptions(
        args=args,
        files=files,
        ucc_fqdn=ucc_fqdn,
        frontend_fqdn=frontend_fqdn,
        frontend_cert=frontend_cert,
        frontend_pfx_password=frontend_pfx_password,
        krb5_conf=krb5_conf,
        endpoint_identification="HTTPS" if endpoint_identification else None,
    )
    try:
        result = check(options)
    except CheckUsageError as exc:
        raise _fail_usage(str(exc)) from None
    document = result.to_dict()
    if report is not None:
        _write_report(report, document, "ucc-lab check")
    if as_json:
        print(json.dumps(document, indent=2, default=str))
    for f in result.findings:
        colour = "red" if f["severity"] == "error" else "yellow"
        err.print(f"[{colour}]{f['severity']} {f['code']}[/{colour}] ({escape(f['doc_step'] or '-')}): {escape(f['message'])}")
        if f.get("fix"):
            err.print(f"    fix: {escape(f['fix'])}")
    for note in result.notes:
        err.print(f"note: {escape(note)}")
    err.print(f"outcome: {result.outcome}")
    raise typer.Exit(result.exit_code)


@app.command("inspect")
def inspect_command(
    file: Annotated[Path, typer.Argument(help="A .cer/.crt/.pem, .pfx/.p12, .jks or krb5.conf.")],
    password: Annotated[Optional[str], typer.Option(help="Password of a PFX or key store.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
) -> None:
    """Show what a certificate, PFX, key store or krb5.conf holds (like certutil -dump / keytool -list -v)."""
    from .artifacts import ArtifactError, inspect_file, render_inspection

    try:
        info = inspect_file(file, password)
    except ArtifactError as exc:
        raise _fail_usage(str(exc)) from None
    except OSError as exc:
        raise _fail_usage(f"{file}: {exc.strerror}") from None
    if info.get("format") in ("unknown", "empty"):
        # Not a certificate, PFX, key store or krb5.conf: unreadable input for this command.
        raise _fail_usage(render_inspection(info))
    if as_json:
        print(json.dumps(info, indent=2, default=str))
    else:
        print(render_inspection(info))


image_app = typer.Typer(help="The lab's container images, made without a registry.", no_args_is_help=True, **HELP_LAYOUT)
app.add_typer(image_app, name="image")


@image_app.command("build")
def image_build_command(
    base: Annotated[Optional[str], typer.Option(help="Base image already in the engine (default: the lab's own, made once with debootstrap).")] = None,
) -> None:
    """Build or reuse ucclab-standins (fakes/ only) and ucclab-lab (fakes/ and harness/)."""
    from .containers import ContainerError
    from .images import ImageBuildError, build_images

    try:
        built = build_images(base, progress=lambda line: err.print(escape(line)))
    except ImageBuildError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_PROBLEMS) from None
    except ContainerError as exc:  # no engine, no debootstrap, no such base
        raise _fail_usage(str(exc)) from None
    for image in built.values():
        err.print(escape(image.summary()))


@app.command("down")
def down_command(
    workdir: Annotated[Path, typer.Option(help="Lab folder whose containers, network and volumes to remove.")] = Path("lab"),
) -> None:
    """Remove every container, network and volume of the container lab of WORKDIR."""
    from .containers import ContainerError, down

    try:
        removed = down(workdir)
    except ContainerError as exc:
        raise _fail_usage(str(exc)) from None
    err.print(escape(removed.summary()))


def _on_running_lab(workdir: Path, work: "Callable[[AttachedLab], Awaitable[T]]") -> T:
    """``await work(lab)`` on the lab running in ``workdir`` (met through its lab.json), and its
    result. No lab there is bad usage (exit 2); a lab that stopped answering or refused a
    request, exit 1 with its words."""
    import asyncio

    from .attach import AttachedLab

    async def run() -> T:
        async with AttachedLab(workdir) as lab:
            return await work(lab)

    try:
        return asyncio.run(run())
    except LabError as exc:
        raise _fail_usage(str(exc)) from None
    except (AdminUnavailable, HostDown) as exc:
        if isinstance(exc, AdminUnavailable) and exc.status is not None:
            err.print(f"[red]the lab refused a request:[/red] {escape(str(exc))}")
        else:
            err.print(f"[red]the lab stopped answering:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_PROBLEMS) from None


@app.command("host")
def host_command(
    host: Annotated[str, typer.Argument(help="The Windows host: labdc01, fe01 or ucc01 (or its FQDN).")],
    line: Annotated[Optional[list[str]], typer.Argument(help="The PowerShell line, as one quoted argument after --.")] = None,
    workdir: Annotated[Path, typer.Option(help="Folder of the running lab (its lab.json).")] = Path("lab"),
) -> None:
    """Run one PowerShell line on a Windows host of a running lab: ucclab host fe01 -- 'Get-ChildItem Cert:\\LocalMachine\\My'."""
    from .lab import WINDOWS_ROLES
    from .powershell import run_line

    if not line or len(line) != 1:
        raise _fail_usage("give the PowerShell line as one argument after --, in single quotes: "
                          "ucclab host fe01 -- 'Get-ChildItem Cert:\\LocalMachine\\My'")

    async def run(lab: "AttachedLab") -> "HostResult":
        names = {}
        for role in WINDOWS_ROLES:
            short = lab.host_name(role)
            names[short.lower()] = names[lab.topology.fqdn(short).lower()] = role
        if host.lower() not in names:
            raise _fail_usage(f"no Windows host {host!r} in this lab: its hosts are "
                              f"{', '.join(lab.host_name(r) for r in WINDOWS_ROLES)}")
        return await run_line(lab, names[host.lower()], line[0])

    result = _on_running_lab(workdir, run)
    if result.stdout:
        print(result.stdout)
    if result.stderr:
        sys.stderr.write(result.stderr + "\n")
    raise typer.Exit(result.exit_code)


@app.command("connect")
def connect_command(
    path: Annotated[Optional[Path_], typer.Argument(help="Which connections: MTLS (both directions), TLS/Kerberos, or all (default: the path the Application's arguments are set for; all when neither).", show_default=False)] = None,
    workdir: Annotated[Path, typer.Option(help="Folder of the running lab (its lab.json).")] = Path("lab"),
    client: Annotated[Client, typer.Option(help="Who plays the UC Connector: the Python stand-in, the real JSSE/JGSS stack (java), or both, compared.")] = Client.python,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout (a replay's, with an empty transcript).")] = False,
) -> None:
    """Start the UC Connector of a running lab as its Application stands now, no step of the page
    done for you: it registers with the Front End, the Front End pushes to its Secured port (MTLS),
    it logs in with Kerberos (TLS/Kerberos). Each handshake judged by what the server side saw."""
    from .progress import configured_path, read_progress
    from .replay import connect

    if client is not Client.python:
        from .javaprobe import JavaUnavailableError, ensure_compiled

        try:
            ensure_compiled()
        except JavaUnavailableError as exc:
            raise _fail_usage(str(exc)) from None

    async def start(lab: "AttachedLab") -> "ReplayResult":
        # Diagnoses point at the steps of the way the trainee took to the PFX.
        source = (await read_progress(lab)).pfx_source
        # The page's two argument sets take turns on one Application: it runs with the one it holds.
        configured = await configured_path(lab)
        chosen = path.value if path is not None else configured or "all"
        result = await connect(lab, chosen, pfx_source=source, client=client.value)
        if configured is None:
            result.setup.append("the Application's Command Line Arguments hold neither the MTLS nor the TLS set")
        elif path is None:
            result.setup.append(f"the Application's Command Line Arguments are set for {configured}: connected so")
        elif chosen != configured:
            result.setup.append(f"the Application's Command Line Arguments are set for {configured}: "
                                "the connector starts with them whatever the path")
        return result

    result = _on_running_lab(workdir, start)
    for note in result.setup:
        err.print(f"note: {escape(note)}")
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
    _summarize(result)
    raise typer.Exit(result.exit_code)


_PROGRESS_MARKS = {"done": "[green]done[/green]", "todo": "[dim]todo[/dim]", "wrong": "[red]wrong[/red]"}


@app.command("progress")
def progress_command(
    workdir: Annotated[Path, typer.Option(help="Folder of the running lab (its lab.json).")] = Path("lab"),
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
) -> None:
    """The page's steps as a checklist (done / todo / wrong) and the last handshakes, read from a running lab."""
    from .progress import read_progress

    progress = _on_running_lab(workdir, read_progress)
    if as_json:
        print(json.dumps(progress.to_json(), indent=2, default=str))
    heading = None
    for step in progress.steps:
        if step.heading != heading:
            heading = step.heading
            err.print(f"[bold]{escape(heading)}[/bold]")
        err.print(f"  {_PROGRESS_MARKS[step.status]}  step {escape(step.step)}: {escape(step.name.replace('_', ' '))}")
        if step.diagnosis:
            d = step.diagnosis
            err.print(f"        [red]{escape(d['code'])}[/red]: {escape(d['why'])}\n        fix: {escape(d['fix'] or '-')}")
        if step.note:
            err.print(f"        note: {escape(step.note)}")
    err.print()
    for h in progress.handshakes:
        direction = f" {h['direction']}" if h.get("direction") else ""
        err.print(escape(f"handshake {h['kind']}{direction}: {h['status']}"))
        for d in h["diagnoses"]:
            err.print(f"    [red]{escape(d['code'])}[/red]: {escape(d['message'])}\n    fix: {escape(d['fix'] or '-')}")
    counts = {s: sum(step.status == s for step in progress.steps) for s in ("done", "todo", "wrong")}
    err.print(f"{counts['done']} done, {counts['todo']} to do, {counts['wrong']} wrong   (the PFX by way of: {progress.pfx_source})")
    raise typer.Exit(progress.exit_code)


@app.command("explain")
def explain_command(
    file: Annotated[str, typer.Argument(help="A log file (UC Connector, Lync/SChannel events, a SIP trace, kinit or openssl output), or - for standard input.")] = "-",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
) -> None:
    """Name the diagnosis of each log line the lab recognises: code, the page's step, the fix."""
    from .explain import LogUnreadable, explain, read_log, render

    try:
        text, name = read_log(file, sys.stdin.buffer)
    except LogUnreadable as exc:
        raise _fail_usage(str(exc)) from None
    explanation = explain(text)
    print(json.dumps(explanation.to_json(), indent=2) if as_json else render(explanation, name))


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: this process's) and return its exit status."""
    try:
        app(args=argv, standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    return EXIT_OK


def entry_point() -> NoReturn:
    """The ``ucclab`` program: :func:`main`, then the process ends at once.

    By then every server and file of the lab is closed and all output written; what is left
    is the interpreter tearing down the modules a lab loads (aiohttp, cryptography, the
    stand-ins), about 0.15 s of every run. So the output is flushed, the atexit functions
    run (logging's flush, temporary files' clean-up) and the process leaves with
    ``os._exit`` — unless a thread of its own still runs, which a normal exit waits for.
    """
    status = main()
    if threading.active_count() > 1:
        sys.exit(status)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # a reader that went away (a closed pipe): nothing more to write to it
        pass
    atexit._run_exitfuncs()  # the functions a normal exit runs (CPython's own hook)
    os._exit(status)


if __name__ == "__main__":  # pragma: no cover
    entry_point()
