"""Example plugins and host descriptions, installed with the wheel as `pluginops_examples`
(the fault injector publishes the plugins and fault plugins from here)."""
