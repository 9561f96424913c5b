"""Package list for setuptools (the metadata is in pyproject.toml): the project's packages,
plus two data packages mapped from top-level folders so an installed wheel has what its
commands read: `pluginops_examples` (the plugins `pluginops inject --local` publishes) and
`pluginops_schemas` (the generated JSON Schemas and OpenAPI document)."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["contracts*", "pluginops*", "runtime*", "collector*",
                                      "evaluator*", "dashboards*", "alerts*", "stack*",
                                      "fleet*"]),
              "pluginops_examples", "pluginops_schemas"],
    package_dir={"pluginops_examples": "examples", "pluginops_schemas": "schemas"},
)
