"""plugin-golden-harness: `pytest --golden PLUGIN_DIR` runs the Pluginops golden harness as
tests, and its fixtures let plugin authors write their own scenarios against a real runtime."""
