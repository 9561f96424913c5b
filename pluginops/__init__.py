"""The top floor of Pluginops: the `pluginops` command (`cli/`) and the composition root that
wires real collaborators into the rooms below (`cli/wiring.py`), plus the generated-file
registry (`generated.py`). Nothing below imports it (`tests/test_layers.py`)."""
