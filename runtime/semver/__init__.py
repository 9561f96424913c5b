"""node-semver ranges and SemVer 2.0.0 versions, behind one small facade.

The parsing and matching engine is PyPI's `node-semver` (module `nodesemver`); this package fixes
what it gets wrong (see `prerelease_desugar`) and turns its exceptions into values.
"""

from runtime.semver.ranges import (
    SEMVER2_PATTERN,
    InvalidRange,
    InvalidVersion,
    Version,
    host_satisfies,
    is_exact_version,
    is_semver2,
    parse_range,
    parse_version,
    satisfies,
)

__all__ = [
    "SEMVER2_PATTERN",
    "InvalidRange",
    "InvalidVersion",
    "Version",
    "host_satisfies",
    "is_exact_version",
    "is_semver2",
    "parse_range",
    "parse_version",
    "satisfies",
]
