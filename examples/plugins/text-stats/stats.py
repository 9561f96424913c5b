"""Words, lines and the most frequent terms of a text. inputs: {"text": str, "top": int}"""

import collections
import re

WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")


def run(inputs, ctx):
    text = str(inputs.get("text", ""))
    words = [w.lower() for w in WORD.findall(text)]
    top = int(inputs.get("top", 5))
    return {
        "lines": text.count("\n") + (1 if text and not text.endswith("\n") else 0),
        "words": len(words),
        "top": collections.Counter(words).most_common(top),
    }
