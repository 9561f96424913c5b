"""Reports the components of a status page (Statuspage v2 JSON) that are not operational.

inputs: {"url": "https://status.example.com/api/v2/components.json"}
"""


def run(inputs, ctx):
    url = inputs.get("url", "https://status.example.com/api/v2/components.json")
    response = ctx.http.get(url, timeout=5)
    components = response.json().get("components", [])
    degraded = [
        {"name": c.get("name"), "status": c.get("status")}
        for c in components
        if c.get("status") != "operational"
    ]
    return {"checked": len(components), "degraded": degraded, "ok": not degraded}
