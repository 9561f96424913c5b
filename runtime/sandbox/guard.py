"""Deny-and-log inside the worker (PEP 578 audit hooks): what the plugin's profile does not grant
is refused with a reason and recorded. Ordinary code is stopped here first; what slips past
(raw syscalls, pre-resolved pointers) meets Landlock and seccomp, which are the boundary."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


class SandboxDenied(PermissionError):
    """An operation the plugin's grants do not allow."""


WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
NETWORK_EVENTS = frozenset({"socket.__new__", "socket.connect", "socket.bind",
                            "socket.getaddrinfo", "socket.gethostbyname",
                            "socket.gethostbyaddr", "socket.sendto", "urllib.Request"})
PROCESS_EVENTS = frozenset({"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn",
                            "os.spawn", "os.fork", "os.forkpty", "pty.spawn"})
NATIVE_EVENTS = frozenset({"ctypes.dlopen", "ctypes.dlsym", "ctypes.call_function"})
SIGNAL_EVENTS = frozenset({"os.kill", "os.killpg", "signal.pthread_kill"})
WRITE_EVENTS = frozenset({"os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod",
                          "os.chown", "os.link", "os.symlink", "os.truncate", "os.utime"})
READ_EVENTS = frozenset({"os.listdir", "os.scandir"})
DENIED_IMPORTS = frozenset({"_posixsubprocess", "ctypes", "_ctypes", "pyseccomp", "pty"})


@dataclass
class Guard:
    profile: str
    read_roots: tuple[str, ...]
    write_roots: tuple[str, ...]
    processes: bool
    active: bool = False
    denials: list[dict[str, str]] = field(default_factory=list)

    def deny(self, operation: str, target: str, rule: str) -> None:
        self.denials.append({"operation": operation, "target": target[:300], "rule": rule})
        raise SandboxDenied(f"denied by the {self.profile} sandbox: {operation} {target[:200]} "
                            f"({rule})")

    def _inside(self, path: Any, roots: tuple[str, ...]) -> bool:
        if isinstance(path, int):
            return True  # an fd already opened under the rules
        try:
            real = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return False
        return any(real == root or real.startswith(root + os.sep) for root in roots)

    def hook(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.active:
            return
        if event == "open":
            path, _mode, flags = args
            writing = isinstance(flags, int) and bool(flags & WRITE_FLAGS)
            if writing and not self._inside(path, self.write_roots):
                self.deny("file.write", str(path), f"{self.profile}:filesystem")
            if not writing and not self._inside(path, self.read_roots):
                self.deny("file.read", str(path), f"{self.profile}:filesystem")
        elif event in WRITE_EVENTS:
            for path in args[:2]:
                if isinstance(path, str | bytes | os.PathLike) and \
                        not self._inside(path, self.write_roots):
                    self.deny("file.write", str(path), f"{self.profile}:filesystem")
        elif event in READ_EVENTS:
            if args and args[0] is not None and not self._inside(args[0], self.read_roots):
                self.deny("file.read", str(args[0]), f"{self.profile}:filesystem")
        elif event in NETWORK_EVENTS:
            target = ":".join(str(a) for a in args[1:3]) if event != "socket.__new__" else \
                f"family {args[1]}"
            self.deny("network", target, f"{self.profile}:network-via-broker-only")
        elif event in PROCESS_EVENTS and not self.processes:
            self.deny("process", str(args[0])[:200] if args else event,
                      f"{self.profile}:no-processes")
        elif event in NATIVE_EVENTS:
            self.deny("native-code", str(args[0]) if args else event,
                      f"{self.profile}:no-native-code")
        elif event in SIGNAL_EVENTS:
            self.deny("signal", str(args[0]) if args else event, f"{self.profile}:no-signals")
        elif event == "import" and args[0] in DENIED_IMPORTS:
            self.deny("process" if args[0] in ("_posixsubprocess", "pty") else "native-code",
                      f"import {args[0]}", f"{self.profile}:denied-module")
        elif event == "sys.addaudithook":
            self.deny("sandbox", "sys.addaudithook", f"{self.profile}:sandbox-integrity")

    @contextmanager
    def watching(self) -> Iterator[None]:
        self.active = True
        try:
            yield
        finally:
            self.active = False


def install(guard: Guard) -> None:
    sys.addaudithook(guard.hook)
