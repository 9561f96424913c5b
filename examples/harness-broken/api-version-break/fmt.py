"""Formats a record as key=value pairs, in the separator style of the API it is served."""

# Written when 3.0 and 3.1 were all there was: 3.2, inside the declared range, is missing.
SEPARATORS = {"3.0": ",", "3.1": ","}


def run(inputs, ctx):
    separator = SEPARATORS[ctx.api_version]
    return {"text": separator.join(f"{k}={v}" for k, v in sorted(inputs["record"].items()))}
