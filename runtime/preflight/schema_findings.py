"""Turning manifest data into a `Manifest`, or into one finding per schema error."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from contracts.codes import Code
from runtime.manifest.model import MANIFEST_VERSIONS, Manifest
from runtime.preflight.codes import CODES
from runtime.preflight.findings import Finding, finding, pointer

_TYPE_ERRORS = {
    "string_type", "int_type", "float_type", "bool_type", "list_type", "dict_type",
    "model_type", "model_attributes_type", "int_from_float", "none_required",
}


def _code_for(error: dict[str, Any]) -> str:
    kind = str(error["type"])
    if kind in CODES:
        return kind
    if error["loc"] == ("manifest_version",):
        return Code.MANIFEST_VERSION_UNSUPPORTED
    if kind == "missing":
        return Code.MANIFEST_FIELD_MISSING
    if kind == "extra_forbidden":
        return Code.MANIFEST_FIELD_UNKNOWN
    if kind in _TYPE_ERRORS or kind.endswith("_type"):
        return Code.MANIFEST_FIELD_TYPE
    return Code.MANIFEST_FIELD_INVALID


def _next_step(code: str, field: str, error: dict[str, Any]) -> str:
    if code == Code.MANIFEST_FIELD_MISSING:
        return f"add `{field.rsplit('/', 1)[-1]}`; see schemas/plugin-manifest.schema.json"
    if code == Code.MANIFEST_FIELD_UNKNOWN:
        return f"remove `{field}` or fix its spelling; unknown fields are refused"
    if code == Code.MANIFEST_VERSION_UNSUPPORTED:
        supported = ", ".join(str(v) for v in MANIFEST_VERSIONS)
        return f"set manifest_version to one of: {supported}"
    return CODES[code].remedy


def validate(data: Any) -> Manifest | list[Finding]:
    if not isinstance(data, dict):
        return [finding(Code.MANIFEST_NOT_OBJECT, "",
                        f"the top level is a JSON {type(data).__name__}, not an object")]
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        found = []
        for error in exc.errors(include_url=False):
            loc = [p for p in error["loc"] if p != "[key]"]
            field = pointer(*loc)
            code = _code_for(dict(error))
            message = str(error["msg"])
            if code == Code.MANIFEST_VERSION_UNSUPPORTED:
                message = f"manifest_version {error.get('input')!r} is not supported"
            found.append(finding(code, field, message, _next_step(code, field, dict(error))))
        return found
