"""The golden harness: a plugin's canonical lifecycle (install -> configure -> execute -> update
-> rollback -> uninstall) against a real runtime in a temporary home, with failure injected at
every install phase, the permission prompts' approve and deny paths, and every plugin API
version inside the manifest's range. `pluginops harness`, `pluginops release-gate`, the
compatibility matrix and the `plugin-golden-harness` pytest plugin all run it."""
