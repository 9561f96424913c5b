"""Greets by name; 1.1.0 reads its greeting from a template file it forgot to ship."""

from pathlib import Path

TEMPLATE = Path(__file__).with_name("greeting.txt")


def run(inputs, ctx):
    return {"greeting": f"Hello, {inputs.get('name', 'world')}"}


def health(ctx):
    return TEMPLATE.is_file()  # the file is not in the package: unhealthy after every update
