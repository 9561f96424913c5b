"""Summarises a document in chunks with the host's metered model API.

inputs: {"text": str, "max_words": int}
"""

CHUNK_CHARS = 2000


def run(inputs, ctx):
    text = str(inputs.get("text", ""))
    max_words = int(inputs.get("max_words", 60))
    chunks = [text[i:i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)] or [""]
    partial = [
        ctx.llm.complete(f"Summarise in at most {max_words} words:\n{chunk}", max_tokens=200).text
        for chunk in chunks
    ]
    if len(partial) > 1:
        joined = "\n".join(partial)
        summary = ctx.llm.complete(f"Merge these summaries:\n{joined}", max_tokens=200).text
    else:
        summary = partial[0]
    return {"summary": summary, "chunks": len(chunks)}
