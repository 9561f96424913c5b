"""SLO arithmetic, budgets, anomalies, trends and the weekly report (pandas, scipy).

Empty until its issue lands; DESIGN.md ("SLOs and alerts") holds its contract.
"""
