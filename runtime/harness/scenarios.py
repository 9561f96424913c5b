"""The canonical scenarios, each in a fresh world so no scenario leans on another's leftovers.

| scenario | critical | passes when |
|---|---|---|
| preflight | yes | the candidate passes preflight against this host and the registry |
| install | yes | it installs (asking for and getting approval of elevated scopes) and is active |
| configure | yes | a request for elevated scopes is approved by a second person, never the author |
| execute | yes | every golden case gives its expected outcome and output |
| update | yes* | from the previous version it updates, stays healthy, and executes the cases |
| rollback | yes* | it rolls back to the previous version, which is active and executes |
| uninstall | yes | it uninstalls and leaves no active version and no files |
| permission-deny | yes* | denied elevated scopes leave it not active and the prior state intact |
| failure@PHASE | yes | a failure at each install phase restores the exact prior state, |
|  |  | whose own golden cases still pass |
| api@VERSION | yes | the cases pass with the host serving each API version in the range |

(*) skipped when there is no previous version / no elevated request.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts.catalogue import INSTALL_PHASES
from contracts.codes import Code
from contracts.errors import PluginopsError
from contracts.files import workers_may_enter
from contracts.outcomes import Decision, TransactionState
from runtime.harness.golden import Golden, contains
from runtime.harness.golden import load as load_golden
from runtime.harness.world import APPROVER, World, install_registry, world
from runtime.host import API_VERSIONS, HostDescription, this_host
from runtime.install.service import Installer
from runtime.install.transaction import Outcome
from runtime.manifest.model import Manifest
from runtime.manifest.read import manifest_path
from runtime.preflight.run import PreflightContext, check_path
from runtime.registry.index import load_registry
from runtime.sandbox.approvals import Approvals, Request
from runtime.semver.ranges import parse_version


class ScenarioFailed(Exception):
    """A scenario's expectation did not hold: what was expected and what happened."""


@dataclass
class ScenarioResult:
    name: str
    critical: bool
    status: str  # passed | failed | skipped
    detail: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"scenario": self.name, "critical": self.critical, "status": self.status,
                "detail": self.detail, "seconds": round(self.seconds, 3)}


@dataclass
class Plan:
    plugin_dir: Path
    golden: Golden
    manifest: Manifest
    previous: list[Path] = field(default_factory=list)
    registry: Path | None = None
    trust: tuple[Path, ...] = ()
    api_versions: tuple[str, ...] = API_VERSIONS  # every version some known host serves
    host: HostDescription = field(default_factory=this_host)  # the host the runtime presents
    policy: Path | None = None  # the org policy the worlds run under (`<home>/policy.yaml`)

    @property
    def previous_golden(self) -> Golden | None:
        """The previous version's own golden cases, when its folder was given."""
        version = self.previous_version
        for folder in self.previous:
            if load_manifest(folder).version == version and (folder / "golden.json").is_file():
                return load_golden(folder)
        return None

    @property
    def previous_version(self) -> str | None:
        """The highest version below the candidate among the given folders and the registry."""
        mine = parse_version(self.manifest.version)
        found = [load_manifest(p).version for p in self.previous]
        if self.registry is not None:
            entry = load_registry(self.registry).index.plugins.get(self.manifest.name, {})
            found += list(entry)
        lower = [v for v in found if parse_version(v) < mine]
        return str(max(lower, key=parse_version)) if lower else None


def load_manifest(plugin_dir: Path) -> Manifest:
    try:
        return Manifest.model_validate(json.loads(manifest_path(plugin_dir).read_text()))
    except (OSError, ValueError) as exc:
        raise PluginopsError(Code.MANIFEST_INVALID, f"cannot read the manifest: {exc}",
                             where=str(plugin_dir),
                             next_step=f"run `pluginops preflight {plugin_dir}`") from None


@contextmanager
def temporary_world(plan: Plan) -> Iterator[World]:
    """A fresh world for one scenario, in a folder the plugin's sandbox workers can enter, gone
    afterwards."""
    root = workers_may_enter(Path(tempfile.mkdtemp(prefix="golden-")))
    try:
        with world(root, plan.golden, plan.plugin_dir, plan.previous, plan.registry,
                   plan.trust, plan.host, plan.policy) as made:
            yield made
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _approvals(installer: Installer) -> Approvals:
    approvals = installer.env.approvals
    assert approvals is not None, "the harness world always has an approvals store"
    return approvals


def _expect(outcome: Outcome, state: str, doing: str) -> None:
    if outcome.state != state:
        why = f": {outcome.failure.phase}: {outcome.failure.message}" \
            if outcome.failure else (f": {outcome.note}" if outcome.note else "")
        raise ScenarioFailed(f"{doing} ended {outcome.state}, expected {state}{why}")


def _install(w: World, target: str, operation: str = "install") -> Outcome:
    """Install or update, approving elevated scopes as a second person when asked."""
    installer = w.installer()
    outcome = installer.update(target) if operation == "update" else installer.install(target)
    if outcome.state == TransactionState.AWAITING_APPROVAL:
        approvals = _approvals(installer)
        for request in approvals.requests(w.name):
            approvals.decide(w.name, request.scope, Decision.APPROVED, APPROVER,
                             "golden harness: approved to exercise the install", time.time())
        installer = w.installer()
        outcome = installer.update(target) if operation == "update" else \
            installer.install(target)
    return outcome


def _run_cases(w: World, served_api: tuple[str, ...] | None = None,
               cases: Golden | None = None) -> None:
    for case in (cases or w.golden).cases:
        files = {name: (content.encode() if isinstance(content, str) else
                        json.dumps(content).encode())
                 for name, content in case.files.items()}
        result = w.execute(case.input, files, served_api) if served_api else \
            w.execute(case.input, files)
        if result.outcome != case.expect.outcome:
            denied = "; ".join(f"denied {d['operation']} {d['target']} ({d['rule']})"
                               for d in result.denials)
            error = result.error.get("message") if result.error else ""
            raise ScenarioFailed(
                f"case {case.name!r}: outcome {result.outcome}, expected "
                f"{case.expect.outcome}" + (f": {error}" if error else "")
                + (f"; {denied}" if denied else ""))
        if not contains(result.output, case.expect.output):
            raise ScenarioFailed(f"case {case.name!r}: output {result.output!r} does not hold "
                                 f"{case.expect.output!r}")


def _spec(w: World, version: str) -> str:
    return f"{w.name}@{version}"


def preflight(plan: Plan) -> None:
    """Preflight against the host the worlds present and the registry they install from (the
    given registry with the previous versions published into it)."""
    with tempfile.TemporaryDirectory(prefix="golden-preflight-") as root:
        folder = Path(root) / "registry"
        install_registry(folder, plan.registry, plan.previous, plan.host, None)
        folder.mkdir(exist_ok=True)  # no registry given and no previous version: an empty one
        result = check_path(plan.plugin_dir,
                            PreflightContext(plan.host, load_registry(folder)))
    errors = [f for f in result.findings if f.severity == "error"]
    if errors:
        raise ScenarioFailed("; ".join(f"{f.code} at {f.field}: {f.message}" for f in errors))


def install(plan: Plan) -> None:
    with temporary_world(plan) as w:
        _expect(_install(w, _spec(w, plan.manifest.version)), TransactionState.COMMITTED, "install")
        if w.state().active != plan.manifest.version:
            raise ScenarioFailed(f"active version is {w.state().active}")


def _ask_for_elevation(plan: Plan, w: World) -> tuple[Approvals, list[Request]]:
    """Install the candidate, which must stop at the permission prompt: its pending requests."""
    installer = w.installer()
    _expect(installer.install(_spec(w, plan.manifest.version)), TransactionState.AWAITING_APPROVAL,
            "install asking for elevated scopes")
    approvals = _approvals(installer)
    return approvals, approvals.requests(w.name)


def configure(plan: Plan) -> None:
    if not plan.manifest.sandbox.elevated:
        return _skip("the manifest asks for no elevated scopes")
    with temporary_world(plan) as w:
        approvals, requests = _ask_for_elevation(plan, w)
        request = requests[0]
        try:
            approvals.decide(w.name, request.scope, Decision.APPROVED,
                                           request.requested_by, "self-approval", time.time())
        except PluginopsError as err:
            if err.code != Code.FOUR_EYES:
                raise
        else:
            raise ScenarioFailed("the author approved their own request")
        _expect(_install(w, _spec(w, plan.manifest.version)), TransactionState.COMMITTED,
                "install after approval")
    return None


def execute(plan: Plan) -> None:
    with temporary_world(plan) as w:
        _expect(_install(w, _spec(w, plan.manifest.version)), TransactionState.COMMITTED, "install")
        _run_cases(w)


def _from_previous(plan: Plan, w: World) -> str:
    previous = plan.previous_version
    assert previous is not None
    _expect(_install(w, _spec(w, previous)), TransactionState.COMMITTED, f"install of {previous}")
    return previous


def update(plan: Plan) -> None:
    if plan.previous_version is None:
        return _skip("no previous version to update from")
    with temporary_world(plan) as w:
        previous = _from_previous(plan, w)
        _expect(_install(w, _spec(w, plan.manifest.version), "update"), TransactionState.COMMITTED,
                f"update from {previous}")
        _run_cases(w)
    return None


def rollback(plan: Plan) -> None:
    if plan.previous_version is None:
        return _skip("no previous version to roll back to")
    with temporary_world(plan) as w:
        previous = _from_previous(plan, w)
        _expect(_install(w, _spec(w, plan.manifest.version), "update"),
                TransactionState.COMMITTED, "update")
        _expect(w.installer().rollback(w.name), TransactionState.COMMITTED, "rollback")
        if w.state().active != previous:
            raise ScenarioFailed(f"rolled back to {w.state().active}, expected {previous}")
    return None


def uninstall(plan: Plan) -> None:
    with temporary_world(plan) as w:
        _expect(_install(w, _spec(w, plan.manifest.version)), TransactionState.COMMITTED, "install")
        _expect(w.installer().uninstall(w.name), TransactionState.COMMITTED, "uninstall")
        after = w.state()
        if after.active is not None or w.layout.current(w.name).exists():
            raise ScenarioFailed(f"after uninstall: {after.describe()}")


def permission_deny(plan: Plan) -> None:
    if not plan.manifest.sandbox.elevated:
        return _skip("the manifest asks for no elevated scopes")
    with temporary_world(plan) as w:
        before = w.state()
        approvals, requests = _ask_for_elevation(plan, w)
        for request in requests:
            approvals.decide(w.name, request.scope, Decision.DENIED, APPROVER,
                             "golden harness: the deny path", time.time())
        again = w.installer().install(_spec(w, plan.manifest.version))
        if again.state == TransactionState.COMMITTED:
            raise ScenarioFailed("installed although its elevated scopes were denied")
        if w.state() != before:
            raise ScenarioFailed(f"state changed: {before.describe()} -> {w.state().describe()}")
    return None


def failure_at(phase: str) -> Callable[[Plan], None]:
    def scenario(plan: Plan) -> None:
        with temporary_world(plan) as w:
            previous = plan.previous_version
            if previous is not None:
                _from_previous(plan, w)
            target = _spec(w, plan.manifest.version)

            def attempt() -> Outcome:
                injected = w.installer(inject_failure=phase)
                return injected.update(target) if previous else injected.install(target)

            before = w.state()
            outcome = attempt()
            if outcome.state == TransactionState.AWAITING_APPROVAL:
                # Elevated scopes are asked for before activation: approve them as a second
                # person (nothing was activated), then fail the operation where it is aimed.
                approvals = _approvals(w.installer())
                for request in approvals.requests(w.name):
                    approvals.decide(w.name, request.scope, Decision.APPROVED, APPROVER,
                                     "golden harness: approved to reach the later phases",
                                     time.time())
                before = w.state()
                outcome = attempt()
            _expect(outcome, TransactionState.ROLLED_BACK, f"an operation failing at {phase}")
            if outcome.failure is None or outcome.failure.phase != phase:
                raise ScenarioFailed(f"rolled back at {outcome.failure and outcome.failure.phase}"
                                     f", not at {phase}")
            after = w.state()
            if after != before:
                raise ScenarioFailed(f"prior state not intact: {before.describe()} -> "
                                     f"{after.describe()}")
            prior_cases = plan.previous_golden
            if previous is not None and prior_cases is not None:
                try:
                    _run_cases(w, cases=prior_cases)
                except ScenarioFailed as failed:
                    raise ScenarioFailed(f"{previous} no longer executes: {failed}") from None
    return scenario


def api_version(version: str) -> Callable[[Plan], None]:
    def scenario(plan: Plan) -> None:
        with temporary_world(plan) as w:
            _expect(_install(w, _spec(w, plan.manifest.version)), TransactionState.COMMITTED,
                    "install")
            try:
                _run_cases(w, served_api=(version,))
            except ScenarioFailed as failed:
                raise ScenarioFailed(f"with plugin API {version}: {failed}") from None
    return scenario


class _Skipped(Exception):
    pass


def _skip(why: str) -> None:
    raise _Skipped(why)


def in_range(manifest_api: str, versions: tuple[str, ...]) -> list[str]:
    major, minor = (int(p) for p in manifest_api.split("."))
    return [v for v in versions if int(v.split(".")[0]) == major
            and int(v.split(".")[1]) >= minor]


def scenarios(plan: Plan) -> list[tuple[str, bool, Callable[[Plan], None]]]:
    listed: list[tuple[str, bool, Callable[[Plan], None]]] = [
        ("preflight", True, preflight), ("install", True, install),
        ("configure", True, configure), ("execute", True, execute), ("update", True, update),
        ("rollback", True, rollback), ("uninstall", True, uninstall),
        ("permission-deny", True, permission_deny)]
    listed += [(f"failure@{phase}", True, failure_at(phase)) for phase in INSTALL_PHASES]
    listed += [(f"api@{v}", True, api_version(v))
               for v in in_range(plan.manifest.api, plan.api_versions)]
    return listed


def run_one(name: str, critical: bool, scenario: Callable[[Plan], None], plan: Plan
            ) -> ScenarioResult:
    started = time.monotonic()
    try:
        scenario(plan)
    except _Skipped as skipped:
        return ScenarioResult(name, critical, "skipped", str(skipped),
                              time.monotonic() - started)
    except ScenarioFailed as failed:
        return ScenarioResult(name, critical, "failed", str(failed), time.monotonic() - started)
    except PluginopsError as err:
        return ScenarioResult(name, critical, "failed", f"{err.code}: {err.message}",
                              time.monotonic() - started)
    return ScenarioResult(name, critical, "passed", "", time.monotonic() - started)
