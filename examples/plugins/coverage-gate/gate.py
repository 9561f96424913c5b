"""Passes when line coverage reaches the bar. inputs: {"report": "coverage.json", "min": 0.8}

The coverage file is `{"totals": {"covered_lines": int, "num_statements": int}}` (coverage.py's
JSON report).
"""


def run(inputs, ctx):
    data = ctx.inputs.read_json(inputs.get("report", "coverage.json"))
    totals = data.get("totals", {})
    statements = int(totals.get("num_statements", 0))
    ratio = int(totals.get("covered_lines", 0)) / statements if statements else 1.0
    bar = float(inputs.get("min", 0.8))
    verdict = {"passed": ratio >= bar, "coverage": round(ratio, 4), "min": bar}
    ctx.report.write_json(verdict)
    return verdict
