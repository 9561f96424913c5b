def run(inputs, ctx):
    return {"echo": inputs}
