"""Optional parts of the distribution and the packages each needs: `pip install pluginops` gives
the runtime; `pluginops[evaluator]` and `pluginops[dashboards]` add the rest. A command that needs
an extra checks for it first, so a missing one is an `EXTRA_MISSING` error naming the extra, not
an ImportError from deep inside."""

from __future__ import annotations

import importlib.util

from contracts.codes import Code
from contracts.errors import PluginopsError

# extra -> the import names its packages provide (pyproject.toml's optional-dependencies)
EXTRAS: dict[str, tuple[str, ...]] = {
    "evaluator": ("pandas", "pyarrow", "scipy", "matplotlib"),
    "dashboards": ("grafana_foundation_sdk",),
}


def missing(extra: str) -> list[str]:
    return [name for name in EXTRAS[extra] if importlib.util.find_spec(name) is None]


def require(extra: str, command: str) -> None:
    absent = missing(extra)
    if absent:
        raise PluginopsError(
            Code.EXTRA_MISSING, f"`{command}` needs the '{extra}' extra ({', '.join(absent)} not "
            "installed)", where=command,
            next_step=f"pip install 'pluginops[{extra}]'")
