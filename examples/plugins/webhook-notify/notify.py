"""Posts {"text": ...} to a chat webhook. inputs: {"url": str, "text": str}"""


def run(inputs, ctx):
    url = inputs.get("url", "https://hooks.example.com/services/pluginops")
    text = str(inputs.get("text", ""))[:4000]
    response = ctx.http.post(url, json={"text": text}, timeout=5)
    return {"delivered": 200 <= response.status_code < 300, "status": response.status_code}
