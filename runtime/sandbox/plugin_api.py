"""What a plugin's code sees as `ctx` (docs/architecture.md, "The plugin API"): everything
beyond plain computation goes through here, and from here through the executor, which checks
the grants.

    ctx.log.info("...")                      ctx.scratch (a folder of its own)
    ctx.http.get(url) / post(url, json=...)  integrations: only to the domains granted
    ctx.llm.complete(prompt, max_tokens=..)  agents: metered against the token and cost budget
    ctx.tools.call(name, args)               agents: only allowed tools, capped in number
    ctx.inputs.read_json(name)               quality gates: the files they were given
    ctx.report.write_json(data)              quality gates: their report
    ctx.api_version                          the plugin API version served ("4.1": the highest
                                             minor of the manifest's major this host serves)
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.sandbox.guard import SandboxDenied

Call = Callable[[str, dict[str, Any]], Any]


class HostError(RuntimeError):
    """A host API failed (a tool errored, the model is not configured...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class Log:
    def __init__(self, plugin: str) -> None:
        self.plugin = plugin

    def _write(self, level: str, message: object, *args: object) -> None:
        text = str(message) % args if args else str(message)
        sys.stderr.write(f"[{self.plugin}] {level} {text}\n")

    def debug(self, message: object, *args: object) -> None:
        self._write("DEBUG", message, *args)

    def info(self, message: object, *args: object) -> None:
        self._write("INFO", message, *args)

    def warning(self, message: object, *args: object) -> None:
        self._write("WARNING", message, *args)

    def error(self, message: object, *args: object) -> None:
        self._write("ERROR", message, *args)


@dataclass(frozen=True)
class HttpResponse:
    status_code: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


class Http:
    def __init__(self, call: Call) -> None:
        self._call = call

    def request(self, method: str, url: str, *, json: Any = None, data: str | None = None,
                headers: dict[str, str] | None = None, timeout: float = 10.0) -> HttpResponse:
        reply = self._call("http", {"method": method, "url": url, "json": json, "data": data,
                                    "headers": headers or {}, "timeout": timeout})
        return HttpResponse(int(reply["status"]), dict(reply["headers"]), str(reply["body"]))

    def get(self, url: str, **kwargs: Any) -> HttpResponse:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> HttpResponse:
        return self.request("POST", url, **kwargs)


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int


class Llm:
    def __init__(self, call: Call) -> None:
        self._call = call

    def complete(self, prompt: str, max_tokens: int = 256) -> Completion:
        reply = self._call("llm", {"prompt": str(prompt), "max_tokens": int(max_tokens)})
        return Completion(str(reply["text"]), int(reply["prompt_tokens"]),
                          int(reply["completion_tokens"]))


class Tools:
    def __init__(self, call: Call) -> None:
        self._call = call

    def call(self, name: str, args: dict[str, Any] | None = None) -> Any:
        return self._call("tool", {"name": str(name), "args": args or {}})


class Inputs:
    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    def path(self, name: str) -> Path:
        if self.folder is None:
            raise SandboxDenied("this plugin type is given no input files")
        target = (self.folder / name).resolve()
        if not target.is_relative_to(self.folder.resolve()):
            raise SandboxDenied(f"{name} is outside the inputs")
        return target

    def read_text(self, name: str) -> str:
        return self.path(name).read_text(encoding="utf-8")

    def read_json(self, name: str) -> Any:
        return json.loads(self.read_text(name))


class Report:
    FILE = "report.json"

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    def write_json(self, data: Any) -> None:
        if self.folder is None:
            raise SandboxDenied("this plugin type writes no report")
        (self.folder / self.FILE).write_text(json.dumps(data, indent=2), encoding="utf-8")


class Context:
    def __init__(self, plugin: str, scratch: Path, inputs: Path | None, report: Path | None,
                 call: Call, api_version: str = "") -> None:
        self.api_version = api_version  # the plugin API version this host serves it
        self.log = Log(plugin)
        self.scratch = scratch
        self.http = Http(call)
        self.llm = Llm(call)
        self.tools = Tools(call)
        self.inputs = Inputs(inputs)
        self.report = Report(report)
