"""Acting on the bakes' verdicts, in the process that serves executions: every second the
canary's counts are flushed and judged; a promotion closes the bake; a regression rolls the
plugin back to the baseline through the installer (a transaction like any rollback, which closes
the bake as rolled back). Each decision goes to the bake's record, the journal (on the update's
transaction: its correlation id), the audit log and the log. A rollback that fails (another
operation holds the plugin) is tried again at the next tick: the bake stays open until it
succeeds or an operation ends it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from contracts.codes import Code
from contracts.errors import PluginopsError
from runtime.bake.canary import Canary
from runtime.bake.evidence import Verdict
from runtime.bake.store import PROMOTED, Bake
from runtime.install.journal import Journal
from runtime.install.service import Installer
from runtime.sandbox.audit import AuditLog

log = logging.getLogger(__name__)
RollBack = Callable[[str, str, dict[str, Any]], Any]  # plugin, version, cause


def through(installer: Callable[[], Installer]) -> RollBack:
    """A bake's rollback as an installer's (`installer()` makes one per operation): a failed
    one raises, so the supervisor tries again."""

    def roll_back(plugin: str, version: str, cause: dict[str, Any]) -> None:
        outcome = installer().rollback(plugin, to=version, cause=cause)
        if not outcome.ok:
            assert outcome.failure is not None
            raise PluginopsError(outcome.failure.code, outcome.message, where=plugin,
                                 next_step=outcome.failure.next_step)

    return roll_back


def decision(bake: Bake, verdict: Verdict) -> dict[str, Any]:
    rolled = verdict.decision == "roll_back"
    return {"bake_id": bake.id, "decision": verdict.decision, "event": verdict.event,
            "code": Code.BAKE_REGRESSION if rolled else None, "summary": verdict.summary,
            "evidence": verdict.evidence, "candidate": bake.candidate,
            "baseline": bake.baseline, "weight": bake.weight,
            "counts": {"candidate": verdict.candidate, "baseline": verdict.baseline}}


class Supervisor:
    def __init__(self, canary: Canary, roll_back: RollBack, journal: Journal, audit: AuditLog,
                 interval_s: float = 1.0) -> None:
        self.canary = canary
        self.roll_back = roll_back
        self.journal = journal
        self.audit = audit
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> list[dict[str, Any]]:
        """Flush, judge and act; the decisions taken."""
        taken = []
        for bake, verdict in self.canary.flush():
            made = decision(bake, verdict)
            now = self.canary.clock()
            if verdict.decision == "promote":
                if not self.canary.decide(bake.id, PROMOTED, made, now):
                    continue  # another process decided first, or an operation ended it
                self._record("bake_promoted", bake, made, now)
                log.info("promoted %s %s after its bake: %s", bake.plugin, bake.candidate,
                         verdict.summary)
            else:
                try:
                    self.roll_back(bake.plugin, bake.baseline, made)
                except PluginopsError as failed:
                    log.warning("the bake of %s %s asks for a rollback, which failed (%s: %s); "
                                "trying again", bake.plugin, bake.candidate, failed.code,
                                failed.message)
                    continue
                self._record("bake_rolled_back", bake, made, now)
                log.warning("rolled back %s to %s: %s", bake.plugin, bake.baseline,
                            verdict.summary)
            taken.append(made)
        return taken

    def _record(self, kind: str, bake: Bake, made: dict[str, Any], now: float) -> None:
        self.journal.event(bake.id, kind, detail=made, now=now)
        self.audit.event(kind.replace("_", ".", 1), at=now, plugin=bake.plugin,
                         correlation_id=bake.id, candidate=bake.candidate,
                         baseline=bake.baseline, summary=made["summary"], code=made["code"])

    def start(self) -> Supervisor:
        self._thread = threading.Thread(target=self._run, name="bake-supervisor", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.tick()
            except Exception:  # a bad tick must not end the bakes: log it, try next second
                log.exception("bake supervisor tick failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.tick()  # what gathered since the last tick
