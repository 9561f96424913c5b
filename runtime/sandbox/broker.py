"""The host side of a plugin's `ctx` calls, for one execution: the egress broker (domain
allowlist, configurable name resolution), the metered model API (token and cost budgets per
execution and per day), and the tool allowlist with its cap on calls.

Every refusal is a `denied` reply naming operation, target and rule; the worker records it and
the execution ends `denied`.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from contracts.codes import Code
from runtime.sandbox.grants import Grants
from runtime.sandbox.metering import DailyMeter
from runtime.sandbox.settings import RuntimeSettings
from runtime.sandbox.tools import ToolBox, ToolError


class _ResolvedHTTPS(http.client.HTTPSConnection):
    """HTTPS to an address the broker resolved, verifying the certificate against the domain
    the plugin asked for (SNI and hostname check), not against the address."""

    def __init__(self, ip: str, port: int, server_name: str, timeout: float,
                 context: ssl.SSLContext) -> None:
        super().__init__(ip, port, timeout=timeout, context=context)
        self._server_name = server_name
        self._tls = context

    def connect(self) -> None:
        raw = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self._server_name)


def estimate_tokens(text: str) -> int:
    """About four characters a token: used only to refuse a call before it is made."""
    return len(text) // 4 + 1


@dataclass
class Broker:
    grants: Grants
    settings: RuntimeSettings
    meter: DailyMeter
    tools: ToolBox
    now: float = field(default_factory=time.time)
    tokens: int = 0
    tool_calls: int = 0
    model_cost_usd: float = 0.0

    def __call__(self, api: str, args: dict[str, Any]) -> dict[str, Any]:
        handler = {"http": self.http, "llm": self.llm, "tool": self.tool}.get(api)
        if handler is None:
            return {"error": {"code": Code.UNKNOWN_API, "message": f"no host API {api!r}"}}
        try:
            return handler(args)
        except (KeyError, TypeError, ValueError) as exc:
            return {"error": {"code": Code.BAD_CALL, "message": f"{api}: {exc}"}}

    def _denied(self, operation: str, target: str, rule: str) -> dict[str, Any]:
        return {"denied": {"operation": operation, "target": target[:300], "rule": rule}}

    # network, through the egress broker

    def http(self, args: dict[str, Any]) -> dict[str, Any]:
        url = urllib.parse.urlsplit(str(args["url"]))
        host = (url.hostname or "").lower()
        if url.scheme not in ("http", "https") or not host:
            return self._denied("network", str(args["url"]), "egress:http-or-https-only")
        if not self.grants.may_reach(host):
            return self._denied("network", host, f"{self.grants.profile}:network-allowlist")
        address = self.settings.egress.resolve.get(host)
        if address is None:
            port = url.port or (443 if url.scheme == "https" else 80)
            try:
                address = f"{socket.getaddrinfo(host, port)[0][4][0]}:{port}"
            except OSError as exc:
                return {"error": {"code": Code.EGRESS_RESOLVE_FAILED, "message": f"{host}: {exc}"}}
        ip, _, port_text = address.rpartition(":")
        timeout = min(float(args.get("timeout") or 10.0), self.settings.egress.timeout_s)
        conn: http.client.HTTPConnection
        if url.scheme == "https":
            context = ssl.create_default_context(cafile=self.settings.egress.ca_file)
            conn = _ResolvedHTTPS(ip, int(port_text), host, timeout, context)
        else:
            conn = http.client.HTTPConnection(ip, int(port_text), timeout=timeout)
        body: bytes | None = None
        headers = {str(k): str(v) for k, v in dict(args.get("headers") or {}).items()}
        headers["Host"] = url.netloc
        if args.get("json") is not None:
            body = json.dumps(args["json"]).encode()
            headers.setdefault("Content-Type", "application/json")
        elif args.get("data") is not None:
            body = str(args["data"]).encode()
        path = url.path or "/"
        if url.query:
            path += "?" + url.query
        try:
            conn.request(str(args.get("method", "GET")).upper(), path, body=body,
                         headers=headers)
            response = conn.getresponse()
            data = response.read(self.settings.egress.max_body_bytes)
        except OSError as exc:
            return {"error": {"code": Code.EGRESS_FAILED, "message": f"{host}: {exc}"}}
        finally:
            conn.close()
        return {"result": {"status": response.status, "headers": dict(response.getheaders()),
                           "body": data.decode("utf-8", errors="replace")}}

    # the model, metered

    def llm(self, args: dict[str, Any]) -> dict[str, Any]:
        budget = self.grants.budget
        prompt, max_tokens = str(args["prompt"]), int(args.get("max_tokens", 256))
        wanted = estimate_tokens(prompt) + max_tokens
        day_tokens, day_cost = self.meter.spent(self.grants.plugin, self.now)
        if self.tokens + wanted > budget["tokens_per_execution"]:
            return self._denied("tokens", f"{self.tokens + wanted} tokens",
                                "budget.tokens_per_execution")
        if day_tokens + self.tokens + wanted > budget["tokens_per_day"]:
            return self._denied("tokens", f"{day_tokens + self.tokens + wanted} tokens today",
                                "budget.tokens_per_day")
        price = self.settings.cost.usd_per_1k_tokens * wanted / 1000
        if self.model_cost_usd + price > budget["cost_usd_per_execution"]:
            return self._denied("cost", f"${self.model_cost_usd + price:.4f}",
                                "budget.cost_usd_per_execution")
        if day_cost + self.model_cost_usd + price > budget["cost_usd_per_day"]:
            return self._denied("cost", f"${day_cost + self.model_cost_usd + price:.4f} today",
                                "budget.cost_usd_per_day")
        model = self.settings.model
        if model is None:
            return {"error": {"code": Code.MODEL_NOT_CONFIGURED, "message":
                              "no model back-end in runtime.yaml (model.base_url)"}}
        request = urllib.request.Request(
            model.base_url.rstrip("/") + "/v1/chat/completions", method="POST",
            data=json.dumps({"model": model.model, "max_tokens": max_tokens,
                             "messages": [{"role": "user", "content": prompt}]}).encode(),
            headers={"Content-Type": "application/json", **(
                {"Authorization": f"Bearer {os.environ.get(model.api_key_env, '')}"}
                if model.api_key_env else {})})
        try:
            with urllib.request.urlopen(request, timeout=model.timeout_s) as response:
                data = json.loads(response.read(4 * 1024 * 1024))
            text = str(data["choices"][0]["message"]["content"])
            usage = data.get("usage") or {}
            used_in = int(usage.get("prompt_tokens", estimate_tokens(prompt)))
            used_out = int(usage.get("completion_tokens", estimate_tokens(text)))
        except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
            return {"error": {"code": Code.MODEL_FAILED, "message": str(exc)[:300]}}
        self.tokens += used_in + used_out
        self.model_cost_usd += self.settings.cost.usd_per_1k_tokens * (used_in + used_out) / 1000
        return {"result": {"text": text, "prompt_tokens": used_in,
                           "completion_tokens": used_out}}

    # tools

    def tool(self, args: dict[str, Any]) -> dict[str, Any]:
        name = str(args["name"])
        if name not in self.grants.tools:
            return self._denied("tool", name, f"{self.grants.profile}:tool-allowlist")
        cap = int(self.grants.budget["tool_calls_per_execution"])
        if self.tool_calls + 1 > cap:
            return self._denied("tool", f"{name} (call {self.tool_calls + 1} of {cap})",
                                "budget.tool_calls_per_execution")
        self.tool_calls += 1
        try:
            return {"result": self.tools.call(name, dict(args.get("args") or {}))}
        except ToolError as exc:
            return {"error": {"code": exc.code, "message": str(exc)}}
