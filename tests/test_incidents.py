"""Production incidents for the mean time to detect: when a page fired and when the error ratio
that led to it began to rise (the live check is in tests/test_live_alerting.py)."""

from __future__ import annotations

from evaluator.incidents import activations, incident_start


def test_each_activation_an_alert_held_is_one_page() -> None:
    points = [(60.0, 1000.0), (120.0, 1000.0), (180.0, 1000.0), (900.0, 5000.0)]
    assert activations(points) == [1000.0, 5000.0]


def test_an_incident_begins_where_the_run_above_the_budget_that_paged_began() -> None:
    ratios = [(0.0, 0.0), (15.0, 0.5), (30.0, 0.0),  # a blip, over before the incident
              (45.0, 0.002), (60.0, 0.3), (75.0, 0.6), (90.0, 0.6), (105.0, 0.6)]
    assert incident_start(ratios, 0.001, fired_at=90.0) == 45.0
    assert incident_start(ratios, 0.01, fired_at=90.0) == 60.0  # a larger budget: later rise
    # a dip under the budget at the page instant: the run before it paged
    assert incident_start([(0.0, 0.0), (15.0, 0.4), (30.0, 0.4), (45.0, 0.0)], 0.001,
                          fired_at=45.0) == 15.0
    assert incident_start([(0.0, 0.0), (15.0, 0.0)], 0.001, fired_at=15.0) is None  # slow burn
