"""The floor a cost anomaly's impact must reach to be alerted: extra dollars over the episode and
its share of the plugin's spend over the reported window. Below it the anomaly is still in the
JSON and the report, marked minor.

A YAML file (`--materiality FILE`) sets the default and overrides by plugin type and by plugin
(a plugin's floor wins over its type's):

    default: {usd: 1.0, share: 0.005}
    types:
      agent: {usd: 10}
    plugins:
      nightly-export: {usd: 0.1, share: 0}
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from contracts.codes import Code
from contracts.errors import PluginopsError


@dataclass(frozen=True)
class Floor:
    usd: float = 1.0  # extra spend of the episode
    share: float = 0.005  # of the plugin's spend over the reported window


@dataclass(frozen=True)
class Materiality:
    default: Floor = field(default_factory=Floor)
    types: dict[str, Floor] = field(default_factory=dict)
    plugins: dict[str, Floor] = field(default_factory=dict)

    def floor(self, plugin: str, plugin_type: str) -> Floor:
        return self.plugins.get(plugin) or self.types.get(plugin_type) or self.default


def load_materiality(path: Path) -> Materiality:
    where = str(path)
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise _invalid(f"{path} cannot be read: {exc.strerror}", where) from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise _invalid(f"{path} is not YAML", where) from exc
    if loaded is None:
        return Materiality()
    if not isinstance(loaded, dict) or set(loaded) - {"default", "types", "plugins"}:
        raise _invalid(f"{path}: the keys are default, types and plugins", where)
    default = _floor(loaded.get("default") or {}, Floor(), f"{where}: default")
    groups = {}
    for key in ("types", "plugins"):
        entries = loaded.get(key) or {}
        if not isinstance(entries, dict):
            raise _invalid(f"{path}: {key} maps names to floors", f"{where}: {key}")
        groups[key] = {str(name): _floor(value, default, f"{where}: {key}.{name}")
                       for name, value in entries.items()}
    return Materiality(default, groups["types"], groups["plugins"])


def _floor(value: Any, base: Floor, where: str) -> Floor:
    names = {f.name for f in fields(Floor)}
    if not isinstance(value, dict) or set(value) - names:
        raise _invalid(f"{where}: a floor is a mapping of usd and share", where)
    numbers = {}
    for name in names:
        number = value.get(name, getattr(base, name))
        if isinstance(number, bool) or not isinstance(number, (int, float)) or \
                not number >= 0 or number == float("inf"):
            raise _invalid(f"{where}: {name} must be a number at or above 0, not {number!r}",
                           where)
        numbers[name] = float(number)
    return Floor(**numbers)


def _invalid(message: str, where: str) -> PluginopsError:
    return PluginopsError(Code.MATERIALITY_INVALID, message, where=where)
