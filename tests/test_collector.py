"""The collector's sources: the Prometheus HTTP API client (chunking under the 11,000-point
limit, retries with backoff, the Authorization header), OpenMetrics both ways, the Parquet
cache."""

from __future__ import annotations

import io
import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from collector import openmetrics, parquet
from collector import schema as s
from collector import synthetic as syn
from collector.prometheus import MAX_POINTS, PrometheusClient, chunks, parse_headers
from contracts.errors import PluginopsError


class FakePrometheus(BaseHTTPRequestHandler):
    """Answers query_range with one series whose value is the timestamp; fails first when
    told to, and records what it was asked."""

    failures: ClassVar[list[int]] = []
    seen: ClassVar[list[dict[str, str]]] = []

    def do_GET(self) -> None:
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(self.path).query))
        type(self).seen.append({**query, "authorization": self.headers.get("Authorization", ""),
                                "org": self.headers.get("X-Scope-OrgID", "")})
        if type(self).failures:
            self._send(type(self).failures.pop(0), {"status": "error", "error": "busy"})
            return
        start, end, step = float(query["start"]), float(query["end"]), float(query["step"])
        points = round((end - start) / step) + 1
        if points > MAX_POINTS:
            self._send(400, {"status": "error", "error": "exceeded maximum resolution"})
            return
        values = [[start + i * step, str(start + i * step)] for i in range(points)]
        self._send(200, {"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {"plugin": "p"}, "values": values}]}})

    def _send(self, code: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def fake() -> Iterator[str]:
    FakePrometheus.failures, FakePrometheus.seen = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakePrometheus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_chunks_cover_the_range_once_and_stay_under_the_limit() -> None:
    parts = chunks(0, 29_999, 1)
    assert parts == [(0, 9_999), (10_000, 19_999), (20_000, 29_999)]
    assert chunks(0, 100, 60) == [(0, 60)]
    with pytest.raises(PluginopsError) as error:
        chunks(10, 0, 60)
    assert error.value.code == "RANGE_INVALID"


def test_a_month_at_one_minute_is_split_and_reassembled_in_order(fake: str) -> None:
    client = PrometheusClient(fake, authorization="Bearer s3cret")
    [(labels, ts, values)] = client.query_range("up", 0, 30 * 86400, 60)
    assert labels == {"plugin": "p"}
    assert len(ts) == 30 * 1440 + 1 and np.all(np.diff(ts) == 60_000)
    assert np.array_equal(values, ts / 1000)
    assert len(FakePrometheus.seen) == 5  # 43,201 points in chunks of 10,000
    assert {q["authorization"] for q in FakePrometheus.seen} == {"Bearer s3cret"}


def test_extra_headers_reach_every_request_and_bad_ones_are_refused(fake: str) -> None:
    headers = parse_headers(["X-Scope-OrgID: team-a", ""], "--header")
    client = PrometheusClient(fake, headers=headers)
    client.query_range("up", 0, 30 * 86400, 60)
    assert {q["org"] for q in FakePrometheus.seen} == {"team-a"}
    for bad in ("no colon", "Bad Name: x", "X-Empty:", "Authorization: Bearer x"):
        with pytest.raises(PluginopsError) as refused:
            parse_headers([bad], "--header")
        assert refused.value.code == "HEADER_INVALID"


def test_busy_answers_are_retried_with_growing_backoff(fake: str) -> None:
    FakePrometheus.failures = [503, 429, 502]
    sleeps: list[float] = []
    client = PrometheusClient(fake, retries=4, backoff_s=0.5, sleep=sleeps.append)
    [(_, ts, _)] = client.query_range("up", 0, 600, 60)
    assert len(ts) == 11 and client.requests == 4
    assert len(sleeps) == 3 and sleeps[0] < sleeps[1] < sleeps[2]
    assert 0.5 <= sleeps[0] <= 0.63 and 2.0 <= sleeps[2] <= 2.5


def test_a_refused_query_is_not_retried_and_says_why(fake: str) -> None:
    FakePrometheus.failures = [400]
    client = PrometheusClient(fake, sleep=lambda _: None)
    with pytest.raises(PluginopsError) as error:
        client.query_range("up{", 0, 600, 60)
    assert error.value.code == "PROMETHEUS_QUERY_FAILED" and "busy" in error.value.message
    assert client.requests == 1


def test_giving_up_after_the_retries_is_a_structured_error(fake: str) -> None:
    FakePrometheus.failures = [503] * 3
    client = PrometheusClient(fake, retries=2, sleep=lambda _: None)
    with pytest.raises(PluginopsError) as error:
        client.query_range("up", 0, 600, 60)
    assert error.value.code == "PROMETHEUS_UNREACHABLE" and "3 attempts" in error.value.message


def test_openmetrics_round_trip_keeps_every_sample(tmp_path: Path) -> None:
    fleet = syn.Fleet(1_790_000_000, 1_790_000_000 + 7200, 60, syn.profiles(3), seed=2)
    original = syn.telemetry(fleet)
    path = tmp_path / "fleet.om"
    scrape = {"job": "pluginops-runtime", "instance": "a:1"}
    openmetrics.write_file(original, path, scrape)
    back = openmetrics.read(path)
    expected = original.executions.assign(**{s.SERIES: s.label_text(scrape)})
    expected[s.SERIES] = expected[s.SERIES].astype(object)
    pd.testing.assert_frame_equal(back.executions, expected, check_exact=True)
    ops = original.operations.assign(**{s.LABELS: [
        s.label_text({**s.parse_label_text(text), **scrape})
        for text in original.operations[s.LABELS]]})
    ops = ops.sort_values([s.PLUGIN, s.METRIC, s.LABELS, s.TIMESTAMP]).reset_index(drop=True)
    pd.testing.assert_frame_equal(back.operations, ops, check_exact=True)


def test_versions_of_one_plugin_stay_apart_and_are_summed_after_their_increases() -> None:
    text = io.StringIO(
        "# TYPE pluginops_plugin_executions counter\n"
        'pluginops_plugin_executions_total{plugin="a",plugin_type="node",version="1.0.0",'
        'outcome="success"} 5 100\n'
        'pluginops_plugin_executions_total{plugin="a",plugin_type="node",version="1.1.0",'
        'outcome="success"} 2 100\n'
        "# EOF\n")
    frame = openmetrics.parse(text, "mem").executions
    assert frame[s.SERIES].tolist() == ["version=1.0.0", "version=1.1.0"]
    assert frame[s.SUCCESS_COLUMN].tolist() == [5.0, 2.0]
    assert frame[s.TIMESTAMP].tolist() == [100_000, 100_000]


def test_the_parquet_cache_keeps_one_row_group_per_plugin(tmp_path: Path) -> None:
    fleet = syn.Fleet(1_790_000_000, 1_790_000_000 + 3600, 60, syn.profiles(4), seed=2)
    original = syn.telemetry(fleet)
    folder = tmp_path / "cache"
    parquet.write(original, folder, {"start": fleet.start_s, "end": fleet.end_s})
    assert parquet.row_group_count(folder) == 4
    groups = list(parquet.plugin_groups(folder))
    assert [g[s.PLUGIN].unique().tolist() for g in groups] == [[p] for p in original.plugins]
    back = parquet.read(folder)
    pd.testing.assert_frame_equal(back.executions, original.executions, check_exact=True)


def test_a_failed_cache_write_leaves_the_previous_cache(tmp_path: Path) -> None:
    fleet = syn.Fleet(1_790_000_000, 1_790_000_000 + 3600, 60, syn.profiles(2), seed=2)
    folder = tmp_path / "cache"
    parquet.write(syn.telemetry(fleet), folder, {"end": fleet.end_s})
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises(RuntimeError), parquet.writing(folder, {"end": 0}) as writer:
        writer.add_executions(syn.telemetry(fleet).executions)
        raise RuntimeError("disk full")
    assert sorted(p.name for p in folder.iterdir()) == before
    assert parquet.read_meta(folder)["end"] == fleet.end_s
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]


def test_the_columnar_reader_reads_what_the_line_reader_reads(tmp_path: Path) -> None:
    fleet = syn.Fleet(1_790_000_000, 1_790_000_000 + 3 * 3600, 60, syn.profiles(4), seed=4)
    path = tmp_path / "fleet.om"
    openmetrics.write_file(syn.telemetry(fleet), path, {"instance": "a:1"})
    columnar = openmetrics.read_columnar(path)
    assert columnar is not None
    lines = openmetrics.read_lines(path)
    pd.testing.assert_frame_equal(columnar.executions, lines.executions, check_exact=True)
    pd.testing.assert_frame_equal(columnar.operations, lines.operations, check_exact=True)


@pytest.mark.parametrize("sample", [
    'pluginops_plugin_tokens_total{plugin="a"} 5 100 # {trace_id="x"} 1 100',
    'pluginops_plugin_tokens_total{plugin="a",instance="host a"} 5 100',
], ids=["an exemplar", "a space in a label value"])
def test_a_file_the_columnar_reader_cannot_split_is_read_line_by_line(
        tmp_path: Path, sample: str) -> None:
    path = tmp_path / "odd.om"
    path.write_text(f"# TYPE pluginops_plugin_tokens counter\n{sample}\n# EOF\n")
    assert openmetrics.read_columnar(path) is None
    frame = openmetrics.read(path).executions
    assert frame[s.TOKENS].tolist() == [5.0] and frame[s.TIMESTAMP].tolist() == [100_000]


def test_a_malformed_line_is_still_named_after_the_columnar_attempt(tmp_path: Path) -> None:
    path = tmp_path / "bad.om"
    path.write_text('pluginops_plugin_tokens_total{plugin="a"} 5 100\n'
                    'pluginops_plugin_tokens_total{plugin="a"} five 160\n# EOF\n')
    with pytest.raises(PluginopsError) as refused:
        openmetrics.read(path)
    assert refused.value.code == "OPENMETRICS_INVALID" and refused.value.where.endswith(":2")


@pytest.fixture
def https_prometheus(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The fake Prometheus behind TLS, its certificate signed by a CA of its own."""
    import ssl

    from runtime.harness.tls import issue

    ca, cert, key = issue(tmp_path / "tls", ["localhost"])
    FakePrometheus.failures, FakePrometheus.seen = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakePrometheus)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://localhost:{server.server_port}", ca
    server.shutdown()


def test_a_store_behind_tls_is_read_with_its_ca_and_refused_at_once_without(
        https_prometheus: tuple[str, Path], tmp_path: Path) -> None:
    url, ca = https_prometheus
    [(_, ts, _)] = PrometheusClient(url, ca_file=str(ca)).query_range("up", 0, 600, 60)
    assert len(ts) == 11
    untrusting = PrometheusClient(url, retries=3, sleep=lambda _: None)
    with pytest.raises(PluginopsError) as refused:
        untrusting.query_range("up", 0, 600, 60)
    assert refused.value.code == "PROMETHEUS_TLS_FAILED" and "--ca-file" in refused.value.next_step
    assert untrusting.requests == 1  # a certificate that is not trusted is not retried
    with pytest.raises(PluginopsError) as missing:
        PrometheusClient(url, ca_file=str(tmp_path / "nope.pem")).query_range("up", 0, 60, 60)
    assert missing.value.code == "PROMETHEUS_TLS_FAILED"
