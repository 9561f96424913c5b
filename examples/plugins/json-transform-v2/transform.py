"""Pick, rename and default fields of a JSON record.

inputs: {"record": {...}, "fields": {"out_name": "in.path", ...}, "defaults": {...}}
"""


def _lookup(record, dotted):
    value = record
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def run(inputs, ctx):
    record = inputs.get("record", {})
    fields = inputs.get("fields") or {key: key for key in record}
    defaults = inputs.get("defaults", {})
    out = {}
    for name, path in fields.items():
        value = _lookup(record, path)
        out[name] = defaults.get(name) if value is None else value
    ctx.log.info("transformed %d fields", len(out))
    return {"record": out}


def health(ctx):
    return run({"record": {"a": {"b": 1}}, "fields": {"x": "a.b"}}, ctx)["record"] == {"x": 1}
