"""What the KPIs cost on a busy home: a scrape of the KPI counters (records read, then unchanged
records: the cached facts), and the whole scorecard (`pluginops kpi`, `GET /v1/kpis`), beside the
journal's own counters (`JournalMetrics`, three grouped queries) scraped in the same run over the
same journal.

The home holds `--transactions` transactions (installs, updates, a tenth of them rolled back
with a finding, a few left failed), a refusal for every twentieth, 500 approvals, 200 drill
incidents, 100 signed release-gate records and 200 installed plugins with their files; median of
5 after a warm-up.

    .venv/bin/python bench/kpi_bench.py [--transactions 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from contracts.codes import Code
from contracts.layout import Layout
from contracts.outcomes import TransactionState
from runtime.harness import gate
from runtime.install.journal import InstalledRow, Journal
from runtime.kpi import drills, records
from runtime.kpi.compute import scorecard
from runtime.kpi.facts import Incident
from runtime.sandbox.approvals import Approvals
from runtime.telemetry.journal_metrics import JournalMetrics
from runtime.telemetry.kpi_metrics import KpiMetrics

NOW = time.time()
DAY = 86400.0


def busy_home(home: Path, transactions: int) -> None:
    layout = Layout(home)
    journal = Journal(layout.journal)
    for i in range(transactions):
        plugin, at = f"plugin-{i % 400:03d}", NOW - (i % 120) * DAY / 2
        tx = f"tx{i:07d}"
        journal.begin(tx, plugin, "update" if i % 3 else "install", "1.0.0", "1.1.0", 1, at)
        if i % 10 == 0:
            journal.event(tx, "phase_failed", "verify", {
                "code": Code.PREFLIGHT_FAILED, "message": "host range",
                "cause": Code.HOST_RANGE_UNSATISFIED}, at)
            journal.finish(tx, TransactionState.ROLLED_BACK, Code.PREFLIGHT_FAILED, "", "",
                           at + 1)
        elif i % 997 == 0:
            journal.finish(tx, TransactionState.FAILED, Code.INTERNAL_ERROR, "", "", at + 1)
        else:
            journal.commit(tx, [], [], at + 1)
        if i % 20 == 0:
            journal.refuse(plugin, "install", Code.NO_COMPATIBLE_VERSION, "none fits", at)
    for i in range(200):
        plugin = f"plugin-{i:03d}"
        folder = layout.version_dir(plugin, "1.1.0")
        folder.mkdir(parents=True)
        (folder / "main.py").write_text("def run(ctx, inputs):\n    return inputs\n")
        layout.tree_file(plugin, "1.1.0").write_text(json.dumps({"main.py": [42, "x"]}))
        os.symlink(folder, layout.current(plugin))
        journal.begin(f"tx-installed-{i}", plugin, "install", None, "1.1.0", 1, NOW)
        journal.commit(f"tx-installed-{i}", [InstalledRow(plugin, "1.1.0", "node", "", NOW, {})],
                       [], NOW)
    journal.close()
    approvals = Approvals(layout.approvals_db)
    for i in range(500):
        approvals.db.execute(
            "INSERT INTO approval_decisions (plugin, scope, decision, decided_by, reason, "
            "decided_at) VALUES (?, ?, 'approved', 'ada', 'bench', ?)",
            (f"plugin-{i % 400:03d}", "process:spawn" if i % 2 else "network:api.example.com",
             NOW - (i % 120) * DAY / 2))
    approvals.close()
    drills.record(layout.drills_db, [Incident("d", "error-spike", "A", NOW - i * 3600, 60.0)
                                     for i in range(200)])
    for i in range(100):
        gate.record(home, {"plugin": f"plugin-{i:03d}", "version": "1.0.0", "sha256": "x",
                           "passed": True, "failed": [], "finished_at": NOW - i * DAY,
                           "scenarios": [{"scenario": "install", "critical": True,
                                          "status": "passed"}]})


def median_s(work: Callable[[], object]) -> float:
    work()  # warm-up
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        work()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=20_000)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pluginops-kpi-bench-") as folder:
        home = Path(folder)
        busy_home(home, options.transactions)
        layout = Layout(home)
        journal_only = CollectorRegistry()
        journal_only.register(JournalMetrics(layout.journal))
        baseline = median_s(lambda: generate_latest(journal_only))

        def cold() -> bytes:
            registry = CollectorRegistry()
            registry.register(KpiMetrics(home))
            return generate_latest(registry)

        kpis = CollectorRegistry()
        kpis.register(KpiMetrics(home))
        first = median_s(cold)
        cached = median_s(lambda: generate_latest(kpis))
        card = median_s(lambda: scorecard(records.read(home), NOW))
        load = os.getloadavg()[0]
    print(f"{options.transactions} transactions, 200 installed plugins, 500 approvals, 200 drill "
          f"incidents, 100 gate records; load average {load:.2f}; median of 5 after a warm-up")
    print(f"{'':<44} {'time':>9} {'vs journal counters':>20}")
    for name, value in (("journal counters (baseline)", baseline),
                        ("KPI counters, records read", first),
                        ("KPI counters, records unchanged", cached),
                        ("scorecard (pluginops kpi, GET /v1/kpis)", card)):
        print(f"{name:<44} {value * 1000:>7.1f} ms {value / baseline:>19.2f}x")


if __name__ == "__main__":
    main()
