"""Versions and npm-style ranges with node-semver's semantics.

`satisfies` answers exactly as node-semver 7's `semver.satisfies(version, range, options)` does:
held by the 224 cases of node-semver's own range fixtures in the tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache, total_ordering
from typing import Any

import nodesemver as ns

from runtime.semver.prerelease_desugar import PrereleaseRange

# The regular expression semver.org gives for SemVer 2.0.0 (no leading "v", no "=").
SEMVER2_PATTERN = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
_SEMVER2 = re.compile(SEMVER2_PATTERN)
MAX_TEXT = 256


class InvalidVersion(ValueError):
    """Not a version node-semver can read."""


class InvalidRange(ValueError):
    """Not a range node-semver can read."""


def is_semver2(text: str) -> bool:
    """True when `text` is a SemVer 2.0.0 version exactly as semver.org defines it."""
    return len(text) <= MAX_TEXT and _SEMVER2.match(text) is not None


@total_ordering
@dataclass(frozen=True)
class Version:
    """A parsed version, ordered by SemVer precedence (build metadata ignored)."""

    text: str
    _parsed: Any = field(compare=False, repr=False, hash=False)

    @property
    def release(self) -> tuple[int, int, int]:
        return (self._parsed.major, self._parsed.minor, self._parsed.patch)

    @property
    def is_prerelease(self) -> bool:
        return bool(self._parsed.prerelease)

    def without_prerelease(self) -> Version:
        return parse_version("{}.{}.{}".format(*self.release))

    def _cmp(self, other: Version) -> int:
        return int(self._parsed.compare(other._parsed))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self._cmp(other) == 0

    def __lt__(self, other: Version) -> bool:
        return self._cmp(other) < 0

    def __hash__(self) -> int:
        return hash((self.release, tuple(self._parsed.prerelease)))

    def __str__(self) -> str:
        return str(self._parsed.version)


def is_exact_version(text: str) -> bool:
    """A version written exactly as it prints: never " 1.2.0", "v1.2.0", "1.2.0\\n" or a range."""
    try:
        return str(parse_version(text)) == text
    except InvalidVersion:
        return False


@lru_cache(maxsize=65536)
def parse_version(text: str, loose: bool = False) -> Version:
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise InvalidVersion(f"not a version: {text!r}")
    try:
        return Version(text, ns.make_semver(text, loose))
    except (ValueError, TypeError) as exc:
        raise InvalidVersion(f"not a version: {text!r}") from exc


@lru_cache(maxsize=65536)
def parse_range(text: str, loose: bool = False, include_prerelease: bool = False) -> Any:
    """A compiled range; raises InvalidRange. Cached: ranges repeat across a registry."""
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise InvalidRange(f"not a range: {text!r}")
    try:
        if include_prerelease:
            return PrereleaseRange(text, loose)
        return ns.make_range(text, loose)
    except (ValueError, TypeError, IndexError) as exc:
        raise InvalidRange(f"not a range: {text!r}") from exc


def satisfies(
    version: str | Version,
    range_text: str,
    *,
    loose: bool = False,
    include_prerelease: bool = False,
) -> bool:
    """node-semver's `satisfies`: an unreadable version or range satisfies nothing."""
    if not isinstance(version, str | Version) or not isinstance(range_text, str):
        return False
    text = version.text if isinstance(version, Version) else version
    return _satisfies(text, range_text, loose, include_prerelease)


@lru_cache(maxsize=1 << 18)
def _satisfies(version: str, range_text: str, loose: bool, include_prerelease: bool) -> bool:
    # Cached: a resolver asks the same (version, range) pairs over and over, and the library's
    # comparisons work on strings.
    try:
        parsed = parse_version(version, loose)
        compiled = parse_range(range_text, loose, include_prerelease)
    except (InvalidVersion, InvalidRange):
        return False
    return bool(compiled.test(parsed._parsed, include_prerelease=include_prerelease))


def host_satisfies(host_version: str, range_text: str) -> bool:
    """Whether a host runs a plugin whose `host` range is `range_text`: node-semver's rules, and
    a prerelease host is also tried as its release (the prerelease-host policy of
    docs/preflight.md), so an RC of the host runs the plugins meant for the release it precedes.
    Preflight, the resolver, the installer and the compatibility matrix all ask this."""
    if satisfies(host_version, range_text):
        return True
    try:
        version = parse_version(host_version)
    except InvalidVersion:
        return False
    return version.is_prerelease and satisfies(version.without_prerelease(), range_text)
