"""A short soak of a real `pluginops serve --processes 3` (bench/soak_bench.py, which runs for ten
minutes by default): executions with a dying worker, a slow plugin, a memory hog and an update
then a rollback mixed in; no execution lost or counted twice across the processes, every fault
where the docs put it, memory flat after warm-up. Without ApacheBench's bulk, which would take
both cores from the tests beside it, and with the rate not judged (a test does not time): `make
soak` does both."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def test_a_short_soak_passes_every_check() -> None:
    done = subprocess.run([sys.executable, str(REPO / "bench" / "soak_bench.py"),
                           "--seconds", "10", "--clients", "4", "--bulk-clients", "0",
                           "--target", "0"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and done.stdout.rstrip().endswith("soak: passed"), \
        done.stdout[-3000:] + done.stderr[-3000:]
    assert "FAIL " not in done.stdout
