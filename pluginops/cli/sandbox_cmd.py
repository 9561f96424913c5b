"""`pluginops run`, `approve`, `deny`, `approvals`, `audit verify`, `policy check`."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import click

from contracts.codes import Code
from contracts.errors import EXIT_FAILED, PluginopsError
from contracts.layout import Layout
from contracts.outcomes import Decision, ExecutionOutcome
from pluginops.cli import wiring
from pluginops.cli.common import emit_json, format_option, handles_errors, home_option
from runtime.admin import approving
from runtime.sandbox.approvals import Approvals
from runtime.sandbox.audit import AuditLog
from runtime.sandbox.executor import Executor
from runtime.sandbox.policy import load_policy


def _json_arg(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise PluginopsError(Code.INPUT_NOT_JSON, f"not JSON: {exc}", where=where,
                             next_step='quote it for the shell: --input \'{"text": "hi"}\''
                             ) from None


@click.command()
@click.argument("name")
@click.option("--input", "input_text", default="{}", show_default=True,
              help="The execution's JSON input.")
@click.option("--input-file", "input_files", multiple=True, metavar="NAME=PATH",
              help="A file given to a quality gate as one of its inputs.")
@click.option("--repeat", type=click.IntRange(1, 100_000), default=1, show_default=True,
              help="Run it this many times on a warm worker; prints the last result and a "
                   "summary (outcomes, mean latency, mean cost).")
@format_option
@home_option
@handles_errors
def run(name: str, input_text: str, input_files: tuple[str, ...], repeat: int, fmt: str,
        home: Path) -> None:
    """Execute an installed plugin in its sandbox."""
    inputs = _json_arg(input_text, "--input")
    files: dict[str, bytes] = {}
    for item in input_files:
        label, _, path = item.partition("=")
        if not label or not path:
            raise PluginopsError("USAGE", f"{item!r} is not NAME=PATH", where="--input-file",
                                 next_step="e.g. --input-file coverage.json=build/cov.json")
        try:
            files[label] = Path(path).read_bytes()
        except OSError as exc:
            raise PluginopsError(Code.INPUT_FILE_UNREADABLE, str(exc), where=path,
                                 next_step="pass a readable file") from None
    deps = wiring.executor_deps(home)
    executor = Executor(deps)
    try:
        results = [executor.execute(name, inputs, files) for _ in range(repeat)]
    finally:
        deps.pool.close()
        wiring.shutdown()
    result = results[-1]
    mean_latency = sum(r.latency_s for r in results) / repeat
    mean_cost = sum(r.cost_usd for r in results) / repeat
    summary = {"runs": repeat, "outcomes": dict(Counter(r.outcome for r in results)),
               "mean_latency_s": mean_latency, "mean_cost_usd": mean_cost}
    if fmt == "json":
        emit_json({**result.to_dict(), **({"summary": summary} if repeat > 1 else {})})
    else:
        click.echo(f"{result.outcome}: {name} {result.version} in "
                   f"{result.latency_s * 1000:.1f} ms, cpu {result.cpu_s * 1000:.1f} ms, "
                   f"{result.tokens} tokens, {result.tool_calls} tool calls, "
                   f"${result.cost_usd:.6f}")
        if result.output is not None:
            click.echo(json.dumps(result.output, indent=2))
        if result.error:
            click.echo(f"  error: {result.error.get('type')}: {result.error.get('message')}")
        for denial in result.denials:
            click.echo(f"  denied: {denial['operation']} {denial['target']} "
                       f"(rule {denial['rule']})")
        if repeat > 1:
            click.echo(f"{repeat} runs: {summary['outcomes']}, mean "
                       f"{mean_latency * 1000:.2f} ms, mean cost ${mean_cost:.9f}")
    if result.outcome != ExecutionOutcome.SUCCESS:
        sys.exit(EXIT_FAILED)


def _decide(decision: str, name: str, scopes: tuple[str, ...], reason: str, as_user: str | None,
            expires: str | None, fmt: str, home: Path) -> None:
    approvals = Approvals(Layout(home).approvals_db)
    by = as_user or wiring.current_user()
    now = time.time()
    until = approving.expiry_from_text(expires, now, "--expires")
    audit = AuditLog(Layout(home).audit_log)
    decider = approving.Decider(by, "local", "cli")
    done = [approving.decide(approvals, audit, name, scope, decision, decider, reason, now,
                             until) for scope in scopes]
    if fmt == "json":
        emit_json({"decisions": [d.__dict__ for d in done]})
        return
    for item in done:
        until_text = (f" until {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(until))}"
                      if until else "")
        click.echo(f"{decision} {name} {item.scope} by {by}{until_text}: {reason}")


@click.command()
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, required=True, metavar="KIND:TARGET")
@click.option("--reason", required=True)
@click.option("--as", "as_user", metavar="USER")
@click.option("--expires", help="90m, 12h, 30d or an RFC 3339 time.")
@format_option
@home_option
@handles_errors
def approve(name: str, scopes: tuple[str, ...], reason: str, as_user: str | None,
            expires: str | None, fmt: str, home: Path) -> None:
    """Approve elevated scopes a plugin requested (never by the one who asked)."""
    _decide(Decision.APPROVED, name, scopes, reason, as_user, expires, fmt, home)


@click.command()
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, required=True, metavar="KIND:TARGET")
@click.option("--reason", required=True)
@click.option("--as", "as_user", metavar="USER")
@format_option
@home_option
@handles_errors
def deny(name: str, scopes: tuple[str, ...], reason: str, as_user: str | None, fmt: str,
         home: Path) -> None:
    """Deny elevated scopes a plugin requested."""
    _decide(Decision.DENIED, name, scopes, reason, as_user, None, fmt, home)


@click.command()
@click.argument("name", required=False)
@format_option
@home_option
@handles_errors
def approvals(name: str | None, fmt: str, home: Path) -> None:
    """Elevated requests and the decisions on them."""
    store = Approvals(Layout(home).approvals_db)
    now = time.time()
    rows = []
    for req in store.requests(name):
        latest = store.latest(req.plugin).get(req.scope)
        state = ("approved" if latest and latest.in_force(now) else
                 "expired" if latest and latest.decision == Decision.APPROVED else
                 latest.decision if latest else "pending")
        rows.append({**req.__dict__, "state": state,
                     "decision": latest.__dict__ if latest else None})
    if fmt == "json":
        emit_json({"requests": rows})
        return
    if not rows:
        click.echo("no elevated requests")
    for row in rows:
        who = f" by {row['decision']['decided_by']}" if row["decision"] else ""
        click.echo(f"{row['plugin']} {row['scope']}: {row['state']}{who} (asked by "
                   f"{row['requested_by']}: {row['justification']})")


@click.group()
def audit() -> None:
    """The hash-chained audit log."""


@audit.command("verify")
@format_option
@home_option
@handles_errors
def audit_verify(fmt: str, home: Path) -> None:
    """Check that no audit record was changed, removed or reordered."""
    result = AuditLog(Layout(home).audit_log).verify()
    if fmt == "json":
        emit_json(result.__dict__)
    elif result.ok:
        click.echo(f"audit log intact: {result.records} records")
    else:
        click.echo(f"audit log BROKEN at line {result.line}: {result.problem} "
                   f"({result.records} records verified before it)")
    if not result.ok:
        sys.exit(EXIT_FAILED)


@audit.command("repair")
@home_option
@handles_errors
def audit_repair(home: Path) -> None:
    """Mend a torn last line left by a writer killed mid-append (appends do it too)."""
    repaired = AuditLog(Layout(home).audit_log).repair()
    if repaired is None:
        click.echo("audit log: nothing to repair")
    elif repaired.action == "completed":
        click.echo("audit log: the last record was whole but for its newline; completed")
    else:
        click.echo(f"audit log: a torn last line of {repaired.bytes} bytes was moved aside "
                   f"(sha256 {repaired.sha256}) and the repair recorded in the chain")


@click.group()
def policy() -> None:
    """The org policy file (<home>/policy.yaml)."""


@policy.command("check")
@format_option
@home_option
@handles_errors
def policy_check(fmt: str, home: Path) -> None:
    """Validate the policy and print it as it is understood."""
    loaded = load_policy(home)
    if fmt == "json":
        emit_json(loaded.model_dump())
    else:
        click.echo(f"policy version {loaded.version}: valid")
        click.echo(json.dumps(loaded.model_dump(), indent=2))
