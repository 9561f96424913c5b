"""Does the entrypoint name a function defined inside the plugin's own package?

Read with `ast` only: preflight never imports or runs plugin code.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from contracts.codes import Code
from runtime.manifest.model import Manifest
from runtime.preflight.findings import Finding, finding

MAX_MODULE_BYTES = 4 * 1024 * 1024


def _module_file(package_dir: Path, module: str) -> Path | None:
    base = package_dir.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _defines(source: bytes, function: str) -> bool:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == function:
            return True
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == function for t in node.targets):
            return True
        if isinstance(node, ast.ImportFrom | ast.Import) and any(
                (a.asname or a.name) == function for a in node.names):
            return True
    return False


def check_entrypoint(manifest: Manifest, package_dir: Path) -> list[Finding]:
    module, function = manifest.entrypoint.split(":")
    top = module.split(".")[0]
    path = _module_file(package_dir, module)
    if path is None:
        if top in sys.stdlib_module_names or top in {"runtime", "pluginops"}:
            return [finding(Code.ENTRYPOINT_OUTSIDE_PACKAGE, "/entrypoint",
                            f"'{module}' is not a module of the plugin's package but of the "
                            f"host or the standard library",
                            "ship the entry module inside the plugin folder")]
        return [finding(Code.ENTRYPOINT_NOT_FOUND, "/entrypoint",
                        f"no module '{module}' in {package_dir}",
                        f"add {module.replace('.', '/')}.py to the plugin folder, "
                        f"defining {function}(inputs, ctx)")]
    root = package_dir.resolve()
    if not path.resolve().is_relative_to(root):
        return [finding(Code.ENTRYPOINT_OUTSIDE_PACKAGE, "/entrypoint",
                        f"'{module}' resolves to {path.resolve()}, outside {root}",
                        "replace the link with the module itself")]
    if path.stat().st_size > MAX_MODULE_BYTES or not _defines(path.read_bytes(), function):
        return [finding(Code.ENTRYPOINT_NOT_FOUND, "/entrypoint",
                        f"{path.relative_to(package_dir)} does not define '{function}' at top "
                        f"level (or does not parse)",
                        f"define {function}(inputs, ctx) in {path.relative_to(package_dir)}")]
    return []
