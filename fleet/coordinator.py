"""The rollout itself: wave after wave, each host updated through its API, then the wave's
gate watched; on a failed gate (or a host that would not take the version) every host that
took it is rolled back to the version it had. Every step is recorded before and after it is
taken (`record.py`), so a coordinator killed at any point is resumed by running it again:
a step caught mid-request is settled by asking the host which version it runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from alerts.spec import Slo
from collector.query_api import QueryApi
from contracts.codes import Code
from contracts.errors import PluginopsError
from fleet import gate as gates
from fleet.client import HostApi
from fleet.gate import GateSettings
from fleet.hosts import FleetHost
from fleet.waves import plan_waves
from runtime.rollouts import (
    COMPLETED,
    FAILED,
    GATE_FAILED,
    GATE_PASSED,
    ROLLBACK_FAILED,
    ROLLED_BACK,
    STEP_FAILED,
    STEP_ROLLED_BACK,
    UPDATED,
    UPDATING,
    Rollout,
    Rollouts,
)

Note = Callable[[str], None]


@dataclass(frozen=True)
class Plan:
    canary: int = 1
    share: float = 0.5


class Coordinator:
    def __init__(self, record: Rollouts, hosts: list[FleetHost], store: QueryApi,
                 slos: list[Slo], note: Note = lambda _: None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time) -> None:
        self.record = record
        self.hosts = {h.name: h for h in hosts}
        self.apis = {h.name: HostApi(h) for h in hosts}
        self.store = store
        self.slos = slos
        self.note = note
        self.sleep = sleep
        self.clock = clock

    def start_or_resume(self, plugin: str, version: str, plan: Plan,
                        settings: GateSettings) -> Rollout:
        """The unfinished rollout of `plugin@version` (its recorded waves and gate settings
        hold), or a new one; another version's unfinished rollout is refused."""
        running = self.record.running(plugin)
        if running is not None:
            if running.version != version:
                raise PluginopsError(Code.FLEET_ROLLOUT_RUNNING, f"the rollout of {plugin} "
                                     f"{running.version} ({running.id[:12]}) is unfinished",
                                     where=plugin, next_step=f"pluginops fleet rollout "
                                     f"{plugin}@{running.version} resumes it")
            missing = {h for wave in running.waves for h in wave} - set(self.hosts)
            if missing:
                raise PluginopsError(Code.FLEET_HOSTS_INVALID, f"the hosts file lacks "
                                     f"{', '.join(sorted(missing))} of the rollout being "
                                     "resumed", where="--hosts",
                                     next_step="give the hosts file the rollout started with")
            self.note(f"resuming rollout {running.id[:12]} of {plugin} {version}")
            return running
        waves = plan_waves(list(self.hosts), plan.canary, plan.share)
        rollout = self.record.create(plugin, version, waves, asdict(settings))
        self.note(f"rollout {rollout.id[:12]} of {plugin} {version}: waves "
                  + " | ".join(", ".join(w) for w in waves))
        return rollout

    def run(self, rollout: Rollout) -> Rollout:
        settings = GateSettings(**rollout.settings)
        for index, wave in enumerate(rollout.waves):
            for host in wave:
                if not self._update(rollout, host):
                    return self._roll_back(rollout, Code.FLEET_HOST_FAILED,
                                           f"{host} did not take {rollout.version}")
            evidence = self._gate(rollout, index, settings)
            if evidence is not None:
                return self._roll_back(rollout, Code.FLEET_GATE_FAILED,
                                       f"wave {index + 1} ({', '.join(wave)}): "
                                       f"{evidence.summary()}")
        self.record.finish(rollout.id, COMPLETED, {"message": f"every host runs "
                                                   f"{rollout.plugin} {rollout.version}"})
        self.note(f"completed: every host runs {rollout.plugin} {rollout.version}")
        return self._reload(rollout)

    def _step(self, rollout: Rollout, host: str) -> Any:
        return next(s for s in self.record.steps(rollout.id) if s.host == host)

    def _update(self, rollout: Rollout, host: str) -> bool:
        """Update one host unless it already was; False when it would not take the version."""
        step = self._step(rollout, host)
        if step.state == UPDATED:
            return True
        if step.state == STEP_FAILED:
            return False
        api = self.apis[host]
        status = api.status(rollout.plugin)
        current = status.body.get("version") if status.ok else None
        if step.state == UPDATING and current == rollout.version:  # it did, before a kill
            self.record.step(rollout.id, host, UPDATED, detail={"settled": "after a restart"})
            return True
        if not status.ok or current is None:
            self.record.step(rollout.id, host, STEP_FAILED, detail={"error": status.error})
            return False
        previous = step.previous or current
        self.record.step(rollout.id, host, UPDATING, previous=previous)
        answer = api.update(rollout.plugin, rollout.version)
        if not answer.ok:
            self.record.step(rollout.id, host, STEP_FAILED, detail={"error": answer.error})
            self.note(f"{host}: update refused or rolled back: {answer.error}")
            return False
        self.record.step(rollout.id, host, UPDATED, tx_id=answer.body.get("tx_id"),
                         detail={"from": previous})
        self.note(f"{host}: {rollout.plugin} {previous} -> {rollout.version}")
        return True

    def _gate(self, rollout: Rollout, wave: int,
              settings: GateSettings) -> gates.Evidence | None:
        """Watch the wave's gate until it passes (None) or fails (the evidence)."""
        gate = self.record.gate(rollout.id, wave) or self.record.start_gate(rollout.id, wave)
        if gate.outcome is not None:  # decided before a restart
            return None if gate.outcome == GATE_PASSED else gates.Evidence(**{
                k: gate.evidence[k] for k in ("executions", "failures", "allowed_ratio",
                                              "likelihood_ratio")})
        updated = [s.host for s in self.record.steps(rollout.id) if s.state == UPDATED]
        plugin_type = self.apis[updated[0]].status(rollout.plugin).body.get("type") or ""
        allowed = gates.allowed_ratio(self.slos, rollout.plugin, plugin_type,
                                      settings.max_burn)
        self.note(f"wave {wave + 1}: watching {', '.join(updated)} for {settings.seconds:g} s")
        while True:
            now = self.clock()
            executions, failures = gates.counts(self.store, rollout.plugin, rollout.version,
                                                updated, gate.started_at, now)
            failed, evidence = gates.judge(executions, failures, allowed, settings)
            if failed or now >= gate.started_at + settings.seconds:
                outcome = GATE_FAILED if failed else GATE_PASSED
                self.record.end_gate(rollout.id, wave, outcome, evidence.to_dict())
                self.note(f"wave {wave + 1} gate {outcome}: {evidence.summary()}")
                return evidence if failed else None
            self.sleep(min(settings.poll_s, gate.started_at + settings.seconds - now))

    def _roll_back(self, rollout: Rollout, code: str, message: str) -> Rollout:
        """Every host that took the version (or may have) back to the version it had."""
        stuck = []
        for step in self.record.steps(rollout.id):
            if step.state not in (UPDATED, UPDATING) or step.previous is None:
                continue
            answer = self.apis[step.host].rollback(rollout.plugin, step.previous)
            if answer.ok:
                self.record.step(rollout.id, step.host, STEP_ROLLED_BACK,
                                 tx_id=answer.body.get("tx_id"))
                self.note(f"{step.host}: rolled back to {step.previous}")
            else:
                stuck.append(step.host)
                self.record.step(rollout.id, step.host, ROLLBACK_FAILED,
                                 detail={"error": answer.error})
        state = FAILED if stuck else ROLLED_BACK
        detail = {"code": code, "message": message, **({"stuck": stuck} if stuck else {})}
        self.record.finish(rollout.id, state, detail)
        self.note(f"{state.replace('_', ' ')}: {message}")
        return self._reload(rollout)

    def _reload(self, rollout: Rollout) -> Rollout:
        found = self.record.get(rollout.id)
        assert found is not None
        return found
