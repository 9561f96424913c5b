"""Every preflight finding code, once: its default severity, what it means and the usual remedy.

`docs/preflight-codes.md` is generated from this table (`pluginops generate`), and a test fails
when it is stale or when a code is emitted that is not listed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class CodeInfo:
    code: str
    severity: Severity
    meaning: str
    remedy: str


E, W, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO

_TABLE = (
    CodeInfo("MANIFEST_UNREADABLE", E, "The manifest file does not exist or cannot be read.",
             "Pass a plugin folder holding `plugin.json`, or the path of the manifest itself."),
    CodeInfo("MANIFEST_TOO_LARGE", E, "The manifest is larger than the 256 KiB cap.",
             "Keep code and data in the package; the manifest only describes the plugin."),
    CodeInfo("MANIFEST_NOT_JSON", E,
             "The manifest is not UTF-8 JSON (syntax error, binary data, duplicate keys, NaN).",
             "Fix the JSON at the line and column given; `python -m json.tool` shows the spot."),
    CodeInfo("MANIFEST_NOT_OBJECT", E, "The manifest's top level is not a JSON object.",
             "Wrap the fields in one object: `{\"name\": ..., \"version\": ...}`."),
    CodeInfo("MANIFEST_VERSION_UNSUPPORTED", E,
             "`manifest_version` names a manifest format this runtime does not know.",
             "Use one of the supported manifest versions, or upgrade the runtime."),
    CodeInfo("MANIFEST_FIELD_MISSING", E, "A required field is absent.",
             "Add the field; `schemas/plugin-manifest.schema.json` lists them."),
    CodeInfo("MANIFEST_FIELD_UNKNOWN", E, "A field the manifest format does not define.",
             "Remove it, or check its spelling against the schema."),
    CodeInfo("MANIFEST_FIELD_TYPE", E, "A field has the wrong JSON type.",
             "Give the field the type the schema names (string, integer, list, object...)."),
    CodeInfo("MANIFEST_FIELD_INVALID", E,
             "A field has the right type but a value outside what it allows.",
             "Change the value to one the message and the schema allow."),
    CodeInfo("VERSION_INVALID", E, "`version` is not a SemVer 2.0.0 version.",
             "Use MAJOR.MINOR.PATCH with optional -prerelease and +build, e.g. `1.4.0`."),
    CodeInfo("HOST_RANGE_INVALID", E, "`host` is not an npm semver range.",
             "Write a range such as `^2.3.0`, `~2.4`, `>=2.1 <4` or `2.x`."),
    CodeInfo("HOST_RANGE_UNSATISFIED", E,
             "The host's version is outside the plugin's `host` range.",
             "Use a plugin version built for this host, or upgrade the host."),
    CodeInfo("HOST_PRERELEASE", INFO,
             "The host is a prerelease; its release version was matched against `host`.",
             "Nothing to do for a test host; production hosts run releases."),
    CodeInfo("API_VERSION_INVALID", E, "`api` is not `MAJOR.MINOR`.",
             "Name the plugin API contract the plugin was built against, e.g. `4.1`."),
    CodeInfo("API_VERSION_UNSUPPORTED", E,
             "The host serves no API with the plugin's major and at least its minor.",
             "Build against an API version the host serves, or upgrade the host."),
    CodeInfo("ENTRYPOINT_INVALID", E, "`entrypoint` is not `module:function`.",
             "Name a module inside the package and a function in it, e.g. `plugin.main:run`."),
    CodeInfo("ENTRYPOINT_OUTSIDE_PACKAGE", E,
             "`entrypoint` resolves to a module outside the plugin's package.",
             "Point the entrypoint at a module shipped inside the plugin folder."),
    CodeInfo("ENTRYPOINT_NOT_FOUND", E,
             "The entrypoint's module or function is not in the package.",
             "Add the module file and define the function at its top level."),
    CodeInfo("CAPABILITY_MISSING", E, "The plugin requires a capability the host does not offer.",
             "Drop the requirement, or run on a host that offers it (`pluginops host`)."),
    CodeInfo("PERMISSION_NOT_IN_PROFILE", E,
             "A declared permission is beyond the plugin type's sandbox profile and not "
             "requested under `sandbox.elevated`.",
             "Remove the permission, or request it under `/sandbox/elevated` with a "
             "justification."),
    CodeInfo("ELEVATION_REQUESTED", W,
             "The plugin asks for a privilege beyond its type's profile: it will not be activated "
             "until an admin approves it.",
             "Ask an admin to run `pluginops approve` for the scope named."),
    CodeInfo("ELEVATION_UNMATCHED", E,
             "An elevated request names nothing that `permissions` declares.",
             "Declare the permission too, or drop the request."),
    CodeInfo("ELEVATION_UNNEEDED", W,
             "An elevated request asks for what the type's profile already grants.",
             "Drop the request: it would only add an approval step."),
    CodeInfo("DEPENDENCY_RANGE_INVALID", E, "A dependency's range is not an npm semver range.",
             "Write a range such as `^1.2.0`."),
    CodeInfo("DEPENDENCY_NOT_FOUND", E, "A dependency is not in the registry at all.",
             "Publish the dependency first, check its name, or point `--registry` elsewhere."),
    CodeInfo("DEPENDENCY_UNSATISFIABLE", E,
             "No published version of a dependency satisfies its range on this host.",
             "Widen the range, publish a matching version, or use a compatible host."),
    CodeInfo("DEPENDENCY_CONFLICT", E,
             "Two requirements on one dependency cannot both be met; the chains show who asks.",
             "Align the ranges along the chains shown, or update the plugin that pins the old "
             "one."),
    CodeInfo("DEPENDENCY_CYCLE", E, "The resolved dependencies form a cycle.",
             "Break the cycle: move the shared part into a plugin both can depend on."),
    CodeInfo("DEPENDENCIES_UNCHECKED", W,
             "The plugin has dependencies but no registry was given to resolve them.",
             "Pass `--registry DIR` (or set PLUGINOPS_REGISTRY)."),
)

CODES: dict[str, CodeInfo] = {c.code: c for c in _TABLE}


def info(code: str) -> CodeInfo:
    return CODES[code]


def render_markdown() -> str:
    """The docs table, stamped as generated."""
    lines = [
        "<!-- Generated by `pluginops generate` from runtime/preflight/codes.py. "
        "DO NOT EDIT. -->",
        "# Preflight finding codes",
        "",
        "Every finding has a stable `code`, a `severity`, the JSON Pointer `field` it concerns, a",
        "`message` and a `next_step`. A result is `ok` when it has no error (with `--strict`: no",
        "warning either).",
        "",
        "| code | severity | meaning | remedy |",
        "|---|---|---|---|",
    ]
    lines += [f"| `{c.code}` | {c.severity.value} | {c.meaning} | {c.remedy} |" for c in _TABLE]
    return "\n".join(lines) + "\n"
