"""The compatibility matrix: plugin versions x host versions x plugin API versions, judged by
preflight's own host checks (so the prerelease-host policy and the API rule are the same as
`pluginops preflight`'s), optionally proven by running each plugin's golden cases on a runtime
presenting that host version and serving that API version. Written as JSON, CSV and markdown."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from runtime.harness.scenarios import Plan, api_version, load_manifest, run_one
from runtime.host import API_VERSIONS, HostDescription, this_host
from runtime.manifest.model import Manifest
from runtime.preflight.host_checks import check_api, check_capabilities, check_host_range

COMPATIBLE, HOST_RANGE, API, CAPABILITY = "compatible", "host-range", "api", "capability"
VERDICTS = (COMPATIBLE, HOST_RANGE, API, CAPABILITY)
# executed: passed | failed | not-run (no --execute) | not-executed (this runtime cannot serve
# the cell, so it is no verdict on the plugin)
NOT_RUN, NOT_EXECUTED = "not-run", "not-executed"
Executor = Callable[[Path, HostDescription], tuple[str, str]]


@dataclass(frozen=True)
class Cell:
    plugin: str
    plugin_version: str
    host_version: str
    api_version: str
    declared_host: str
    declared_api: str
    verdict: str  # one of VERDICTS
    executed: str  # passed | failed | not-run | not-executed
    detail: str = ""


def cell_host(host: HostDescription, served: str) -> HostDescription:
    """The host of one cell: the described host serving only this API version."""
    return HostDescription(version=host.version, api=[served], capabilities=host.capabilities)


def judge(manifest: Manifest, host: HostDescription) -> tuple[str, str]:
    """A cell's verdict and why, from preflight's checks of host range, API and capabilities."""
    notes = []
    for verdict, check in ((HOST_RANGE, check_host_range), (API, check_api),
                           (CAPABILITY, check_capabilities)):
        findings = check(manifest, host)
        errors = [f for f in findings if f.severity == "error"]
        if errors:
            return verdict, errors[0].message
        notes += [f.message for f in findings]  # HOST_PRERELEASE: compatible, and how
    return COMPATIBLE, "; ".join(notes)


def derive(plugin_dirs: list[Path], hosts: list[HostDescription],
           execute: Executor | None = None) -> list[Cell]:
    cells = []
    ran: dict[tuple[Path, str, str], tuple[str, str]] = {}
    for folder in plugin_dirs:
        manifest = load_manifest(folder)
        for host in hosts:
            for served in sorted(set(host.api)):
                here = cell_host(host, served)
                verdict, detail = judge(manifest, here)
                executed = NOT_RUN
                if execute is not None and verdict == COMPATIBLE:
                    key = (folder, host.version, served)
                    if key not in ran:
                        ran[key] = execute(folder, here)
                    executed, ran_detail = ran[key]
                    detail = "; ".join(part for part in (detail, ran_detail) if part)
                cells.append(Cell(manifest.name, manifest.version, host.version, served,
                                  manifest.host, manifest.api, verdict, executed, detail))
    return cells


def golden_executor(registry: Path | None, trust: tuple[Path, ...],
                    policy: Path | None = None) -> Executor:
    """Runs a plugin's golden cases on a runtime presenting the cell's host (its version and
    this one API version). The runtime can present an API version when it implements that
    major at that minor or above (minors only add); any other cannot be served, and the cell is
    `not-executed`, which says nothing against the plugin."""
    from dataclasses import replace

    from runtime.harness.run import plan_for

    def run(folder: Path, host: HostDescription) -> tuple[str, str]:
        [served] = host.api
        if not this_host().serves_api(served):
            return NOT_EXECUTED, (f"this runtime does not implement plugin API {served} "
                                  f"(it serves {', '.join(API_VERSIONS)})")
        plan: Plan = replace(plan_for(folder, [], registry, trust, (served,)), host=host,
                             policy=policy)
        result = run_one(f"api@{served}", True, api_version(served), plan)
        return result.status, result.detail

    return run


def to_json(cells: list[Cell]) -> str:
    summary = {verdict: sum(c.verdict == verdict for c in cells) for verdict in VERDICTS}
    summary["executed_failed"] = sum(c.executed == "failed" for c in cells)
    summary["not_executed"] = sum(c.executed == NOT_EXECUTED for c in cells)
    return json.dumps({"cells": [asdict(c) for c in cells], "summary": summary},
                      indent=2) + "\n"


def to_csv(cells: list[Cell]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(Cell.__dataclass_fields__), lineterminator="\n")
    writer.writeheader()
    for cell in cells:
        writer.writerow(asdict(cell))
    return out.getvalue()


def _mark(cell: Cell) -> str:
    if cell.verdict == HOST_RANGE:
        return "no (host range)"
    if cell.verdict == API:
        return "no (API)"
    if cell.verdict == CAPABILITY:
        return "no (capability)"
    return {"passed": "yes, golden passed", "failed": "**golden FAILED**", NOT_RUN: "yes",
            NOT_EXECUTED: "yes (not executed: runtime cannot serve it)"}[cell.executed]


def to_markdown(cells: list[Cell]) -> str:
    lines = ["# Compatibility matrix", "",
             "Plugin versions x host versions x plugin API versions, from the declared ranges "
             "(`host`, `api`) and the host descriptions; \"golden\" where the plugin's cases "
             "were run with the runtime serving that API version.", ""]
    plugins: dict[tuple[str, str], list[Cell]] = {}
    for cell in cells:
        plugins.setdefault((cell.plugin, cell.plugin_version), []).append(cell)
    for (name, version), group in plugins.items():
        apis = sorted({c.api_version for c in group}, key=lambda v: tuple(map(int, v.split("."))))
        lines += [f"## {name} {version} (host {group[0].declared_host}, API "
                  f"{group[0].declared_api})", "",
                  "| host | " + " | ".join(f"API {a}" for a in apis) + " |",
                  "|---|" + "---|" * len(apis)]
        by_host: dict[str, dict[str, Cell]] = {}
        for cell in group:
            by_host.setdefault(cell.host_version, {})[cell.api_version] = cell
        for host, row in by_host.items():
            lines.append(f"| {host} | " + " | ".join(
                _mark(row[a]) if a in row else "not served" for a in apis) + " |")
        lines.append("")
    return "\n".join(lines)


def write(cells: list[Cell], out: Path) -> dict[str, Any]:
    """The three artifacts into `out`, replaced whole."""
    from contracts.files import atomic_directory

    files = {"matrix.json": to_json(cells), "matrix.csv": to_csv(cells),
             "matrix.md": to_markdown(cells)}
    with atomic_directory(out) as folder:
        for name, text in files.items():
            (folder / name).write_text(text)
    return {"out": str(out), "files": sorted(files), "cells": len(cells),
            "failed": sum(c.executed == "failed" for c in cells)}

