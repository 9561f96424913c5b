"""The plan's KPIs computed from a runtime home's durable records (`contracts.kpis` defines
them): `records` reads the home, `compute` is the pure arithmetic, `drills` keeps the incidents
the fault injector caused and when they were detected."""
