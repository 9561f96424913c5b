"""Range desugaring under node-semver's `includePrerelease` option.

PyPI's `nodesemver` desugars `^1.2`, `~1`, `1.x` and `1 - 2` as node-semver 5 did: it never adds
the `-0` prerelease floor, and with `include_prerelease` it compares prerelease tags as equal.
node-semver 7 (the semantics our manifests promise) writes `-0` on every upper bound it makes, and,
with `includePrerelease`, on lower bounds made from a partial version or from the start of a hyphen
range too. So `2.x` means `>=2.0.0-0 <3.0.0-0`: `2.0.0-pre` is in, `3.0.0-pre` is out.

These functions are node-semver 7's `replaceCaret`, `replaceTilde`, `replaceXRange` and
`hyphenReplace` with the prerelease floor, built on the library's own regular expressions.
"""

from __future__ import annotations

import re
from typing import Any

import nodesemver as ns

FLOOR = "-0"


def _is_x(part: str | None) -> bool:
    return part is None or part == "" or part.lower() == "x" or part == "*"


def _caret(match: re.Match[str]) -> str:
    major, minor, patch, pre, _ = match.groups()
    if _is_x(major):
        return ""
    if _is_x(minor):
        return f">={major}.0.0{FLOOR} <{int(major) + 1}.0.0{FLOOR}"
    if _is_x(patch):
        upper = f"{major}.{int(minor) + 1}.0" if major == "0" else f"{int(major) + 1}.0.0"
        return f">={major}.{minor}.0{FLOOR} <{upper}{FLOOR}"
    if major == "0" and minor == "0":
        upper = f"0.0.{int(patch) + 1}"
    elif major == "0":
        upper = f"0.{int(minor) + 1}.0"
    else:
        upper = f"{int(major) + 1}.0.0"
    if pre:
        return f">={major}.{minor}.{patch}-{pre.lstrip('-')} <{upper}{FLOOR}"
    return f">={major}.{minor}.{patch} <{upper}{FLOOR}"


def _tilde(match: re.Match[str]) -> str:
    major, minor, patch, pre, _ = match.groups()
    if _is_x(major):
        return ""
    if _is_x(minor):
        return f">={major}.0.0{FLOOR} <{int(major) + 1}.0.0{FLOOR}"
    upper = f"{major}.{int(minor) + 1}.0{FLOOR}"
    if _is_x(patch):
        return f">={major}.{minor}.0{FLOOR} <{upper}"
    if pre:
        return f">={major}.{minor}.{patch}-{pre.lstrip('-')} <{upper}"
    return f">={major}.{minor}.{patch} <{upper}"


def _xrange(match: re.Match[str]) -> str:
    text = match.group(0)
    gtlt, major, minor, patch, _pre, _ = match.groups()
    x_major = _is_x(major)
    x_minor = x_major or _is_x(minor)
    x_patch = x_minor or _is_x(patch)
    if gtlt == "=" and x_patch:
        gtlt = ""
    if x_major:
        return "<0.0.0-0" if gtlt in (">", "<") else "*"
    if gtlt and x_patch:
        maj, mnr = int(major), 0 if x_minor else int(minor)
        if gtlt == ">":
            gtlt = ">="
            maj, mnr = (maj + 1, 0) if x_minor else (maj, mnr + 1)
        elif gtlt == "<=":
            gtlt = "<"
            maj, mnr = (maj + 1, mnr) if x_minor else (maj, mnr + 1)
        return f"{gtlt}{maj}.{mnr}.0{FLOOR}"
    if x_minor:
        return f">={major}.0.0{FLOOR} <{int(major) + 1}.0.0{FLOOR}"
    if x_patch:
        return f">={major}.{minor}.0{FLOOR} <{major}.{int(minor) + 1}.0{FLOOR}"
    return text


def _hyphen(match: re.Match[str]) -> str:
    (lower, l_major, l_minor, l_patch, l_pre, _lb,
     _upper, u_major, u_minor, u_patch, u_pre, _ub) = match.groups()
    if _is_x(l_major):
        low = ""
    elif _is_x(l_minor):
        low = f">={l_major}.0.0{FLOOR}"
    elif _is_x(l_patch):
        low = f">={l_major}.{l_minor}.0{FLOOR}"
    elif l_pre:
        low = f">={lower}"
    else:
        low = f">={lower}{FLOOR}"
    if _is_x(u_major):
        high = ""
    elif _is_x(u_minor):
        high = f"<{int(u_major) + 1}.0.0{FLOOR}"
    elif _is_x(u_patch):
        high = f"<{u_major}.{int(u_minor) + 1}.0{FLOOR}"
    elif u_pre:
        high = f"<={u_major}.{u_minor}.{u_patch}-{u_pre.lstrip('-')}"
    else:
        high = f"<{u_major}.{u_minor}.{int(u_patch) + 1}{FLOOR}"
    return f"{low} {high}".strip()


def _each(comp: str, pattern: re.Pattern[str], repl: Any) -> str:
    return " ".join(pattern.sub(repl, c) for c in re.split(r"\s+", comp.strip()))


def desugar_set(range_set: str, loose: bool) -> list[str]:
    """One `||`-separated part of a range, as node-semver 7's comparator strings."""
    rx = ns.regexp
    text = rx[ns.HYPHENRANGELOOSE if loose else ns.HYPHENRANGE].sub(_hyphen, range_set)
    text = rx[ns.COMPARATORTRIM].sub(ns.comparatorTrimReplace, text)
    text = rx[ns.TILDETRIM].sub(ns.tildeTrimReplace, text)
    text = rx[ns.CARETTRIM].sub(ns.caretTrimReplace, text)
    comps = []
    for comp in text.split():
        comp = _each(comp, rx[ns.CARETLOOSE if loose else ns.CARET], _caret)
        comp = _each(comp, rx[ns.TILDELOOSE if loose else ns.TILDE], _tilde)
        comp = _each(comp, rx[ns.XRANGELOOSE if loose else ns.XRANGE], _xrange)
        comp = rx[ns.STAR].sub("", comp.strip())
        comps.extend(comp.split())
    if loose:
        comps = [c for c in comps if rx[ns.COMPARATORLOOSE].search(c)]
    return comps or [""]


class PrereleaseRange(ns.Range):  # type: ignore[misc]
    """A `nodesemver.Range` whose comparators follow node-semver 7 with `includePrerelease`."""

    def parse_range(self, range_: str) -> list[Any]:
        return [ns.make_comparator(c, self.loose) for c in desugar_set(range_, self.loose)]
