"""Baking a new version: a share of live executions on it, compared with the version it
replaced, then promoted or rolled back automatically."""
