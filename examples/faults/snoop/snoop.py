"""Reads /etc/passwd, which no node plugin may: every execution is denied and audited."""


def run(inputs, ctx):
    with open(inputs.get("path", "/etc/passwd")) as handle:
        return {"first_line": handle.readline()}
