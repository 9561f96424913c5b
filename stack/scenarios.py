"""Fault-injection scenarios: each drives real executions or operations against the runtime,
then waits at Alertmanager's API, with a deadline, for the alerts it expects, and lists any
other alert that fired. Pure of process management: it needs only the stack's URLs."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from alerts import conventions as c
from alerts.windows import TIERS, seconds
from contracts.catalogue import INSTALL_PHASES
from contracts.codes import Code
from contracts.errors import PluginopsError
from stack.history import RAW_HISTORY_S
from stack.processes import get_json
from stack.stack import DENIED_PLUGIN, FAULT_PLUGIN, Stack
from stack.traffic import Traffic, post

POLL_S = 0.2
CLEAN_S = 60.0  # a clean minute, unless the caller asks for another duration
WARMUP_S = 5.0


@dataclass(frozen=True)
class Expected:
    alert: str
    labels: dict[str, str]

    def matches(self, labels: dict[str, str]) -> bool:
        return labels.get("alertname") == self.alert and all(
            labels.get(k) == v for k, v in self.labels.items())


@dataclass
class Result:
    scenario: str
    expected: list[dict[str, Any]] = field(default_factory=list)
    unexpected: list[dict[str, str]] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)
    injected_at: float | None = None  # when the fault began (Unix seconds), if one was injected

    @property
    def ok(self) -> bool:
        missing = any(not e["fired"] for e in self.expected)
        paging = any(u.get(c.SEVERITY) == c.PAGE for u in self.unexpected)
        return not missing and not paging

    def to_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "ok": self.ok, "injected_at": self.injected_at,
                "expected": self.expected, "unexpected": self.unexpected, "notes": self.notes}


def firing(alertmanager: str) -> list[dict[str, str]]:
    alerts = get_json(f"{alertmanager}/api/v2/alerts?active=true&inhibited=true&silenced=true")
    return [dict(a["labels"]) for a in alerts]


def wait_for(stack: Stack, expected: list[Expected], started: float, deadline_s: float,
             result: Result) -> None:
    if result.injected_at is None:
        result.injected_at = started
    pending = list(expected)
    seen_at: dict[int, float] = {}
    deadline = time.monotonic() + deadline_s
    while pending and time.monotonic() < deadline:
        current = firing(stack.alertmanager)
        for item in list(pending):
            if any(item.matches(labels) for labels in current):
                seen_at[id(item)] = time.time() - started
                pending.remove(item)
        time.sleep(POLL_S)
    for item in expected:
        detect = seen_at.get(id(item))
        delivered = [d.received_at - started for d in
                     (stack.sink.received() if stack.sink else [])
                     if d.status == "firing" and item.matches(d.labels)]
        result.expected.append({
            "alert": item.alert, "labels": item.labels, "fired": detect is not None,
            "time_to_detect_s": round(detect, 2) if detect is not None else None,
            "time_to_webhook_s": round(min(delivered), 2) if delivered else None})


def collect_unexpected(stack: Stack, expected: list[Expected], before: list[dict[str, str]],
                       result: Result) -> None:
    for labels in firing(stack.alertmanager):
        if labels.get("alertname") == c.WATCHDOG or labels in before:
            continue
        if not any(e.matches(labels) for e in expected):
            result.unexpected.append(labels)


def theoretical_page_s(objective: float = 0.999) -> float:
    """First crossing of the fastest page tier by a total outage after a clean long window."""
    tier = TIERS[0]
    return tier.factor(30 * 86400) * (1 - objective) * seconds(tier.long)


def _faulty_traffic(stack: Stack, result: Result, expected: list[Expected],
                   fault: dict[str, Any], deadline_s: float) -> None:
    """Clean traffic first (it continues the backfilled history), then every execution faulty,
    until the expected alerts fire or the deadline passes."""
    traffic = Traffic(stack.runtime, FAULT_PLUGIN, stack.rate, stack.token).start()
    try:
        time.sleep(WARMUP_S)
        started = time.time()
        traffic.inputs = fault
        wait_for(stack, expected, started, deadline_s, result)
    finally:
        traffic.stop()
    result.notes["executions"] = dict(traffic.outcomes)


def error_spike(stack: Stack, result: Result) -> list[Expected]:
    expected = [Expected(c.AVAILABILITY_BURN, {"plugin": FAULT_PLUGIN, c.SEVERITY: c.PAGE})]
    _faulty_traffic(stack, result, expected, {"fail": True}, 180.0)
    minimum = theoretical_page_s()
    result.notes.update({"theoretical_minimum_s": round(minimum, 2),
                         "goal_s": round(minimum + 2 * 2.0, 2), "history_s": RAW_HISTORY_S})
    return expected


def clean(stack: Stack, result: Result, duration_s: float = CLEAN_S) -> list[Expected]:
    traffic = Traffic(stack.runtime, FAULT_PLUGIN, stack.rate, stack.token).start()
    time.sleep(duration_s)
    traffic.stop()
    result.notes.update({"duration_s": duration_s, "executions": dict(traffic.outcomes)})
    if stack.sink is not None:
        result.notes["watchdog_delivered"] = any(
            d.status == "firing" for d in stack.sink.received(c.RECEIVER_WATCHDOG))
    return []


def latency_regression(stack: Stack, result: Result) -> list[Expected]:
    """Executions that took ~2 ms all week now take ~20 ms: p95 and p99 regress."""
    expected = [Expected(c.LATENCY_REGRESSION, {"plugin": FAULT_PLUGIN, "quantile": q})
                for q in ("0.95", "0.99")]
    _faulty_traffic(stack, result, expected, {"sleep_s": 0.02}, 300.0)
    return expected


def cost_spike(stack: Stack, result: Result) -> list[Expected]:
    """Each execution burns 50 ms of CPU instead of 0.1 ms: cost per success jumps."""
    expected = [Expected(c.COST_ANOMALY, {"plugin": FAULT_PLUGIN})]
    _faulty_traffic(stack, result, expected, {"spin_s": 0.05}, 240.0)
    result.notes["source"] = "promql-fallback (no evaluator running)"
    return expected


def install_failure(stack: Stack, result: Result) -> list[Expected]:
    expected = [Expected(c.INSTALL_ROLLBACKS, {"plugin": "json-transform"})]
    started = time.time()
    status, body = post(f"{stack.runtime}/v1/plugins/json-transform/update",
                        {"inject_failure": INSTALL_PHASES[-1]}, stack.token)
    result.notes["operation"] = {"status": status, "message": (body or {}).get("error", {})
                                 .get("message")}
    wait_for(stack, expected, started, 60.0, result)
    return expected


def policy_violation_burst(stack: Stack, result: Result) -> list[Expected]:
    expected = [Expected(c.DENIAL_SPIKE, {"plugin": DENIED_PLUGIN})]
    started = time.time()
    url = f"{stack.runtime}/v1/plugins/{DENIED_PLUGIN}/execute"
    outcomes = [post(url, {"inputs": {}}, stack.token)[1].get("outcome") for _ in range(15)]
    result.notes["outcomes"] = outcomes
    wait_for(stack, expected, started, 60.0, result)
    return expected


def telemetry_outage(stack: Stack, result: Result) -> list[Expected]:
    expected = [Expected(c.TELEMETRY_ABSENT, {c.SEVERITY: c.PAGE})]
    if stack.runtime_process is None:
        raise PluginopsError(Code.SCENARIO_NEEDS_LOCAL, "telemetry-outage pauses the runtime "
                             "process, which only a --local stack owns", where="--scenario",
                             next_step="run it with --local, or stop your runtime by hand")
    started = time.time()
    os.kill(stack.runtime_process.pid, signal.SIGSTOP)
    try:
        wait_for(stack, expected, started, 150.0, result)
    finally:
        os.kill(stack.runtime_process.pid, signal.SIGCONT)
    return expected


SCENARIOS: dict[str, Callable[[Stack, Result], list[Expected]]] = {
    "error-spike": error_spike,
    "latency-regression": latency_regression,
    "cost-spike": cost_spike,
    "install-failure": install_failure,
    "policy-violation-burst": policy_violation_burst,
    "telemetry-outage": telemetry_outage,
    "clean": clean,
}


# What history each scenario's alert reads (see stack.stack._history).
HISTORY: dict[str, tuple[str, ...]] = {
    "error-spike": ("slo",), "clean": ("slo",), "latency-regression": ("slo", "latency"),
    "cost-spike": ("slo", "cost"), "install-failure": (), "policy-violation-burst": (),
    "telemetry-outage": (),
}


# Alerts a scenario may raise besides its own, and why they are right. Every execution of the
# snooping plugin is denied, and a denied execution is a failed one for its users (availability
# counts every outcome but success): its budget burns whenever a scrape lands between its first
# and its last denial (a counter born at 15 has no rate).
TOLERATED: dict[str, list[Expected]] = {
    "policy-violation-burst": [Expected(c.AVAILABILITY_BURN, {"plugin": DENIED_PLUGIN})],
}


def run(stack: Stack, name: str, clean_s: float = CLEAN_S) -> Result:
    """Run scenario `name`; `clean_s` is how long the clean scenario watches for alerts."""
    result = Result(name)
    before = firing(stack.alertmanager)
    scenario = SCENARIOS[name] if name != "clean" else (
        lambda stack, result: clean(stack, result, clean_s))
    expected = scenario(stack, result)
    collect_unexpected(stack, [*expected, *TOLERATED.get(name, [])], before, result)
    return result
