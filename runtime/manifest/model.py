"""The manifest model (docs/architecture.md, "The manifest, `plugin.json`").
Unknown fields are errors.

Field checks that have their own finding code raise `PydanticCustomError` whose type *is* that
code, so that preflight can report them under it; `runtime.preflight.codes` lists them all.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from contracts.codes import Code
from runtime.profiles import FS_ROOTS
from runtime.semver import SEMVER2_PATTERN, InvalidRange, is_semver2, parse_range

MANIFEST_VERSIONS = (1,)

NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
ENTRYPOINT_PATTERN = rf"^{_IDENT}(\.{_IDENT})*:{_IDENT}$"
API_PATTERN = r"^(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})$"
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"^(\*\.)?({_LABEL}\.)*{_LABEL}$")
_FS_PATH = re.compile(r"^(\$[a-z]+)(/[^/\0]+)*/?$|^/([^/\0]+/?)*$")


def _check_version(value: str) -> str:
    if not is_semver2(value):
        raise PydanticCustomError(
            Code.VERSION_INVALID, "'{value}' is not a SemVer 2.0.0 version", {"value": value[:80]})
    return value


def _check_range(code: str) -> AfterValidator:
    def check(value: str) -> str:
        try:
            parse_range(value)
        except InvalidRange:
            raise PydanticCustomError(
                code, "'{value}' is not an npm semver range", {"value": value[:80]}) from None
        return value
    return AfterValidator(check)


def _check_api(value: str) -> str:
    if not re.match(API_PATTERN, value):
        raise PydanticCustomError(
            Code.API_VERSION_INVALID, "'{value}' is not MAJOR.MINOR", {"value": value[:80]})
    return value


def _check_entrypoint(value: str) -> str:
    if not re.match(ENTRYPOINT_PATTERN, value):
        raise PydanticCustomError(
            Code.ENTRYPOINT_INVALID, "'{value}' is not 'module:function'", {"value": value[:80]})
    return value


def _check_domain(value: str) -> str:
    if len(value) > 253 or not _DOMAIN.match(value):
        raise PydanticCustomError(
            Code.MANIFEST_FIELD_INVALID, "'{value}' is not a domain name", {"value": value[:80]})
    return value


def _check_fs_path(value: str) -> str:
    root = value.split("/", 1)[0]
    parts = value.split("/")
    if (not _FS_PATH.match(value) or ".." in parts or "." in parts
            or (root.startswith("$") and root not in FS_ROOTS)):
        raise PydanticCustomError(
            Code.MANIFEST_FIELD_INVALID,
            "'{value}' is neither an absolute path nor one under {roots}",
            {"value": value[:80], "roots": ", ".join(FS_ROOTS)})
    return value


PluginName = Annotated[str, StringConstraints(pattern=NAME_PATTERN, max_length=64)]
SemVer = Annotated[str, StringConstraints(max_length=256), AfterValidator(_check_version),
                   WithJsonSchema({"type": "string", "pattern": SEMVER2_PATTERN, "maxLength": 256,
                                   "description": "SemVer 2.0.0"})]
HostRange = Annotated[str, StringConstraints(max_length=256), _check_range(Code.HOST_RANGE_INVALID)]
DependencyRange = Annotated[
    str, StringConstraints(max_length=256), _check_range(Code.DEPENDENCY_RANGE_INVALID)]
ApiVersion = Annotated[str, AfterValidator(_check_api),
                       WithJsonSchema({"type": "string", "pattern": API_PATTERN,
                                       "description": "plugin API contract, MAJOR.MINOR"})]
Entrypoint = Annotated[str, StringConstraints(max_length=256), AfterValidator(_check_entrypoint),
                       WithJsonSchema({"type": "string", "pattern": ENTRYPOINT_PATTERN,
                                       "maxLength": 256, "description": "module:function"})]
Domain = Annotated[str, AfterValidator(_check_domain)]
FsPath = Annotated[str, StringConstraints(max_length=1024), AfterValidator(_check_fs_path)]
Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._:-]*$", max_length=64)]
PluginType = Literal["node", "integration", "agent", "quality_gate"]
ElevationKind = Literal["filesystem", "network", "tool", "process", "budget"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Capabilities(_Strict):
    requires: list[Identifier] = Field(default_factory=list, max_length=64)


class FilesystemPermission(_Strict):
    path: FsPath
    mode: Literal["r", "rw"] = "r"


class Budget(_Strict):
    """Spending caps the plugin asks for; an agent's profile caps what it gets without approval."""

    tokens_per_execution: int | None = Field(default=None, ge=0)
    tokens_per_day: int | None = Field(default=None, ge=0)
    cost_usd_per_execution: float | None = Field(default=None, ge=0)
    cost_usd_per_day: float | None = Field(default=None, ge=0)
    tool_calls_per_execution: int | None = Field(default=None, ge=0)


class Permissions(_Strict):
    filesystem: list[FilesystemPermission] = Field(default_factory=list, max_length=64)
    network: list[Domain] = Field(default_factory=list, max_length=64)
    tools: list[Identifier] = Field(default_factory=list, max_length=64)
    processes: bool = False
    budget: Budget = Field(default_factory=Budget)


class ElevatedRequest(_Strict):
    kind: ElevationKind
    target: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    justification: Annotated[str, StringConstraints(min_length=10, max_length=2000)]


class Sandbox(_Strict):
    elevated: list[ElevatedRequest] = Field(default_factory=list, max_length=64)


class Manifest(_Strict):
    """A plugin's `plugin.json`."""

    manifest_version: Literal[1] = 1
    name: PluginName
    version: SemVer
    type: PluginType
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    host: HostRange
    api: ApiVersion
    entrypoint: Entrypoint
    capabilities: Capabilities = Field(default_factory=Capabilities)
    permissions: Permissions = Field(default_factory=Permissions)
    dependencies: dict[PluginName, DependencyRange] = Field(default_factory=dict, max_length=256)
    sandbox: Sandbox = Field(default_factory=Sandbox)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"
