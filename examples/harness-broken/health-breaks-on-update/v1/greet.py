"""Greets by name."""


def run(inputs, ctx):
    return {"greeting": f"Hello, {inputs.get('name', 'world')}"}


def health(ctx):
    return run({"name": "probe"}, ctx)["greeting"] == "Hello, probe"
