"""The compatibility matrix: plugin versions x host versions x plugin API versions, derived from
the manifests' declared ranges and the host descriptions, optionally proven by running each
plugin's golden cases with the runtime serving that API version. Written as JSON, CSV and
markdown."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from runtime.harness.scenarios import Plan, api_version, load_manifest, run_one
from runtime.host import HostDescription
from runtime.semver.ranges import satisfies

COMPATIBLE, HOST_RANGE, API = "compatible", "host-range", "api"


@dataclass(frozen=True)
class Cell:
    plugin: str
    plugin_version: str
    host_version: str
    api_version: str
    declared_host: str
    declared_api: str
    verdict: str  # compatible | host-range | api
    executed: str  # passed | failed | not-run
    detail: str = ""


def _api_fits(declared: str, served: str) -> bool:
    d_major, d_minor = (int(p) for p in declared.split("."))
    s_major, s_minor = (int(p) for p in served.split("."))
    return d_major == s_major and s_minor >= d_minor


def derive(plugin_dirs: list[Path], hosts: list[HostDescription],
           execute: Callable[[Path, str], tuple[str, str]] | None = None) -> list[Cell]:
    cells = []
    ran: dict[tuple[Path, str], tuple[str, str]] = {}
    for folder in plugin_dirs:
        manifest = load_manifest(folder)
        for host in hosts:
            host_ok = satisfies(host.version, manifest.host)
            for served in sorted(set(host.api)):
                api_ok = _api_fits(manifest.api, served)
                verdict = COMPATIBLE if host_ok and api_ok else (HOST_RANGE if not host_ok
                                                                  else API)
                executed, detail = "not-run", ""
                if execute is not None and verdict == COMPATIBLE:
                    if (folder, served) not in ran:
                        ran[(folder, served)] = execute(folder, served)
                    executed, detail = ran[(folder, served)]
                cells.append(Cell(manifest.name, manifest.version, host.version, served,
                                  manifest.host, manifest.api, verdict, executed, detail))
    return cells


def golden_executor(registry: Path | None, trust: tuple[Path, ...]
                    ) -> Callable[[Path, str], tuple[str, str]]:
    """Runs a plugin's golden cases with the runtime serving one API version."""
    from runtime.harness.run import plan_for

    def run(folder: Path, served: str) -> tuple[str, str]:
        plan: Plan = plan_for(folder, [], registry, trust, (served,))
        result = run_one(f"api@{served}", True, api_version(served), plan)
        return result.status, result.detail

    return run


def to_json(cells: list[Cell]) -> str:
    summary = {verdict: sum(c.verdict == verdict for c in cells)
               for verdict in (COMPATIBLE, HOST_RANGE, API)}
    summary["executed_failed"] = sum(c.executed == "failed" for c in cells)
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
    return {"passed": "yes, golden passed", "failed": "**golden FAILED**",
            "not-run": "yes"}[cell.executed]


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
    from runtime.fsutil import atomic_directory

    files = {"matrix.json": to_json(cells), "matrix.csv": to_csv(cells),
             "matrix.md": to_markdown(cells)}
    with atomic_directory(out) as folder:
        for name, text in files.items():
            (folder / name).write_text(text)
    return {"out": str(out), "files": sorted(files), "cells": len(cells),
            "failed": sum(c.executed == "failed" for c in cells)}

