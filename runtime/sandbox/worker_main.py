"""A sandboxed worker: one process per plugin version, kept warm, running executions one at a
time. Started as `python -I -m runtime.sandbox.worker_main CONFIG_JSON` with a scrubbed
environment; it locks itself down (rlimits, Landlock, seccomp, audit hooks), only then imports the
plugin, says `ready`, and serves `execute` messages on stdin/stdout (see `protocol`).

A layer the configuration requires but the kernel lacks is a refusal (`failed`), never a silent
downgrade.
"""

from __future__ import annotations

import importlib
import itertools
import json
import os
import resource
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any, BinaryIO

from contracts.codes import Code
from runtime.sandbox import containment, protocol
from runtime.sandbox.guard import Guard, SandboxDenied
from runtime.sandbox.guard import install as install_guard
from runtime.sandbox.plugin_api import Context, HostError

MB = 1024 * 1024
CPU_BUDGET_EXECUTIONS = 20  # RLIMIT_CPU covers this many executions; the pool recycles before


class Channel:
    def __init__(self, reader: BinaryIO, writer_fd: int) -> None:
        self.reader = reader
        self.writer_fd = writer_fd
        self.ids = itertools.count(1)

    def send(self, message: dict[str, Any]) -> None:
        data = protocol.encode(message)
        view = memoryview(data)
        while view:
            written = os.write(self.writer_fd, view)
            view = view[written:]

    def receive(self) -> dict[str, Any] | None:
        line = self.reader.readline(protocol.MAX_LINE)
        return protocol.decode(line) if line else None


def apply_limits(limits: dict[str, Any]) -> None:
    memory = int(limits["memory_mb"]) * MB
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    files = int(limits["open_files"])
    resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))
    fsize = max(16 * MB, 16 * int(limits["output_bytes"]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails, it does not kill
    cpu = int(float(limits["cpu_seconds"]) * CPU_BUDGET_EXECUTIONS) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))


class IdentityUnreachable(OSError):
    """The worker's uid cannot reach a path it needs (a private folder on the way)."""


def lock_down(config: dict[str, Any]) -> list[str]:
    layers = list(config["layers"])
    active = []
    # Everything the lock-down needs is imported first: Landlock hides the source tree.
    from runtime.sandbox import landlock, privileges, seccomp

    if "seccomp" in layers:
        import pyseccomp  # noqa: F401
    identity = config.get("identity")
    if identity is not None:  # first: the limits below bind only on an unprivileged process
        privileges.drop(int(identity["uid"]), int(identity["gid"]))
        os.umask(0o077)
        active.append("identity")
        blocked = privileges.unreachable([Path(p) for p in config["read_paths"]],
                                         [Path(p) for p in config["write_paths"]])
        if blocked is not None:
            raise IdentityUnreachable(blocked)
    if "rlimits" in layers:
        apply_limits(config["limits"])
        if identity is not None:
            privileges.cap_tasks(int(identity["tasks"]))
        active.append("rlimits")
    if "landlock" in layers:
        landlock.restrict([Path(p) for p in config["read_paths"]],
                          [Path(p) for p in config["write_paths"]])
        active.append("landlock")
    if "seccomp" in layers:
        seccomp.install(no_network=True, no_processes=not config["processes"])
        active.append("seccomp")
    for name in ("subprocess", "_posixsubprocess", "pyseccomp", "ctypes", "_ctypes",
                 "ctypes.util", "runtime.sandbox.landlock", "runtime.sandbox.seccomp",
                 "runtime.sandbox.containment", "runtime.sandbox.privileges"):
        sys.modules.pop(name, None)
    return active


def classify(guard: Guard, output: Any, limit: int) -> dict[str, Any]:
    if guard.denials:
        first = guard.denials[0]
        return {"outcome": "denied", "error": {"type": "SandboxDenied",
                                               "message": f"{first['operation']} "
                                                          f"{first['target']} denied"}}
    if not isinstance(output, dict):
        return {"outcome": "error", "error": {"type": "OutputInvalid", "message":
                                              f"returned {type(output).__name__}, not a dict"}}
    try:
        size = len(json.dumps(output))
    except (TypeError, ValueError) as exc:
        return {"outcome": "error", "error": {"type": "OutputInvalid",
                                              "message": f"not JSON: {exc}"}}
    if size > limit:
        guard.denials.append({"operation": "output", "target": f"{size} bytes",
                              "rule": "limits.output_bytes"})
        return {"outcome": "denied", "error": {"type": "OutputTooLarge",
                                               "message": f"{size} bytes > {limit}"}}
    return {"outcome": "success", "output": output}


def run_one(guard: Guard, function: Any, ctx: Context, inputs: Any,
            output_limit: int) -> dict[str, Any]:
    guard.denials = []
    # The executing thread's CPU clock, in nanoseconds. Not the process clock: once RLIMIT_CPU
    # arms the kernel's process CPU timer, that clock (like getrusage) advances only at
    # scheduler ticks, and sub-millisecond executions would meter as 0 or a whole tick.
    # Threads a plugin starts itself are not metered; the CPU rlimit still bounds them.
    before = time.thread_time()
    try:
        with guard.watching():
            output = function(inputs, ctx)
        result = classify(guard, output, output_limit)
    except MemoryError:
        guard.denials.append({"operation": "memory", "target": "address space",
                              "rule": "limits.memory_mb"})
        result = {"outcome": "denied", "error": {"type": "MemoryError",
                                                 "message": "memory limit reached"}}
    except PermissionError as exc:
        if not guard.denials:  # stopped by the kernel (Landlock or seccomp), not the hooks
            guard.denials.append({"operation": "kernel", "target": str(exc)[:300],
                                  "rule": "landlock/seccomp"})
        result = {"outcome": "denied", "error": {"type": type(exc).__name__,
                                                 "message": str(exc)[:1000]}}
    except HostError as exc:
        result = {"outcome": "error", "error": {"type": exc.code, "message": str(exc)[:1000]}}
    except (Exception, SystemExit) as exc:  # the plugin's failure is data; the worker lives on
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        result = {"outcome": "error", "error": {"type": type(exc).__name__,
                                                "message": last[:1000]}}
    spent = time.thread_time() - before
    total = resource.getrusage(resource.RUSAGE_SELF)
    return {**result, "denials": list(guard.denials), "cpu_s": round(spent, 9),
            "cpu_total_s": round(total.ru_utime + total.ru_stime, 6)}


def run_health(guard: Guard, module: Any, ctx: Context) -> dict[str, Any]:
    """The plugin's `health(ctx)` under the same guard as an execution; any denial fails it."""
    guard.denials = []
    hook = getattr(module, "health", None)
    if hook is None:
        return {"healthy": True, "detail": "imported cleanly (no health hook)", "denials": []}
    try:
        with guard.watching():
            ok = hook(ctx)
        healthy, detail = bool(ok), "health hook returned " + repr(ok)[:200]
    except PermissionError as exc:
        if not guard.denials:  # stopped by the kernel (Landlock or seccomp), not the hooks
            guard.denials.append({"operation": "kernel", "target": str(exc)[:300],
                                  "rule": "landlock/seccomp"})
        healthy, detail = False, f"{type(exc).__name__}: {str(exc)[:300]}"
    except MemoryError:
        guard.denials.append({"operation": "memory", "target": "address space",
                              "rule": "limits.memory_mb"})
        healthy, detail = False, "memory limit reached"
    except (Exception, SystemExit) as exc:  # the hook's failure is the verdict
        healthy = False
        detail = traceback.format_exception_only(type(exc), exc)[-1].strip()[:500]
    if guard.denials:
        healthy = False
    return {"healthy": healthy, "detail": detail, "denials": list(guard.denials)}


def main() -> int:
    config = json.loads(sys.argv[1])
    containment.join(config.get("cgroup"), int(config["runtime_pid"]))  # before plugin code
    channel = Channel(os.fdopen(0, "rb"), os.dup(1))
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    os.chdir(config["scratch"])
    try:
        layers = lock_down(config)
    except IdentityUnreachable as exc:
        channel.send({"type": "failed", "error": {
            "code": Code.SANDBOX_IDENTITY_UNREACHABLE, "message": str(exc)}})
        return 3
    except (OSError, ImportError) as exc:
        channel.send({"type": "failed", "error": {
            "code": Code.SANDBOX_LAYER_UNAVAILABLE, "message": f"{type(exc).__name__}: {exc}"}})
        return 3
    guard = Guard(config["profile"], tuple(config["read_paths"]),
                  tuple(config["write_paths"]), bool(config["processes"]))
    if "audit" in config["layers"]:
        install_guard(guard)
        layers.append("audit")

    def call(api: str, args: dict[str, Any]) -> Any:
        call_id = next(channel.ids)
        channel.send({"type": "call", "id": call_id, "api": api, "args": args})
        reply = channel.receive()
        if reply is None or reply.get("id") != call_id:
            raise HostError(Code.PROTOCOL, "the host did not answer")
        if "denied" in reply:
            guard.denials.append(reply["denied"])
            raise SandboxDenied(f"denied by the {config['profile']} sandbox: "
                                f"{reply['denied']['operation']} {reply['denied']['target']}")
        if "error" in reply:
            raise HostError(reply["error"]["code"], reply["error"]["message"])
        return reply["result"]

    inputs_dir = Path(config["inputs"]) if config.get("inputs") else None
    report_dir = Path(config["report"]) if config.get("report") else None
    ctx = Context(config["plugin"], Path(config["scratch"]), inputs_dir, report_dir, call,
                  config.get("api_version", ""))
    module_name, function_name = config["entrypoint"].split(":")
    sys.path.insert(0, config["package_dir"])
    sys.dont_write_bytecode = True
    try:
        with guard.watching():
            module = importlib.import_module(module_name)
            function = getattr(module, function_name)
    except BaseException as exc:
        if isinstance(exc, PermissionError) and not guard.denials:  # the kernel stopped it
            guard.denials.append({"operation": "kernel", "target": str(exc)[:300],
                                  "rule": "landlock/seccomp"})
        channel.send({"type": "failed", "error": {
            "code": Code.DENIED if guard.denials else Code.IMPORT_FAILED,
            "message": traceback.format_exception_only(type(exc), exc)[-1].strip()[:1000]},
            "denials": guard.denials})
        return 4
    channel.send({"type": "ready", "layers": layers, "pid": os.getpid()})
    limit = int(config["limits"]["output_bytes"])
    while True:
        message = channel.receive()
        if message is None or message.get("type") == "stop":
            return 0
        if message.get("type") == "health":
            channel.send({"type": "health", **run_health(guard, module, ctx)})
        elif message.get("type") == "execute":
            result = run_one(guard, function, ctx, message.get("inputs"), limit)
            channel.send({"type": "result", "id": message.get("id"), **result})


if __name__ == "__main__":
    sys.exit(main())
