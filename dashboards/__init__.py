"""Grafana dashboards generated from code, and their provisioning.

Empty until its issue lands; names come from `contracts.catalogue`.
"""
