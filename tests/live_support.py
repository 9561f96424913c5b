"""Live components for tests: thin wrappers over `alerts.live`, which the fault injector uses."""

from __future__ import annotations

from alerts.live.processes import alert_states, post_alerts
from alerts.live.processes import alertmanager as alertmanager_process

__all__ = ["alert_states", "alertmanager_process", "post_alerts"]
