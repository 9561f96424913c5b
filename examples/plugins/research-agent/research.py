"""Plans tool calls with the model, runs them through the host's tool API, and answers.

inputs: {"question": str, "max_steps": int}
"""


def run(inputs, ctx):
    question = str(inputs.get("question", ""))
    notes = []
    for _ in range(int(inputs.get("max_steps", 3))):
        plan = ctx.llm.complete(
            "Question: " + question + "\nNotes: " + "; ".join(notes)
            + "\nReply 'search: <query>', 'calc: <expression>' or 'answer: <text>'.",
            max_tokens=120,
        ).text.strip()
        verb, _, arg = plan.partition(":")
        if verb == "answer":
            return {"answer": arg.strip(), "steps": len(notes)}
        tool = {"search": "web_search", "calc": "calculator"}.get(verb)
        if tool is None:
            break
        notes.append(f"{verb}({arg.strip()}) = {ctx.tools.call(tool, {'input': arg.strip()})}")
    final = ctx.llm.complete("Answer briefly: " + question + "\n" + "\n".join(notes),
                             max_tokens=150)
    return {"answer": final.text.strip(), "steps": len(notes)}
