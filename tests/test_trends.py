"""SLO trends from a real Prometheus holding known data: a plugin whose last week was better
than the week before (availability 99% against 98%, half the cost per success) but slower
(every execution under 250 ms against under 100 ms); read by `evaluator.trends`, served by
`GET /v1/plugins/<name>/slo` and `GET /v1/fleet/slo` of a real `pluginops serve`, and drawn
on the UI's plugin page in Chromium with the plugin's enforcement log."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alerts import conventions as c
from collector.query_api import QueryApi
from contracts.catalogue import (
    LATENCY_BUCKETS,
    PLUGIN_EXECUTION_COST,
    PLUGIN_EXECUTION_DURATION,
    PLUGIN_EXECUTIONS,
)
from contracts.codes import Code
from contracts.layout import Layout
from evaluator.trends import Trends
from runtime.auth.tokens import TokenStore
from runtime.sandbox.audit import AuditLog
from stack.processes import prometheus
from tests.evaluator_support import CONFIG, backfill_openmetrics
from tests.serve_support import running_serve
from tests.test_browser import SHOTS, browser, signed_in

pytestmark = pytest.mark.slow
__all__ = ["browser"]  # the Chromium fixture, shared with the other browser tests

STEP = 300
DAY = 86400
WEEK = 7 * DAY
# (plugin, week): successes and errors per step, cost per success, latency bucket bound
WEEKS = {("checkout", 0): (98, 2, 0.02, 0.1), ("checkout", 1): (99, 1, 0.01, 0.25),
         ("search", 0): (100, 0, 0.01, 0.1), ("search", 1): (100, 0, 0.01, 0.1)}


def _series(at: int) -> list[str]:
    """Counters from two weeks before `at` to `at`, one sample a step, in OpenMetrics."""
    totals: dict[str, float] = {}
    lines: dict[str, list[str]] = {}

    def add(family: str, name: str, labels: str, value: float, t: int) -> None:
        key = f"{name}{{{labels}}}"
        totals[key] = totals.get(key, 0.0) + value
        lines.setdefault(family, []).append(f"{key} {totals[key]:g} {t}")

    for t in range(at - 2 * WEEK, at + 1, STEP):
        week = 0 if t <= at - WEEK else 1
        for (plugin, which), (ok, bad, cost, bound) in WEEKS.items():
            if which != week:
                continue
            base = f'plugin="{plugin}",plugin_type="node"'
            executions = PLUGIN_EXECUTIONS.name
            add(executions, executions, f'{base},version="1.0.0",outcome="success"', ok, t)
            add(executions, executions, f'{base},version="1.0.0",outcome="error"', bad, t)
            add(PLUGIN_EXECUTION_COST.name, PLUGIN_EXECUTION_COST.name, base, ok * cost, t)
            duration = PLUGIN_EXECUTION_DURATION.name
            for le in (*LATENCY_BUCKETS, float("inf")):
                text = "+Inf" if le == float("inf") else repr(le)
                add(duration, f"{duration}_bucket", f'{base},le="{text}"',
                    ok + bad if le >= bound else 0, t)
            add(duration, f"{duration}_count", base, ok + bad, t)
            add(duration, f"{duration}_sum", base, (ok + bad) * bound / 2, t)
    out = []
    for family, rows in lines.items():
        kind = "histogram" if family == PLUGIN_EXECUTION_DURATION.name else "counter"
        out.append(f"# TYPE {family.removesuffix('_total')} {kind}")
        out += rows
    out.append(f"# TYPE {c.OBJECTIVE} gauge")
    out += [f'{c.OBJECTIVE}{{plugin="checkout",plugin_type="node",slo="availability"}} 0.99 {t}'
            for t in range(at - 3600, at + 1, 60)]
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """Prometheus holding the two weeks, ending four hours ago (clear of its head block)."""
    folder = tmp_path_factory.mktemp("trends")
    at = (int(time.time()) // 3600 - 4) * 3600
    source = folder / "trends.om"
    source.write_text("\n".join(_series(at)) + "\n# EOF\n")
    (folder / "prom" / "tsdb").mkdir(parents=True)
    backfill_openmetrics(source, folder / "prom" / "tsdb")
    with prometheus(folder / "prom", CONFIG, []) as url:
        yield url, at


def figures(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in document["figures"]}


def test_a_plugins_week_against_the_week_before(store: tuple[str, int]) -> None:
    url, at = store
    document = Trends(QueryApi(url, retries=0), now=lambda: float(at)).read("checkout", "7d")
    found = figures(document)
    assert document["objective"] == 0.99
    assert found["availability"]["current"] == pytest.approx(0.99, abs=1e-6)
    assert found["availability"]["previous"] == pytest.approx(0.98, abs=1e-4)
    assert found["error_budget_burn"]["current"] == pytest.approx(1.0, abs=1e-3)
    assert found["error_budget_burn"]["previous"] == pytest.approx(2.0, abs=1e-2)
    assert found["cost_per_success"]["change"] == pytest.approx(-0.5, abs=1e-2)
    # all in the (0.1, 0.25] bucket now, in (0.05, 0.1] before: interpolated quantiles
    assert found["latency_p95"]["current"] == pytest.approx(0.1 + 0.95 * 0.15, rel=1e-3)
    assert found["latency_p95"]["previous"] == pytest.approx(0.05 + 0.95 * 0.05, rel=1e-3)
    assert found["executions"]["current"] == pytest.approx(100 * WEEK / STEP, rel=0.01)
    points = found["availability"]["points"]
    assert len(points) == 28  # 6-hour steps
    assert all(p["current"] == pytest.approx(0.99, abs=1e-6) for p in points)
    assert all(p["previous"] == pytest.approx(0.98, abs=1e-6) for p in points[1:])


def test_the_fleet_sums_every_plugin_before_it_divides(store: tuple[str, int]) -> None:
    url, at = store
    document = Trends(QueryApi(url, retries=0), now=lambda: float(at)).read(None, "30d")
    found = figures(document)
    assert document["plugin"] is None and "error_budget_burn" not in found  # no one objective
    assert found["availability"]["current"] == pytest.approx((99 + 100 + 98 + 100) / 400,
                                                             abs=1e-4)
    assert found["availability"]["previous"] is None  # nothing was recorded before
    assert len(found["availability"]["points"]) == 30  # daily


def _get(url: str, token: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture(scope="module")
def runtime(store: tuple[str, int], tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[dict[str, str]]:
    url, _ = store
    home = tmp_path_factory.mktemp("trends-home") / "home"
    tokens = TokenStore(home)
    vera, _ = tokens.create("vera", "viewer", "tests")
    audit = AuditLog(Layout(home).audit_log)
    for target in ("10.0.0.1", "169.254.169.254"):
        audit.event("denial", at=time.time(), plugin="checkout", version="1.0.0",
                    profile="node", operation="network", target=target,
                    rule="network: not in the node profile", entry="execute",
                    correlation_id="c0ffee")
    with running_serve(home, "--prometheus-url", url) as base:
        yield {"base": base, "home": str(home), "vera": vera}


def test_the_api_serves_trends_to_a_viewer(runtime: dict[str, str]) -> None:
    base, token = runtime["base"], runtime["vera"]
    status, document = _get(f"{base}/v1/plugins/checkout/slo?window=7d", token)
    assert status == 200
    assert figures(document)["availability"]["current"] == pytest.approx(0.99, abs=1e-3)
    status, fleet = _get(f"{base}/v1/fleet/slo?window=30d", token)
    assert status == 200 and fleet["window"] == "30d"
    status, bad = _get(f"{base}/v1/plugins/checkout/slo?window=1y", token)
    assert (status, bad["error"]["code"]) == (400, Code.BAD_REQUEST)
    status, _ = _get(f"{base}/v1/fleet/slo", "not-a-token")
    assert status == 401


def test_without_a_store_the_api_says_what_to_start(tmp_path: Path) -> None:
    home = tmp_path / "home"
    token, _ = TokenStore(home).create("vera", "viewer", "tests")
    with running_serve(home) as base:
        status, answer = _get(f"{base}/v1/fleet/slo", token)
    assert (status, answer["error"]["code"]) == (404, Code.METRICS_STORE_MISSING)
    assert "--prometheus-url" in answer["error"]["next_step"]


def test_the_plugin_page_draws_both_windows_and_lists_its_denials(
        runtime: dict[str, str], browser: object) -> None:
    page = signed_in(browser, runtime, "vera")
    page.goto(f"{runtime['base']}/ui/plugins/checkout")  # type: ignore[attr-defined]
    for window, shown in (("7d", "99.00%"), ("30d", "98.50%")):  # 30 days hold both weeks
        figure = page.locator(f"#trend-{window}-availability")  # type: ignore[attr-defined]
        assert figure.locator("polyline.current").count() == 1
        assert figure.locator("strong.current").inner_text() == shown
    week = page.locator("#trend-7d-availability")  # type: ignore[attr-defined]
    assert week.locator("polyline.previous").count() == 1  # the week before, overlaid
    # the server's windows end now, four hours after the data: the week before holds 4 hours
    # of the better week
    assert week.locator("span.previous").inner_text().startswith("98.0")
    denials = page.inner_text("#denials")  # type: ignore[attr-defined]
    assert "169.254.169.254" in denials and "network: not in the node profile" in denials
    page.screenshot(path=str(SHOTS / "plugin-trends.png"), full_page=True)  # type: ignore[attr-defined]
