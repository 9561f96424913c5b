"""Live components for tests: thin wrappers over `stack`, which the fault injector uses."""

from __future__ import annotations

from stack.processes import alert_states, post_alerts
from stack.processes import alertmanager as alertmanager_process

__all__ = ["alert_states", "alertmanager_process", "post_alerts"]
