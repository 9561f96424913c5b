"""The Flask app factory. Its collaborators come in through `ApiConfig`; the CLI's `serve` wires
the real ones, tests pass their own.

    POST   /v1/plugins/<name>/install   {"version": "^1.4"}      install (201, or 409 rolled back)
    POST   /v1/plugins/<name>/update    {"version": "2.0.0"}     update
           (with `serve --allow-fault-injection`, both also take {"inject_failure": PHASE})
    POST   /v1/plugins/<name>/rollback  {"to": "1.3.2"}          rollback
    DELETE /v1/plugins/<name>                                    uninstall
    GET    /v1/plugins[/<name>]                                  status and operations in flight
    GET    /v1/history?plugin=NAME&limit=N                       transactions with phases
    GET    /v1/transactions/<tx_id>                              one transaction and its events
    POST   /v1/plugins/<name>/execute   {"inputs": {...}}        run it in its sandbox (answered
                                                                 in front of Flask: execute_lane)
    GET    /v1/approvals?plugin=NAME                             pending requests, decisions
    POST   /v1/approvals/<name> {"scope", "decision", "reason"}  approve or deny (admin, never
                                                                 the one who asked)
    GET    /healthz, /readyz                                     liveness, readiness
    GET    /metrics                                              Prometheus / OpenMetrics

Every /v1 request carries `Authorization: Bearer <token>` (`pluginops token create`): reads need
the viewer role, changes the operator role, decisions on approvals the admin role;
unauthenticated requests get 401 and change nothing, under-privileged ones 403; every change is
written to the audit log with who made it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from flask import Flask, Response, g, jsonify, request
from opentelemetry import trace
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from werkzeug.exceptions import HTTPException

from contracts.catalogue import INSTALL_PHASES
from contracts.codes import Code
from contracts.errors import PluginopsError, Unavailable
from contracts.layout import Layout
from contracts.outcomes import TransactionState
from runtime.admin import approving
from runtime.api.access import MUTATING, OPEN_PATHS, Access, Throttled, Unauthenticated
from runtime.api.bakes import bake_request, bake_routes
from runtime.api.bodies import object_body
from runtime.api.execute_lane import ExecuteLane
from runtime.api.kpis import kpi_facts, kpi_routes
from runtime.api.redaction import PathRedactor, installation_paths
from runtime.api.tracing import traced
from runtime.api.trends import TrendReader, trend_routes
from runtime.api.ui import SloReader, create_blueprint, no_slo_reader
from runtime.auth.sessions import Sessions
from runtime.auth.throttle import Throttle
from runtime.auth.tokens import Principal, TokenStore
from runtime.install.select import check_name
from runtime.install.service import Installer
from runtime.install.transaction import Outcome
from runtime.install.views import outcome_view, status_view
from runtime.kpi.facts import IncidentReader
from runtime.sandbox.approvals import Approvals
from runtime.sandbox.audit import AuditLog
from runtime.sandbox.executor import Executor


class InstallerFactory(Protocol):
    def __call__(self, inject_failure: str | None = None,
                 requested_by: str | None = None) -> Installer: ...


@dataclass
class ApiConfig:
    installer: InstallerFactory
    tokens: TokenStore  # every /v1 request names its caller with a Bearer token
    audit: AuditLog | None = None  # every mutating request is written here
    approvals: Approvals | None = None  # elevated requests and the decisions on them
    ui_home: Path | None = None  # serve the web UI from this runtime home (sessions, policy)
    session_secret: bytes = b""  # signs the UI's session cookies
    grafana_url: str | None = None  # links into the plugin-detail dashboard
    slo_status: SloReader = no_slo_reader  # what the UI shows of each plugin's SLO budgets
    trends: TrendReader | None = None  # SLO trends from the metrics store (`serve --prometheus`)
    incidents: IncidentReader | None = None  # production pages the store saw (for the KPIs)
    metrics: CollectorRegistry | None = None
    executor: Executor | None = None
    allow_fault_injection: bool = False
    # failed authentications per client and per token id (429 past the limit)
    throttle: Throttle = field(default_factory=Throttle)
    sessions: Sessions = field(default_factory=Sessions)  # the UI's, kept on the server
    secure_cookies: bool = False  # served over TLS (or behind a TLS proxy): cookies say Secure
    # server spans (OpenTelemetry's Flask instrumentation); None: the global provider
    tracer_provider: trace.TracerProvider | None = None
    # folders no answer names (besides ui_home and the installation's own): label -> folder
    private_paths: Mapping[str, Path] = field(default_factory=dict)
    max_body_bytes: int | None = None  # 413 above (the server refuses them first)


# Every response: no MIME sniffing. Pages of the UI: no inline script or style, never framed.
# Anything behind authentication: never stored by a cache or the browser's back button.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'")


def _security_headers(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    if request.path.startswith("/ui/"):
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
    if request.path.startswith(("/v1/", "/ui/")) and not request.path.startswith("/ui/static/"):
        response.headers["Cache-Control"] = "no-store"
    return response


def _error(code: str, message: str, status: int, where: str = "", next_step: str = "",
           **extra: Any) -> tuple[Response, int]:
    body = {"error": {"code": code, "where": where, "message": message,
                      "next_step": next_step}, **extra}
    return jsonify(body), status


def _outcome(outcome: Outcome, created: bool = False) -> tuple[Response, int]:
    view = outcome_view(outcome)
    if outcome.ok:
        made = created and outcome.state == TransactionState.COMMITTED
        return jsonify(view), 201 if made else 200
    failure = outcome.failure
    assert failure is not None
    return _error(failure.code, outcome.message, 409, failure.phase or "", failure.next_step,
                  outcome=view)


def create_app(config: ApiConfig) -> Flask:
    app = Flask("pluginops")

    @app.errorhandler(PluginopsError)
    def on_error(err: PluginopsError) -> tuple[Response, int]:
        response, status = _error(err.code, err.message, err.http_status, err.where,
                                  err.next_step)
        if isinstance(err, Throttled | Unavailable):  # busy for now: when to come back
            response.headers["Retry-After"] = str(err.retry_after_s)
        if isinstance(err, Unauthenticated):
            response.headers["WWW-Authenticate"] = err.challenge
        return response, status

    app.after_request(_security_headers)
    traced(app, config.tracer_provider)
    redact = PathRedactor({**installation_paths(), **config.private_paths,
                           **({"home": config.ui_home} if config.ui_home else {})})

    @app.after_request
    def no_server_paths(response: Response) -> Response:
        if response.direct_passthrough or response.is_streamed or request.path in OPEN_PATHS:
            return response  # files sent as they are; probes and /metrics name no folders
        data = response.get_data()
        cleaned = redact(data)
        if cleaned is not data:
            response.set_data(cleaned)
        return response

    access = Access(config.tokens, config.throttle, config.audit)

    def checked(token: str) -> Principal | None:  # the UI's sign-in: same throttle and audit
        return access.checked(token, request.remote_addr, request.path)

    @app.errorhandler(HTTPException)
    def on_http(err: HTTPException) -> tuple[Response, int]:
        return _error("HTTP_" + str(err.code), err.description or "", err.code or 500,
                      request.path, "see GET / for the endpoints")

    if config.ui_home is not None:

        app.secret_key = config.session_secret or None
        app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                          SESSION_COOKIE_SECURE=config.secure_cookies)
        facts_at = kpi_facts(config.ui_home, lambda: config.installer().env.registry,
                             config.incidents)
        app.register_blueprint(create_blueprint(config.ui_home, config.tokens, config.installer,
                                                config.approvals, config.audit,
                                                config.grafana_url, config.slo_status,
                                                config.sessions, checked, config.trends,
                                                facts_at))
        app.register_blueprint(kpi_routes(facts_at))

    app.register_blueprint(bake_routes(config.ui_home and Layout(config.ui_home).bakes_db))
    app.register_blueprint(trend_routes(config.trends))

    @app.before_request
    def authenticate() -> None:
        if request.path in OPEN_PATHS or request.path.startswith("/ui/"):
            return  # the UI signs in with a token into a session of its own
        g.principal = access.authorize(request.headers.get("Authorization", ""),
                                       request.method, request.path, request.remote_addr)

    @app.before_request
    def names_in_form() -> None:
        """Every `<name>` in a path is a plugin name, whichever route takes it: 400 otherwise,
        before any use case runs."""
        name = (request.view_args or {}).get("name")
        if name is not None:
            check_name(name, "name")

    @app.after_request
    def audit_mutation(response: Response) -> Response:
        principal = g.get("principal")
        if config.audit is not None and principal is not None and request.method in MUTATING:
            config.audit.event("api.request", user=principal.user, role=principal.role,
                               token=principal.token_id, method=request.method,
                               path=request.path, status=response.status_code)
        return response

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    @app.get("/metrics")
    def metrics() -> Response:
        if config.metrics is None:
            raise PluginopsError(Code.METRICS_DISABLED, "this app exports no metrics",
                                 where="/metrics", next_step="start it with `pluginops serve`",
                                 http_status=404)
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        return Response(encoder(config.metrics), content_type=content_type)

    def _operation_body() -> tuple[str | None, str | None, Any]:
        allowed = {"version", "bake", *(["inject_failure"] if config.allow_fault_injection
                                        else [])}
        body = object_body(allowed, numbers={"bake"})
        inject = body.get("inject_failure")
        if inject is not None and inject not in INSTALL_PHASES:
            raise PluginopsError(Code.BAD_REQUEST, f"no phase {inject!r}", where="inject_failure",
                                 next_step=f"one of {', '.join(INSTALL_PHASES)}")
        return body.get("version"), inject, body.get("bake")

    @app.post("/v1/plugins/<name>/install")
    def install(name: str) -> tuple[Response, int]:
        version, inject, bake = _operation_body()
        if bake:  # a first install has nothing to compare with
            raise PluginopsError(Code.BAKE_INVALID, "only an update can bake", where="body.bake",
                                 next_step="install without `bake`, then bake updates")
        return _outcome(config.installer(inject_failure=inject, requested_by=g.principal.user)
                        .install(f"{name}@{version}" if version else name), created=True)

    @app.post("/v1/plugins/<name>/update")
    def update(name: str) -> tuple[Response, int]:
        version, inject, bake = _operation_body()
        installer = config.installer(inject_failure=inject, requested_by=g.principal.user)
        return _outcome(installer.update(f"{name}@{version}" if version else name,
                                         bake=bake_request(bake, installer.env.policy)))

    @app.post("/v1/plugins/<name>/rollback")
    def rollback(name: str) -> tuple[Response, int]:
        return _outcome(config.installer().rollback(name, object_body({"to"}).get("to")))

    @app.delete("/v1/plugins/<name>")
    def uninstall(name: str) -> tuple[Response, int]:
        return _outcome(config.installer().uninstall(name))

    def _approvals() -> Approvals:
        if config.approvals is None:
            raise PluginopsError(Code.APPROVALS_DISABLED, "this app has no approvals store",
                                 where=request.path, next_step="start it with `pluginops serve`",
                                 http_status=404)
        return config.approvals

    @app.get("/v1/approvals")
    def approvals() -> Response:
        plugin = request.args.get("plugin") or None
        store = _approvals()
        return jsonify({"pending": [r.__dict__ for r in store.requests(plugin)],
                        "decisions": [d.__dict__ for d in store.decisions(plugin)]})

    @app.post("/v1/approvals/<name>")
    def decide(name: str) -> tuple[Response, int]:
        body = object_body({"scope", "decision", "reason", "expires_in_s"},
                           numbers={"expires_in_s"})
        now = time.time()
        made = approving.decide(
            _approvals(), config.audit, name, body.get("scope"), body.get("decision"),
            approving.Decider(g.principal.user, g.principal.role, "api"),
            body.get("reason") or "", now,
            approving.expiry_after(body.get("expires_in_s"), now, "body.expires_in_s"))
        return jsonify({"decision": made.__dict__}), 201

    @app.get("/readyz")
    def readyz() -> tuple[Response, int]:
        config.installer()  # recovery ran and the journal answers
        return jsonify({"status": "ready"}), 200

    @app.get("/v1/plugins")
    def plugins() -> Response:
        return jsonify({"plugins": [status_view(s) for s in config.installer().status()]})

    @app.get("/v1/plugins/<name>")
    def plugin(name: str) -> Response:
        (item,) = config.installer().status(name)
        return jsonify(status_view(item))

    @app.get("/v1/history")
    def history() -> Response:
        plugin_name = request.args.get("plugin") or None
        limit = request.args.get("limit", "200")
        if not limit.isdigit() or not 1 <= int(limit) <= 10_000:
            raise PluginopsError(Code.BAD_REQUEST, "limit must be 1 to 10000", where="limit",
                                 next_step="e.g. ?limit=50")
        return jsonify({"transactions": config.installer().history(plugin_name, int(limit))})

    @app.get("/v1/transactions/<tx_id>")
    def transaction(tx_id: str) -> Response:
        installer = config.installer()
        row = installer.env.journal.transaction(tx_id)
        if row is None:
            raise PluginopsError(Code.TRANSACTION_NOT_FOUND, f"no transaction {tx_id}",
                                 where=tx_id, next_step="GET /v1/history lists them",
                                 http_status=404)
        events = [{"seq": e.seq, "at": e.at, "kind": e.kind, "phase": e.phase,
                   "detail": e.detail} for e in installer.env.journal.events(tx_id)]
        entry = next(h for h in installer.history(row.plugin, 10_000) if h["tx_id"] == tx_id)
        return jsonify({**entry, "events": events})

    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes  # bodies sent without a length
    # executions skip the framework: the same checks, a fraction of the cost
    app.wsgi_app = ExecuteLane(app.wsgi_app, config.executor, access,  # type: ignore[method-assign]
                               config.audit, redact, config.tracer_provider,
                               config.max_body_bytes)
    return app
