"""SLO arithmetic, budgets, anomalies, trends and the weekly report (pandas, scipy).

Its contract with the other parts is in docs/architecture.md ("SLOs and alerting").
"""
