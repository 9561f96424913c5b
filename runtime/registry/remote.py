"""A registry served over HTTP(S): any static web server, S3-compatible bucket or CDN serving the
folder `pluginops publish` writes (`index.json` beside the artifacts, their paths relative).

- The index is fetched with `If-None-Match` / `If-Modified-Since` from the copy cached under the
  home (`Layout.registry_cache`): an unchanged index costs a 304 and no body. The cached copy is
  replaced atomically, and only by an index that validates.
- Artifacts are downloaded by the installer (`runtime.install.fetch.download_remote`: resumed
  after a dropped connection, checked as a folder registry's).
"""

from __future__ import annotations

import http.client
import json
from pathlib import Path

from pydantic import ValidationError

from contracts.codes import Code
from contracts.errors import PluginopsError
from contracts.files import atomic_write_bytes
from runtime.registry.http import HttpSource, RegistryFailed
from runtime.registry.index import INDEX_FILE, IndexFile, Registry

MAX_INDEX_BYTES = 64 * 1024 * 1024
META_FILE = "index.meta.json"


def load_remote_registry(source: HttpSource, cache: Path) -> Registry:
    index = source.retrying(lambda: _fetch_index(source, cache))
    try:
        return Registry(cache, index, remote=source)
    except (ValidationError, ValueError) as exc:
        raise PluginopsError(Code.REGISTRY_INDEX_INVALID, "an indexed manifest is invalid: "
                             f"{str(exc)[:200]}", where=f"{source.url}/{INDEX_FILE}",
                             next_step="republish or remove the broken entry") from None


def _fetch_index(source: HttpSource, cache: Path, revalidate: bool = True) -> IndexFile:
    cached, meta_path = cache / INDEX_FILE, cache / META_FILE
    headers: dict[str, str] = {}
    meta: dict[str, str] = {}
    if revalidate and cached.is_file() and meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = {}
        if meta.get("etag"):
            headers["If-None-Match"] = meta["etag"]
        if meta.get("last_modified"):
            headers["If-Modified-Since"] = meta["last_modified"]
    with source.open(INDEX_FILE, headers) as response:
        unchanged = response.status == 304
        if unchanged:
            body = cached.read_bytes()
        else:
            body = _read_capped(response, source)
            meta = {"etag": response.headers.get("ETag") or "",
                    "last_modified": response.headers.get("Last-Modified") or ""}
    try:
        index = _validated(body, f"{source.url}/{INDEX_FILE}")
    except PluginopsError:
        if unchanged:  # the cached copy went bad: ask for the whole index again
            return _fetch_index(source, cache, revalidate=False)
        raise
    if not unchanged:
        cache.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(cached, body)
        atomic_write_bytes(meta_path, json.dumps(meta).encode())
    return index


def _read_capped(response: http.client.HTTPResponse, source: HttpSource) -> bytes:
    try:
        body = response.read(MAX_INDEX_BYTES + 1)
    except (TimeoutError, ConnectionError, http.client.HTTPException) as err:
        raise RegistryFailed(Code.REGISTRY_UNREACHABLE, f"reading the index: {err}",
                             f"{source.url}/{INDEX_FILE}") from None
    if len(body) > MAX_INDEX_BYTES:
        raise PluginopsError(Code.REGISTRY_INDEX_INVALID, f"the index is larger than "
                             f"{MAX_INDEX_BYTES} bytes", where=f"{source.url}/{INDEX_FILE}",
                             next_step="check the URL names a pluginops registry")
    return body


def _validated(body: bytes, where: str) -> IndexFile:
    try:
        return IndexFile.model_validate(json.loads(body.decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError, ValidationError) as exc:
        raise PluginopsError(Code.REGISTRY_INDEX_INVALID, "not a registry index: "
                             f"{str(exc).splitlines()[0][:200]}", where=where,
                             next_step="check the URL names the folder `pluginops publish` "
                                       "wrote") from None
