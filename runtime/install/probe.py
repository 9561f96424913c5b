"""Health probe, run as its own process: `python -I -S probe.py VERSION_DIR ENTRYPOINT`.

Standard library only (it runs without site-packages, so it starts in ~15 ms). Imports the entry
module from the plugin folder, checks the entry function exists, calls `health(ctx)` when the
module defines it, and prints one JSON line: {"healthy": bool, "detail": str}.
"""

from __future__ import annotations

import importlib
import json
import sys
import tempfile
import traceback


class _Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def _add(self, level: str, message: object, *args: object) -> None:
        text = str(message) % args if args else str(message)
        self.lines.append(f"{level} {text}")

    def debug(self, message: object, *args: object) -> None:
        self._add("DEBUG", message, *args)

    def info(self, message: object, *args: object) -> None:
        self._add("INFO", message, *args)

    def warning(self, message: object, *args: object) -> None:
        self._add("WARNING", message, *args)

    def error(self, message: object, *args: object) -> None:
        self._add("ERROR", message, *args)


class _HealthContext:
    """What a plugin's health hook may use: a logger and a scratch folder."""

    def __init__(self, scratch: str) -> None:
        self.log = _Log()
        self.scratch = scratch


def main() -> dict[str, object]:
    version_dir, entrypoint = sys.argv[1], sys.argv[2]
    module_name, function_name = entrypoint.split(":")
    sys.path.insert(0, version_dir)
    sys.dont_write_bytecode = True
    try:
        module = importlib.import_module(module_name)
        function = getattr(module, function_name, None)
        if not callable(function):
            return {"healthy": False, "detail": f"{entrypoint} is not a function"}
        hook = getattr(module, "health", None)
        if hook is None:
            return {"healthy": True, "detail": "imported cleanly (no health hook)"}
        with tempfile.TemporaryDirectory() as scratch:
            ok = hook(_HealthContext(scratch))
        return {"healthy": bool(ok), "detail": "health hook returned " + repr(ok)[:200]}
    except BaseException as exc:  # the probe reports every failure as data
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return {"healthy": False, "detail": last[:500]}


if __name__ == "__main__":
    result = main()
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    sys.exit(0 if result["healthy"] else 1)
