"""What every subcommand shares: `--home`, `--format`, output to the right stream, and turning
a `PluginopsError` into a structured message and its exit code."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from contracts.codes import Code
from contracts.errors import EXIT_FAILED, PluginopsError
from contracts.layout import Layout
from runtime.registry.http import HttpSource, is_url

if TYPE_CHECKING:
    from runtime.registry.index import Registry

ENV_HOME = "PLUGINOPS_HOME"
ENV_REGISTRY = "PLUGINOPS_REGISTRY"
ENV_REGISTRY_CA = "PLUGINOPS_REGISTRY_CA_FILE"
ENV_DEBUG = "PLUGINOPS_DEBUG"
DEFAULT_HOME = ".pluginops"

F = TypeVar("F", bound=Callable[..., Any])


def home_option(func: F) -> F:
    return click.option(
        "--home", type=click.Path(path_type=Path, file_okay=False), envvar=ENV_HOME,
        default=DEFAULT_HOME, show_default=True, show_envvar=True,
        help="Folder holding the runtime's state.")(func)


def format_option(func: F) -> F:
    return click.option(
        "--format", "fmt", type=click.Choice(["text", "json"]), default="text",
        show_default=True, help="json: one JSON document on stdout, logs on stderr.")(func)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))


def note(message: str) -> None:
    """Progress and logs: stderr, so stdout stays machine-readable."""
    click.echo(message, err=True)


def registry_dir(explicit: str | Path | None, home: Path, ca_file: Path | None = None
                 ) -> Path | HttpSource | None:
    """`--registry` (a folder, or the `http(s)://` URL of one a web server serves), else
    $PLUGINOPS_REGISTRY, else `<home>/registry` when it exists. An HTTPS registry's private CA:
    `ca_file`, else $PLUGINOPS_REGISTRY_CA_FILE."""
    location = str(explicit) if explicit is not None else os.environ.get(ENV_REGISTRY)
    if location:
        if is_url(location):
            ca = ca_file or (Path(os.environ[ENV_REGISTRY_CA])
                             if os.environ.get(ENV_REGISTRY_CA) else None)
            return HttpSource(location, ca)
        return Path(location)
    default = Layout(home).default_registry
    return default if default.is_dir() else None


def registry_index(explicit: str | Path | None, home: Path) -> Registry | None:
    """The index of the registry `registry_dir` finds (None when there is none)."""
    from runtime.install.environment import open_registry

    location = registry_dir(explicit, home)
    return open_registry(location, Layout(home)) if location is not None else None


def registry_folder(explicit: str | Path | None, home: Path) -> Path | None:
    """A registry that must be a folder (publishing writes one; a web server then serves it)."""
    found = registry_dir(explicit, home)
    if isinstance(found, HttpSource):
        raise PluginopsError(Code.REGISTRY_NOT_FOUND, f"{found.url} is a URL: this command "
                             "needs the registry's folder", where="--registry",
                             next_step="publish into a folder, then serve it with any static "
                                       "web server or bucket")
    return found


def registry_option(func: F) -> F:
    return click.option(
        "--registry", metavar="DIR|URL",
        help="Registry: a folder, or the http(s):// URL a web server serves it at (default: "
             "$PLUGINOPS_REGISTRY, then <home>/registry).")(func)


def report_error(err: PluginopsError, fmt: str) -> None:
    if fmt == "json":
        emit_json({"error": err.to_dict()})
        return
    where = f" {err.where}:" if err.where else ""
    click.echo(f"error[{err.code}]{where} {err.message}", err=True)
    if err.next_step:
        click.echo(f"  next step: {err.next_step}", err=True)


def handles_errors(func: F) -> F:
    """Every PluginopsError ends the command with its message and exit code; nothing else
    escapes as a traceback unless PLUGINOPS_DEBUG is set."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        fmt = kwargs.get("fmt", "text")
        try:
            return func(*args, **kwargs)
        except PluginopsError as err:
            report_error(err, fmt)
            sys.exit(err.exit_code)
        except (click.exceptions.Exit, click.ClickException, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get(ENV_DEBUG):
                raise
            report_error(PluginopsError(
                Code.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}", exit_code=EXIT_FAILED,
                next_step=f"this is a bug: rerun with {ENV_DEBUG}=1 and report the traceback"),
                fmt)
            sys.exit(EXIT_FAILED)

    return wrapper  # type: ignore[return-value]
