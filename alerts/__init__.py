"""SLO specs, the Prometheus rule generator, Alertmanager config, runbooks.

Empty until its issue lands; names come from `contracts.catalogue`.
"""
