"""Host tools an agent may call through `ctx.tools.call(name, args)`."""

from __future__ import annotations

import ast
import json
import operator
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from contracts.codes import Code
from runtime.sandbox.settings import ToolSettings

_OPS: dict[type, Callable[..., Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow, ast.USub: operator.neg, ast.UAdd: operator.pos,
}
MAX_EXPRESSION = 200


class ToolError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def calculator(args: dict[str, Any]) -> Any:
    """Arithmetic on numbers only: no names, no calls, bounded exponents."""
    text = str(args.get("input", args.get("expression", "")))
    if len(text) > MAX_EXPRESSION:
        raise ToolError(Code.TOOL_INPUT_INVALID, "expression too long")

    def value(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return value(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            left, right = value(node.left), value(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > 64:
                raise ToolError(Code.TOOL_INPUT_INVALID, "exponent too large")
            return _OPS[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](value(node.operand))
        raise ToolError(Code.TOOL_INPUT_INVALID, f"not arithmetic: {ast.dump(node)[:60]}")

    try:
        return value(ast.parse(text, mode="eval"))
    except (SyntaxError, ZeroDivisionError, OverflowError) as exc:
        raise ToolError(Code.TOOL_INPUT_INVALID, str(exc)) from None


class ToolBox:
    def __init__(self, settings: ToolSettings) -> None:
        self.settings = settings
        self.tools: dict[str, Callable[[dict[str, Any]], Any]] = {"calculator": calculator}
        if settings.web_search is not None:
            self.tools["web_search"] = self._web_search

    def names(self) -> list[str]:
        return sorted(self.tools)

    def call(self, name: str, args: dict[str, Any]) -> Any:
        tool = self.tools.get(name)
        if tool is None:
            raise ToolError(Code.TOOL_UNAVAILABLE, f"this host offers no tool {name!r} "
                                                f"(it offers: {', '.join(self.names())})")
        return tool(args)

    def _web_search(self, args: dict[str, Any]) -> Any:
        assert self.settings.web_search is not None
        query = urllib.parse.urlencode({"q": str(args.get("input", args.get("query", "")))})
        url = f"{self.settings.web_search.url}?{query}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return json.loads(response.read(1024 * 1024))
        except (OSError, ValueError) as exc:
            raise ToolError(Code.TOOL_FAILED, f"web_search: {exc}") from None
