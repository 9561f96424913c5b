"""The host side of compatibility: the host version, the plugin API versions it serves and its
capabilities. One description, read from the running runtime or from a file (`--host FILE`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from contracts.codes import Code
from contracts.errors import PluginopsError
from runtime.semver import InvalidVersion, parse_version

# What this runtime offers plugins. Bump HOST_VERSION with every release of the host platform;
# add an API version when the plugin API (the `ctx` a plugin sees) gains something.
HOST_VERSION = "2.8.0"
API_VERSIONS = ("3.2", "4.1")
CAPABILITIES = ("http", "llm", "tools", "inputs", "report", "scratch", "log")


def _version(value: str) -> str:
    try:
        parse_version(value)
    except InvalidVersion:
        raise ValueError(f"{value!r} is not a semver version") from None
    return value


class HostDescription(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    version: Annotated[str, AfterValidator(_version)]
    api: list[Annotated[str, Field(pattern=r"^\d+\.\d+$")]]
    capabilities: list[str] = Field(default_factory=list)
    sandbox: dict[str, object] | None = None  # what `pluginops host` reports; ignored by checks

    def serves_api(self, wanted: str) -> bool:
        """Same major, and a minor at least as high as the plugin was built against."""
        major, minor = (int(p) for p in wanted.split("."))
        for offered in self.api:
            o_major, o_minor = (int(p) for p in offered.split("."))
            if o_major == major and o_minor >= minor:
                return True
        return False


def negotiate_api(served: list[str] | tuple[str, ...], wanted: str) -> str | None:
    """The API version a plugin built against `wanted` is given: the highest served minor of
    its major at or above its own (None when none is served)."""
    major, minor = (int(p) for p in wanted.split("."))
    fits = [(int(m), int(n)) for m, n in (v.split(".") for v in served)
            if int(m) == major and int(n) >= minor]
    return f"{max(fits)[0]}.{max(fits)[1]}" if fits else None


def this_host() -> HostDescription:
    return HostDescription(version=HOST_VERSION, api=list(API_VERSIONS),
                           capabilities=list(CAPABILITIES))


def load_host(path: Path, version_override: str | None = None) -> HostDescription:
    """A host description file, e.g. `{"version": "2.7.1", "api": ["3.2"], "capabilities": []}`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        host = HostDescription.model_validate(data)
    except FileNotFoundError:
        raise PluginopsError(Code.HOST_FILE_INVALID, "file does not exist", where=str(path),
                             next_step="pass an existing host description file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValidationError) as exc:
        detail = str(exc).splitlines()[0][:300]
        raise PluginopsError(
            Code.HOST_FILE_INVALID, f"not a host description: {detail}", where=str(path),
            next_step='write {"version": "2.7.1", "api": ["4.1"], "capabilities": ["http"]}',
        ) from None
    return with_version(host, version_override) if version_override else host


def with_version(host: HostDescription, version: str) -> HostDescription:
    try:
        parse_version(version)
    except InvalidVersion:
        raise PluginopsError(Code.HOST_VERSION_INVALID, f"{version!r} is not a semver version",
                             where="--host-version",
                             next_step="give a version such as 2.7.1") from None
    return host.model_copy(update={"version": version})
