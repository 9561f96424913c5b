"""Converts amounts; 1.1.0 fetches live rates, but its manifest still declares no network."""


def run(inputs, ctx):
    rates = ctx.http.get("https://rates.example.com/latest", timeout=5).json()
    rate = rates[f"{inputs['from']}_{inputs['to']}"]
    return {"amount": round(inputs["amount"] * rate, 2)}
