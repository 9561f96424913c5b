"""Preflight telemetry: findings counted by code on the registry passed in, a span per manifest,
and tracing set up from the standard OTEL_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from prometheus_client import CollectorRegistry, generate_latest

from contracts.catalogue import (
    ALL_METRICS,
    DURABLE_METRICS,
    OVERFLOW_PLUGIN,
    POLICY_DENIALS,
    PREFLIGHT_FINDINGS,
    MetricType,
    Span,
)
from runtime.install.service import Installer
from runtime.preflight import PreflightContext, preflight_paths
from runtime.sandbox.audit import AuditLog
from runtime.telemetry.audit_metrics import AuditMetrics
from runtime.telemetry.bake_metrics import BakeMetrics
from runtime.telemetry.journal_metrics import JournalMetrics
from runtime.telemetry.kpi_metrics import KpiMetrics
from runtime.telemetry.metrics import Metrics, PluginLabel
from runtime.telemetry.tracing import exporter_choice, make_tracer_provider
from tests.builders import a_host, a_plugin_dir
from tests.install_support import a_sandbox_executor, an_env, publish_plugin


def test_preflight_counts_findings_by_code_and_opens_a_span_per_manifest(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    exporter = InMemorySpanExporter()
    tracer = make_tracer_provider({}, exporter=exporter).get_tracer("test")
    good = a_plugin_dir(tmp_path, name="good")
    bad = a_plugin_dir(tmp_path, name="bad", host="^9.0.0", api="9.0")
    preflight_paths([good, bad, bad], PreflightContext(a_host()), Metrics(registry), tracer)

    def count(code: str) -> float | None:
        return registry.get_sample_value(f"{PREFLIGHT_FINDINGS.name}", {"code": code})

    assert count("HOST_RANGE_UNSATISFIED") == 2
    assert count("API_VERSION_UNSUPPORTED") == 2
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == [Span.PREFLIGHT_MANIFEST] * 3
    assert [(s.attributes or {}).get(Span.ATTR_OK) for s in spans] == [True, False, False]
    assert (spans[1].attributes or {}).get(Span.ATTR_PLUGIN) == "bad"


def test_every_catalogue_metric_is_exposed_under_its_catalogue_name() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    journal = JournalMetrics(Path("/nonexistent/journal.db"))
    audit = AuditMetrics(Path("/nonexistent/audit.log"))
    bakes = BakeMetrics(Path("/nonexistent/bakes.db"))
    kpis = KpiMetrics(Path("/nonexistent"))
    for durable in (journal, audit, bakes, kpis):
        registry.register(durable)
    assert {f.name for f in [*journal.describe(), *audit.describe(), *bakes.describe(),
                             *kpis.describe()]} == \
        {spec.name.removesuffix("_total") for spec in DURABLE_METRICS}
    for spec in ALL_METRICS:
        if spec in DURABLE_METRICS:
            continue  # read from the journal and the audit log: see test_serve_production
        labels = {key: "x" for key in spec.labels}
        if spec.type is MetricType.COUNTER:
            metrics.counter(spec).labels(**labels).inc()
        elif spec.type is MetricType.GAUGE:
            gauge = metrics.gauge(spec)
            (gauge.labels(**labels) if labels else gauge).set(1)
        else:
            histogram = metrics.histogram(spec)
            (histogram.labels(**labels) if labels else histogram).observe(0.1)
    exposition = generate_latest(registry).decode()
    for spec in ALL_METRICS:
        if spec in DURABLE_METRICS:
            assert f"# TYPE {spec.name} " in exposition, spec.name
            continue
        for name in spec.exposed_names:
            labelled = spec.labels or name.endswith("_bucket")  # buckets always carry le
            sample = f"\n{name}{{" if labelled else f"\n{name} "
            assert sample in exposition, name


def test_catalogue_names_are_unique_and_namespaced() -> None:
    names = [spec.name for spec in ALL_METRICS]
    assert len(names) == len(set(names))
    assert all(n.startswith("pluginops_") for n in names)
    assert all(n.endswith("_total") for s in ALL_METRICS if s.type is MetricType.COUNTER
               for n in [s.name])


def test_the_plugin_label_folds_plugins_past_the_cap_into_other() -> None:
    label = PluginLabel(cap=2)
    assert [label(p) for p in ("a", "b", "c", "a")] == ["a", "b", OVERFLOW_PLUGIN, "a"]


@pytest.mark.parametrize(("env", "choice"), [
    pytest.param({}, "none", id="nothing set costs nothing"),
    pytest.param({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, "otlp",
                 id="an OTLP endpoint turns export on"),
    pytest.param({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"},
                 "otlp", id="a traces endpoint turns export on"),
    pytest.param({"OTEL_TRACES_EXPORTER": "console"}, "console", id="console on request"),
    pytest.param({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_SDK_DISABLED": "true"},
                 "none", id="the SDK kill switch wins"),
    pytest.param({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_TRACES_EXPORTER": "none"},
                 "none", id="an explicit none wins over an endpoint"),
])
def test_exporter_choice_follows_the_otel_variables(env: dict[str, str], choice: str) -> None:
    assert exporter_choice(env) == choice


def test_with_nothing_configured_the_provider_is_a_no_op() -> None:
    assert isinstance(make_tracer_provider({}), trace.NoOpTracerProvider)


def test_a_failed_execution_span_carries_an_error_status_and_its_type(
        tmp_path: Path, writable_registry: Path, signing_key: Ed25519PrivateKey) -> None:
    spans = InMemorySpanExporter()
    home = tmp_path / "home"
    publish_plugin(writable_registry, tmp_path / "src", signing_key, "flaky", "1.0.0",
                   "def run(inputs, ctx):\n    if inputs.get('fail'):\n"
                   "        raise ValueError('asked to fail')\n    return {'ok': True}\n")
    env = an_env(home, writable_registry, signing_key, spans=spans)
    assert Installer(env).install("flaky").state == "committed"
    executor = a_sandbox_executor(home, env.metrics, env.tracer, env.journal, env.approvals,
                                  env.policy)
    try:
        assert executor.execute("flaky", {}).outcome == "success"
        assert executor.execute("flaky", {"fail": True}).outcome == "error"
    finally:
        executor.deps.pool.close()
    ran = [s for s in spans.get_finished_spans() if s.name == Span.EXECUTE]
    assert [s.status.status_code for s in ran] == [StatusCode.UNSET, StatusCode.ERROR]
    assert Span.ATTR_ERROR_TYPE not in (ran[0].attributes or {})
    assert (ran[1].attributes or {})[Span.ATTR_ERROR_TYPE] == "ValueError"


def test_policy_denials_are_counted_from_the_audit_log_as_it_grows(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.log")
    registry = CollectorRegistry()
    registry.register(AuditMetrics(log.path))
    labels = {"plugin": "p", "profile": "node", "operation": "file.read"}

    def denials() -> float | None:
        return registry.get_sample_value(POLICY_DENIALS.name, labels)

    assert denials() is None  # no log yet
    log.event("denial", plugin="p", profile="node", operation="file.read", target="/etc/x")
    log.event("token.created", name="not a denial")
    log.event("denial", plugin="p", profile="node", operation="file.read", target="/etc/y")
    assert denials() == 2
    with log.path.open("ab") as handle:  # a record being written: counted once it is whole
        handle.write(b'{"kind": "denial", "operation": "file.read", "plugin": "p", ')
    assert denials() == 2
    log.repair()
    log.event("denial", plugin="p", profile="node", operation="file.read", target="/etc/z")
    assert denials() == 3
    log.path.write_bytes(log.path.read_bytes().split(b"\n", 1)[0] + b"\n")  # restored shorter
    assert denials() == 1
