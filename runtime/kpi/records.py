"""Read a home's durable records into KPI facts, changing nothing: a record that does not exist
yet contributes no rows (no database is created by reading). Every database is opened
read-only."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contracts.kpis import BY_NAME, Kpi
from contracts.layout import Layout
from contracts.outcomes import TransactionState
from runtime.bake.store import ROLLED_BACK as BAKE_ROLLED_BACK
from runtime.harness import gate
from runtime.install import pointer
from runtime.install.extract import check_tree
from runtime.install.lock import is_held
from runtime.kpi.facts import (
    REFUSED,
    Attempt,
    Facts,
    GateRun,
    Grant,
    Incident,
    IncidentReader,
    Installed,
    Release,
    Usage,
)
from runtime.profiles import PROFILES
from runtime.registry.index import Registry

TRANSACTIONS = """SELECT t.id, t.plugin, t.operation, t.state, t.started_at, t.ended_at,
                         COALESCE(t.error_code, ''),
                         (SELECT e.detail FROM events e WHERE e.tx_id = t.id
                          AND e.kind = 'phase_failed' ORDER BY e.seq DESC LIMIT 1)
                  FROM transactions t"""
REFUSALS = "SELECT plugin, operation, code, at FROM refusals"
INSTALLED = "SELECT plugin, version, type FROM installed ORDER BY plugin"
BAKES = "SELECT plugin, ended_at FROM bakes WHERE state = ? AND ended_at IS NOT NULL"
GRANTS = """SELECT plugin, scope, decided_at FROM approval_decisions
            WHERE decision = 'approved'"""
USAGE = "SELECT plugin, day, cost_usd, executions FROM daily_usage"
INCIDENTS = "SELECT drill, scenario, alert, injected_at, detected_s FROM incidents"


def _rows(path: Path, sql: str, args: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
    """The query's rows from an existing database opened read-only; none when the file or the
    table does not exist (a home that has not used that part yet)."""
    if not path.exists():
        return []
    db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        return db.execute(sql, tuple(args)).fetchall()
    except sqlite3.OperationalError as err:
        if "no such table" in str(err):
            return []
        raise
    finally:
        db.close()


def _cause(error_code: str, failed_event: str | None) -> str:
    if failed_event:
        detail = json.loads(failed_event)
        return str(detail.get("cause") or detail.get("code") or error_code)
    return error_code


def attempts(layout: Layout) -> list[Attempt]:
    out = [Attempt(plugin, operation, state, ended if ended is not None else started,
                   _cause(code, event))
           for _, plugin, operation, state, started, ended, code, event
           in _rows(layout.journal, TRANSACTIONS)]
    out += [Attempt(plugin, operation, REFUSED, at, code)
            for plugin, operation, code, at in _rows(layout.journal, REFUSALS)]
    return out


def _day_start(day: str) -> float:
    return datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()


def _published(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def releases(registry: Registry | None) -> list[Release]:
    if registry is None:
        return []
    return [Release(name, p.version.release, p.version.is_prerelease,
                    _published(p.entry.published_at))
            for name in registry.names() for p in registry.versions(name)]


def gate_runs(home: Path) -> list[GateRun]:
    runs = []
    for stored in gate.trusted_records(home):
        scenarios = [s for s in stored.get("scenarios", []) if isinstance(s, dict)]
        critical = [s for s in scenarios if s.get("critical")]
        runs.append(GateRun(str(stored.get("plugin")), str(stored.get("version")),
                            float(stored.get("finished_at") or 0.0), len(critical),
                            sum(1 for s in critical if s.get("status") == "passed")))
    return runs


def consistency(layout: Layout, plugin: str, version: str) -> str | None:
    """What is wrong with an installed plugin's active version on disk, or None: the pointer
    names it, its folder exists, and every file has the size it was installed with."""
    active = pointer.read(layout.current(plugin))
    if active != version:
        return f"the active pointer names {active or 'nothing'}, the journal {version}"
    folder = layout.version_dir(plugin, version)
    if not folder.is_dir():
        return f"{folder.name} is missing"
    try:
        tree = json.loads(layout.tree_file(plugin, version).read_text())
    except (OSError, ValueError):
        return "its file list is missing or unreadable"
    return check_tree(folder, tree)


def installed(layout: Layout) -> list[Installed]:
    out = []
    for plugin, version, kind in _rows(layout.journal, INSTALLED):
        profile = PROFILES.get(kind)
        out.append(Installed(plugin, kind, profile.name if profile else None,
                             consistency(layout, plugin, version)))
    return out


def orphaned(layout: Layout) -> list[str]:
    """Running transactions whose process is gone: their plugin's lock is free."""
    return [tx_id for tx_id, plugin, _, state, *_ in _rows(layout.journal, TRANSACTIONS)
            if state == TransactionState.RUNNING and not is_held(layout.lock(plugin))]


def bake_rollbacks(layout: Layout) -> list[Attempt]:
    return [Attempt(plugin, "update", BAKE_ROLLED_BACK, ended)
            for plugin, ended in _rows(layout.bakes_db, BAKES, (BAKE_ROLLED_BACK,))]


def grants(layout: Layout) -> list[Grant]:
    return [Grant(plugin, scope, at) for plugin, scope, at in _rows(layout.approvals_db, GRANTS)]


def usage(layout: Layout) -> list[Usage]:
    return [Usage(plugin, day, _day_start(day), cost, executions)
            for plugin, day, cost, executions in _rows(layout.metering_db, USAGE)]


def incidents(layout: Layout) -> list[Incident]:
    return [Incident(drill, scenario, alert, at, detected)
            for drill, scenario, alert, at, detected in _rows(layout.drills_db, INCIDENTS)]


def read(home: Path, registry: Registry | None = None,
         production: IncidentReader | None = None, at: float | None = None) -> Facts:
    """Everything the scorecard needs from `home` (and the releases of `registry`); with a
    `production` reader, the pages a store saw over the two MTTD periods ending `at` too."""
    layout = Layout(home)
    found = incidents(layout)
    if production is not None and at is not None:
        span = BY_NAME[Kpi.MTTD].period_days * 86400.0
        found += production(at - 2 * span, at)
    return Facts(attempts=attempts(layout), bake_rollbacks=bake_rollbacks(layout),
                 grants=grants(layout), usage=usage(layout), releases=releases(registry),
                 gate_runs=gate_runs(home), incidents=found,
                 installed=installed(layout), orphaned=orphaned(layout))
