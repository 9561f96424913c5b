"""The `pluginops` command: one entry point, a subcommand per job (docs/architecture.md,
"The command line")."""

from __future__ import annotations

import os

import click

from contracts.version import __version__
from pluginops.cli.bake_cmd import bake
from pluginops.cli.evaluate_cmd import collect, evaluate
from pluginops.cli.fleet_cmd import fleet
from pluginops.cli.generate_cmd import generate
from pluginops.cli.harness_cmd import harness, matrix, release_gate
from pluginops.cli.host_cmd import host
from pluginops.cli.inject_cmd import inject
from pluginops.cli.install_cmd import (
    history,
    install,
    recover,
    rollback,
    status,
    uninstall,
    update,
)
from pluginops.cli.kpi_cmd import kpi
from pluginops.cli.preflight_cmd import preflight
from pluginops.cli.publish_cmd import keygen, publish
from pluginops.cli.report_cmd import report
from pluginops.cli.rules_cmd import rules
from pluginops.cli.sandbox_cmd import approvals, approve, audit, deny, policy, run
from pluginops.cli.serve_cmd import serve
from pluginops.cli.stack_cmd import sink, traffic
from pluginops.cli.token_cmd import token


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pluginops")
def cli() -> None:
    """Pluginops: plugin runtime and operations stack."""


for command in (preflight, publish, keygen, host, install, update, rollback, uninstall, recover,
                status, history, bake, run, approve, deny, approvals, audit, policy, serve,
                rules, inject, generate, collect, evaluate, report, sink, traffic, harness,
                release_gate, matrix, token, fleet, kpi):
    cli.add_command(command)


# What the runtime shares with its sandbox workers (installed packages, run folders, inputs) is
# created world-readable whatever umask the operator's shell has (a hardened 077 would hide it
# from workers under their own uids); what is private (state files, keys) is created 0600
# explicitly.
RUNTIME_UMASK = 0o022


def main() -> None:
    os.umask(RUNTIME_UMASK)
    cli(prog_name="pluginops")
