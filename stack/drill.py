"""A fault drill's record: each expected alert of each scenario run is an incident that began
when the fault was injected and was detected when its alert fired in Alertmanager (or never).
Recorded in a runtime home's drill records, where the scorecard's mean time to detect reads
them (`pluginops inject --record HOME`)."""

from __future__ import annotations

from pathlib import Path

from contracts.layout import Layout
from runtime.kpi import drills
from runtime.kpi.facts import Incident
from stack.scenarios import Result


def incidents(drill: str, result: Result) -> list[Incident]:
    """The incidents of one scenario's run (none for a scenario that injects no fault)."""
    if result.injected_at is None:
        return []
    return [Incident(drill, result.scenario, str(item["alert"]), result.injected_at,
                     item["time_to_detect_s"] if item["fired"] else None)
            for item in result.expected]


def record(home: Path, results: list[Result]) -> tuple[str, int]:
    """Append the drill's incidents to `home`'s drill records, all or none: (drill id, count)."""
    drill = drills.new_drill_id()
    found = [i for result in results for i in incidents(drill, result)]
    if found:
        drills.record(Layout(home).drills_db, found)
    return drill, len(found)
