"""`pluginops token create | list | revoke`: API tokens for `pluginops serve`. The first admin is
created here, on the host: whoever can write the runtime's home is trusted to bootstrap it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from contracts.layout import Layout
from pluginops.cli import wiring
from pluginops.cli.common import emit_json, format_option, handles_errors, home_option, note
from runtime.auth.tokens import ROLES, TokenStore
from runtime.sandbox.audit import AuditLog


def _audit(home: Path, kind: str, **fields: Any) -> None:
    AuditLog(Layout(home).audit_log).event(kind, by=wiring.current_user(), **fields)


@click.group()
def token() -> None:
    """API tokens (stored hashed) with a role: viewer, operator or admin."""


@token.command("create")
@click.option("--user", required=True, help="Who the token is for.")
@click.option("--role", type=click.Choice(ROLES), required=True)
@format_option
@home_option
@handles_errors
def create(user: str, role: str, fmt: str, home: Path) -> None:
    """Create a token; it is printed once and stored only as a hash."""
    secret, info = TokenStore(home).create(user, role, wiring.current_user())
    _audit(home, "token.create", token=info.id, user=user, role=role)
    if fmt == "json":
        emit_json({"id": info.id, "user": user, "role": role, "token": secret})
    else:
        note(f"token {info.id} for {user} ({role}); it is shown once:")
        click.echo(secret)


@token.command("list")
@format_option
@home_option
@handles_errors
def list_tokens(fmt: str, home: Path) -> None:
    """Tokens by id, user and role (never the secrets)."""
    infos = TokenStore(home).list()
    if fmt == "json":
        emit_json({"tokens": [info.__dict__ for info in infos]})
        return
    for info in infos:
        state = "revoked" if info.revoked_at else "active"
        click.echo(f"{info.id}  {info.user:<20} {info.role:<9} {state}")


@token.command("revoke")
@click.argument("token_id")
@format_option
@home_option
@handles_errors
def revoke(token_id: str, fmt: str, home: Path) -> None:
    """Revoke a token at once."""
    info = TokenStore(home).revoke(token_id)
    _audit(home, "token.revoke", token=info.id, user=info.user)
    if fmt == "json":
        emit_json(info.__dict__)
    else:
        click.echo(f"revoked {info.id} ({info.user})")
