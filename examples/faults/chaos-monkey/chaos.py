"""A node plugin that does what the fault injector asks.

inputs: {"fail": bool, "sleep_s": float, "spin_s": float}
"""

import time


def run(inputs, ctx):
    if inputs.get("sleep_s"):
        time.sleep(min(float(inputs["sleep_s"]), 20.0))
    if inputs.get("spin_s"):
        end = time.process_time() + min(float(inputs["spin_s"]), 5.0)
        while time.process_time() < end:
            pass
    if inputs.get("fail"):
        raise RuntimeError("failure injected by the fault injector")
    return {"ok": True}
