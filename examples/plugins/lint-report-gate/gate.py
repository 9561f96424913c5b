"""Counts findings by severity in a ruff/eslint-style JSON list and gates on errors.

inputs: {"report": "lint.json", "max_errors": 0}
"""

import collections


def run(inputs, ctx):
    findings = ctx.inputs.read_json(inputs.get("report", "lint.json"))
    by_severity = collections.Counter(str(f.get("severity", "error")) for f in findings)
    allowed = int(inputs.get("max_errors", 0))
    verdict = {"passed": by_severity["error"] <= allowed, "counts": dict(by_severity)}
    ctx.report.write_json(verdict)
    return verdict
