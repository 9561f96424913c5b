"""Pick, rename and default fields of a JSON record; 2.x can also drop what stays empty.

inputs: {"record": {...}, "fields": {"out_name": "in.path", ...}, "defaults": {...},
         "drop_missing": bool}
"""

_MISSING = object()


def _lookup(record, dotted):
    value = record
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def run(inputs, ctx):
    record = inputs.get("record", {})
    fields = inputs.get("fields") or {key: key for key in record}
    defaults = inputs.get("defaults", {})
    drop_missing = bool(inputs.get("drop_missing", False))
    out = {}
    for name, path in fields.items():
        value = _lookup(record, path)
        if value is _MISSING:
            if name in defaults:
                out[name] = defaults[name]
            elif not drop_missing:
                out[name] = None
            continue
        out[name] = value
    ctx.log.info("transformed %d fields", len(out))
    return {"record": out}


def health(ctx):
    probe = run({"record": {"a": {"b": 1}}, "fields": {"x": "a.b", "y": "c"},
                 "drop_missing": True}, ctx)
    return probe["record"] == {"x": 1}
