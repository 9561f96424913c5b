"""Sloth's `prometheus/v1` specs import into rules promtool accepts, with Sloth's windows,
factors and alert switches, and this generator's event weighting."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from alerts import conventions as c
from alerts.render import to_yaml
from alerts.sloth_import import import_sloth
from contracts.errors import PluginopsError

SLOTH = Path(__file__).resolve().parent / "fixtures" / "sloth"
CASES = [("sloth-base-30d", "30d"), ("sloth-base-28d", "28d"), ("sloth-getting-started", "30d")]


def golden_factors(name: str) -> set[float]:
    suffix = ".expected.yaml" if name == "sloth-getting-started" else \
        ".expected.rendered-version-dev.yaml"
    text = (SLOTH / f"{name}{suffix}").read_text()
    return {round(float(f), 4) for f in re.findall(r"> \(([0-9.]+) \* 0\.", text)}


def our_factors(rules: dict[str, object]) -> set[float]:
    text = yaml.safe_dump(rules)
    return {round(float(f), 4) for f in re.findall(r"> ([0-9.]+) \* ", text)}


@pytest.mark.parametrize(("name", "period"), CASES)
def test_imported_rules_use_sloths_factors(name: str, period: str) -> None:
    rules = import_sloth((SLOTH / f"{name}.in.yaml").read_text(), period)
    assert our_factors(rules) == golden_factors(name)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool comes with make test")
@pytest.mark.parametrize(("name", "period"), CASES)
def test_promtool_accepts_the_imported_rules(tmp_path: Path, name: str, period: str) -> None:
    out = tmp_path / "rules.yml"
    out.write_text(to_yaml(import_sloth((SLOTH / f"{name}.in.yaml").read_text(), period)))
    done = subprocess.run(["promtool", "check", "rules", str(out)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_disabled_tiers_and_unnamed_alerting_generate_no_alerts() -> None:
    rules = import_sloth((SLOTH / "sloth-base-30d.in.yaml").read_text())
    alerts = {(g["name"], r["labels"]["severity"]) for g in rules["groups"]
              for r in g["rules"] if "alert" in r}
    assert alerts == {(c.group("sloth-svc01-slo1"), "page"),
                      (c.group("sloth-svc01-slo1"), "ticket")}


def test_event_slis_get_an_event_weighted_period_not_a_mean_of_ratios() -> None:
    rules = import_sloth((SLOTH / "sloth-base-30d.in.yaml").read_text())
    period = {g["name"]: r["expr"] for g in rules["groups"] for r in g["rules"]
              if r.get("record") == c.PERIOD_ERROR_RATIO}
    assert "sum_over_time(pluginops:slo_bad_events:rate5m" in period[c.group("sloth-svc01-slo1")]
    assert period[c.group("sloth-svc01-slo02")].startswith("avg_over_time("), \
        "a raw ratio SLI has no events to weight"


def test_other_versions_are_refused() -> None:
    with pytest.raises(PluginopsError) as err:
        import_sloth("version: sloth.slok.dev/v1\nservice: x\nslos: []\n")
    assert err.value.code == "SLOTH_VERSION_UNSUPPORTED"
