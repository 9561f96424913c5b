"""The admin web UI (server-rendered, no front-end build): plugins and installs in flight, the
install timeline, activity history, failures with their remediation, the approval queue, and the
org policy. Sign-in is by API token into a session; every form carries a CSRF token; roles are the
API's (viewer reads, operator installs, admin decides approvals and edits the policy); every
change is audited."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

from flask import Blueprint, abort, g, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from contracts.codes import Code
from contracts.errors import PluginopsError
from contracts.layout import Layout
from contracts.outcomes import TransactionState
from runtime.admin import approving, policy_editing
from runtime.api.kpis import KpiFacts
from runtime.api.sparklines import HEIGHT, WIDTH, sparkline
from runtime.api.trends import WINDOWS, TrendReader, figure_text, read_trends
from runtime.auth.sessions import Session as UiSession
from runtime.auth.sessions import Sessions
from runtime.auth.tokens import Principal, TokenStore
from runtime.bake.store import Bakes
from runtime.bake.views import bake_view
from runtime.install.select import check_name
from runtime.install.views import status_view
from runtime.kpi import records
from runtime.kpi.compute import scorecard
from runtime.kpi.views import STATUS_TEXT, change_text, detail_text, shown
from runtime.rollouts import Rollouts
from runtime.sandbox.enforcement import recent_denials
from runtime.sandbox.policy import load_policy

F = TypeVar("F", bound=Callable[..., Any])
OUTCOMES = (TransactionState.COMMITTED, TransactionState.ROLLED_BACK, TransactionState.FAILED,
            TransactionState.AWAITING_APPROVAL)


def _live(sessions: Sessions, tokens: TokenStore) -> UiSession | None:
    """The request's session while it is open on the server and its token stands (revoking a
    token ends its sessions); the cookie holds nothing but the session's id."""
    live = sessions.get(session.get("sid"))
    if live is not None and not tokens.still_valid(live.principal.token_id):
        sessions.end(session.get("sid"))
        live = None
    if live is None:
        session.clear()
    return live


def needs(role: str, tokens: TokenStore, sessions: Sessions) -> Callable[[F], F]:
    def wrap(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            live = _live(sessions, tokens)
            if live is None:
                if request.method != "GET":
                    abort(401, "sign in first: this form changes nothing without a session")
                return redirect(url_for("ui.login", next=request.path))
            principal = live.principal
            if not principal.may(role):
                abort(403, f"{principal.user} is a {principal.role}; this needs {role}")
            if request.method == "POST" and not secrets.compare_digest(
                    request.form.get("csrf", ""), live.csrf):
                abort(400, "the form's CSRF token is missing or stale: reload the page")
            g.principal, g.csrf = principal, live.csrf
            return view(*args, **kwargs)
        return guarded  # type: ignore[return-value]
    return wrap


# How the login form checks a token: the app's throttled check (failures counted, audited in
# aggregate, 429 past the limit), or the token store's own.
SignIn = Callable[[str], "Principal | None"]

# What the plugins page shows of each plugin's SLOs: per plugin, one line per SLO, or why there is
# nothing to show. The composition root supplies it (`pluginops.budgets`), as it does the stores.
SloReader = Callable[[], "dict[str, list[str]] | str"]


def no_slo_reader() -> str:
    return "Prometheus not configured"


def _days(text: str) -> float | None:
    """The form's expiry in days, as seconds (empty: none); the use case judges the number."""
    text = text.strip()
    if not text:
        return None
    try:
        return float(text) * 86400
    except ValueError:
        raise PluginopsError(Code.EXPIRY_INVALID, f"{text[:50]!r} is not a number of days",
                             where="expires_days", next_step="e.g. 30, or leave it empty"
                             ) from None


def create_blueprint(home: Path, tokens: TokenStore, installer: Callable[..., Any],
                     approvals: Any, audit: Any, grafana_url: str | None,
                     slo_status: SloReader = no_slo_reader, sessions: Sessions | None = None,
                     signing_in: SignIn | None = None, trends: TrendReader | None = None,
                     kpi_facts: KpiFacts | None = None) -> Blueprint:
    ui = Blueprint("ui", __name__, url_prefix="/ui", template_folder="templates",
                   static_folder="static")
    sessions = sessions if sessions is not None else Sessions()
    sign_in = signing_in or tokens.authenticate

    def record(kind: str, **fields: Any) -> None:
        if audit is not None:
            audit.event(kind, by=g.principal.user, role=g.principal.role, **fields)

    @ui.context_processor
    def common() -> dict[str, Any]:
        return {"me": g.get("principal"), "csrf": g.get("csrf", ""),
                "grafana": grafana_url.rstrip("/") if grafana_url else None}

    @ui.get("/login")
    def login() -> str:
        return render_template("login.html", error=None, next=request.args.get("next", ""))

    @ui.post("/login")
    def login_post() -> Response | tuple[str, int]:
        principal = sign_in(request.form.get("token", ""))
        if principal is None:
            return render_template("login.html", error="That token is not valid.",
                                   next=""), 401
        sessions.end(session.get("sid"))
        session.clear()
        session["sid"] = sessions.start(principal)
        target = request.form.get("next", "")
        return redirect(target if target.startswith("/ui/") else url_for("ui.plugins"))

    @ui.post("/logout")
    @needs("viewer", tokens, sessions)
    def logout() -> Response:
        sessions.end(session.get("sid"))  # for good: the old cookie opens nothing any more
        session.clear()
        return redirect(url_for("ui.login"))

    @ui.get("/")
    @needs("viewer", tokens, sessions)
    def plugins() -> str:
        items = [status_view(s) for s in installer().status()]
        return render_template("plugins.html", plugins=items, slo=slo_status())

    @ui.get("/plugins/<name>")
    @needs("viewer", tokens, sessions)
    def plugin(name: str) -> str:
        """One plugin: its state, its SLO trends (7 and 30 days against the window before) and
        its enforcement log."""
        check_name(name, "name")
        found = [status_view(s) for s in installer().status(name)]
        trend_views, problem = {}, None
        for window in WINDOWS:
            try:
                document = read_trends(trends, name, window)
            except PluginopsError as err:
                problem = err
                break
            trend_views[window] = [{**f, "spark": sparkline(f["points"])}
                                   for f in document["figures"]]
        return render_template("plugin.html", name=name, status=found[0] if found else None,
                               trends=trend_views, problem=problem,
                               denials=recent_denials(Layout(home).audit_log, name),
                               width=WIDTH, height=HEIGHT, figure=figure_text)

    @ui.post("/install")
    @needs("operator", tokens, sessions)
    def install() -> Response | tuple[str, int]:
        target = request.form.get("target", "").strip()
        operation = request.form.get("operation", "install")
        runner = installer(requested_by=g.principal.user)
        try:
            outcome = runner.update(target) if operation == "update" else runner.install(target)
        except PluginopsError as err:
            record("ui.install.refused", target=target, code=err.code)
            return render_template("refused.html", target=target, error=err), err.http_status
        record(f"ui.{operation}", target=target, tx_id=outcome.tx_id, outcome=outcome.state)
        if not outcome.tx_id:
            return redirect(url_for("ui.plugins"))
        return redirect(url_for("ui.transaction", tx_id=outcome.tx_id))

    @ui.get("/transactions/<tx_id>")
    @needs("viewer", tokens, sessions)
    def transaction(tx_id: str) -> str:
        runner = installer()
        row = runner.env.journal.transaction(tx_id)
        if row is None:
            abort(404, f"no transaction {tx_id}")
        entry = next(h for h in runner.history(row.plugin, 10_000) if h["tx_id"] == tx_id)
        flight = next((s.in_flight for s in runner.status(row.plugin)
                       if s.in_flight and s.in_flight.tx_id == tx_id), None)
        bakes = Bakes(Layout(home).bakes_db)  # an update that bakes: the bake's progress
        try:
            bake = bakes.get(tx_id)
        finally:
            bakes.close()
        cause = next((e.detail for e in runner.env.journal.events(tx_id)
                      if e.kind == "bake_verdict"), None)  # a rollback a bake asked for
        return render_template("transaction.html", tx=entry, flight=flight,
                               bake=bake_view(bake) if bake else None, cause=cause)

    @ui.get("/history")
    @needs("viewer", tokens, sessions)
    def history() -> str:
        plugin = request.args.get("plugin") or None
        outcome = request.args.get("outcome") or None
        rows = [h for h in installer().history(plugin, 500)
                if outcome is None or h["outcome"] == outcome]
        return render_template("history.html", rows=rows, plugin=plugin or "",
                               outcome=outcome or "", outcomes=OUTCOMES)

    @ui.get("/rollouts")
    @needs("viewer", tokens, sessions)
    def rollouts() -> str:
        """The fleet rollouts coordinated from this home (`pluginops fleet rollout --home`)."""
        found: list[dict[str, Any]] = []
        path = Layout(home).rollouts_db
        if path.exists():
            record = Rollouts(path)
            try:
                for rollout in reversed(record.history(limit=20)):
                    steps = record.steps(rollout.id)
                    gates = [record.gate(rollout.id, i) for i in range(len(rollout.waves))]
                    found.append({"rollout": rollout, "waves": [
                        {"number": i + 1, "gate": gates[i],
                         "steps": [s for s in steps if s.wave == i]}
                        for i in range(len(rollout.waves))]})
            finally:
                record.close()
        return render_template("rollouts.html", rollouts=found)

    @ui.get("/kpis")
    @needs("viewer", tokens, sessions)
    def kpis() -> str:
        """The plan's KPIs from this home's records, each against its target."""
        now = time.time()
        values = scorecard(kpi_facts(now) if kpi_facts else records.read(home), now)
        return render_template("kpis.html", kpis=values, shown=shown, change=change_text,
                               status_text=STATUS_TEXT, detail=detail_text)

    @ui.get("/approvals")
    @needs("viewer", tokens, sessions)
    def approvals_page() -> str:
        return render_template("approvals.html", pending=approvals.requests(),
                               decisions=approvals.decisions(), now=time.time(),
                               error=request.args.get("error"))

    @ui.post("/approvals/<name>")
    @needs("admin", tokens, sessions)
    def decide(name: str) -> Response | tuple[str, int]:
        now = time.time()
        try:
            approving.decide(
                approvals, audit, name, request.form.get("scope", ""),
                request.form.get("decision"),
                approving.Decider(g.principal.user, g.principal.role, "ui"),
                request.form.get("reason", ""), now,
                approving.expiry_after(_days(request.form.get("expires_days", "")), now,
                                       "expires_days"))
        except PluginopsError as err:
            return render_template("approvals.html", pending=approvals.requests(),
                                   decisions=approvals.decisions(), now=now,
                                   error=err), err.http_status
        return redirect(url_for("ui.approvals_page"))

    @ui.get("/policy")
    @needs("viewer", tokens, sessions)
    def policy() -> str:
        path = Layout(home).policy_file
        text = path.read_text() if path.exists() else "version: 1\n"
        return render_template("policy.html", text=text, policy=load_policy(home),
                               revisions=policy_editing.revisions(home), error=None)

    @ui.post("/policy")
    @needs("admin", tokens, sessions)
    def policy_post() -> Response | tuple[str, int]:
        text = request.form.get("policy", "")
        try:
            policy_editing.revise(home, text, g.principal.user,
                                  request.form.get("reason", ""), audit, g.principal.role, "ui")
        except PluginopsError as err:
            return render_template("policy.html", text=text, policy=load_policy(home),
                                   revisions=policy_editing.revisions(home), error=err), 400
        return redirect(url_for("ui.policy"))

    return ui
