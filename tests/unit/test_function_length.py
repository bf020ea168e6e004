"""Functions of one job: none in functions/ runs over 60 lines (a longer one is several steps, each with a name)."""

from __future__ import annotations

import ast
from pathlib import Path

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
MAX_LINES = 60


def test_no_function_in_the_service_is_longer_than_60_lines():
    too_long = []
    for path in sorted(FUNCTIONS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_LINES:
                    too_long.append(f"{path.relative_to(FUNCTIONS)}:{node.lineno} {node.name} ({lines} lines)")

    assert not too_long, "split these by what their steps do:\n" + "\n".join(too_long)
