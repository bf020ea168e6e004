"""The layers of functions/data_extract import one way only (docs/architecture.md draws them).

Every import statement counts, the lazy ones inside functions included: a rule broken only at run time is still
broken. The API function's cold start is checked at run time elsewhere (tests/unit/test_api_cold_start.py); this
test reads the source, so it also covers code paths no test executes.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parents[2] / "functions"
PACKAGE = PACKAGE_ROOT / "data_extract"

AWS = ("boto3", "botocore", "aws_lambda_powertools", "mangum")
EXTRACTION = (
    "pypdfium2",
    "pdfminer",
    "openpyxl",
    "xlrd",
    "docx",
    "pptx",
    "lxml",
    "PIL",
    "olefile",
    "oxmsg",
    "ftfy",
    "charset_normalizer",
)
SEMANTIC = ("sklearn", "scipy", "numpy")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # what it imports, dotted and absolute
    line: int


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> list[Import]:
    found: list[Import] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                found.extend(Import(module, alias.name, node.lineno) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    target = ".".join([*base, node.module] if node.module else base)
                else:
                    target = node.module or ""
                found.append(Import(module, target, node.lineno))
                # `from data_extract import store` names a package, not a symbol: count it as that package.
                found.extend(
                    Import(module, f"{target}.{alias.name}", node.lineno)
                    for alias in node.names
                    if (PACKAGE_ROOT / Path(*target.split("."), alias.name)).is_dir()
                )
    return found


IMPORTS = _imports()


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


# Modules that break a rule on purpose, with the reason: the only exemptions there are.
EXEMPT = {
    # `data-extract local` exists to start the local stack of the source checkout it runs in.
    ("data_extract.cli.local", "infra.local"),
}


def _violations(importer: tuple[str, ...], forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()) -> list[str]:
    return [
        f"{i.module} (line {i.line}) imports {i.target}"
        for i in IMPORTS
        if _within(i.module, importer)
        and _within(i.target, forbidden)
        and not _within(i.target, allowed)
        and (i.module, i.target) not in EXEMPT
    ]


def _layer(name: str) -> str:
    return f"data_extract.{name}"


RULES = {
    # Pipeline stages are pure functions of bytes and text: no AWS, no job state, no HTTP.
    "pipeline never touches AWS, jobs, the API or the handlers": (
        (_layer("pipeline"),),
        (
            *AWS,
            _layer("store"),
            _layer("jobs"),
            _layer("api"),
            _layer("handlers"),
            _layer("settings"),
            "fastapi",
            "httpx",
        ),
        (),
    ),
    # The API function stays light for cold starts: it may name formats (the registry leaf) but never load an
    # extractor or the semantic stack.
    "api never imports extractors or the semantic stack": (
        (_layer("api"),),
        (_layer("pipeline"), _layer("handlers"), *EXTRACTION, *SEMANTIC),
        (_layer("pipeline.formats"),),
    ),
    # AWS access lives in the storage layer; the handlers only wire Powertools and Mangum around it.
    "only store talks to AWS": (
        (
            _layer("api"),
            _layer("jobs"),
            _layer("pipeline"),
            _layer("governance"),
            _layer("contract"),
            _layer("presets"),
            _layer("settings"),
            _layer("cli"),
            _layer("client"),
        ),
        ("boto3", "botocore"),
        (),
    ),
    "store knows no job logic, HTTP or pipeline": (
        (_layer("store"),),
        (_layer("jobs"), _layer("api"), _layer("handlers"), _layer("pipeline"), "fastapi"),
        (),
    ),
    "jobs never reach up into the API or the handlers": (
        (_layer("jobs"),),
        (_layer("api"), _layer("handlers"), "fastapi", "mangum"),
        (),
    ),
    "nothing imports a handler but another handler": (
        tuple(_layer(n) for n in ("api", "jobs", "pipeline", "store", "governance", "cli", "client")),
        (_layer("handlers"),),
        (),
    ),
    # The client and the command line are installed on users' machines: nothing of the server comes with them.
    "client and cli import no server code": (
        (_layer("client"), _layer("cli")),
        (
            _layer("api"),
            _layer("jobs"),
            _layer("store"),
            _layer("pipeline"),
            _layer("handlers"),
            _layer("settings"),
            *AWS,
        ),
        (),
    ),
    "the functions never import the local stack": (
        ("data_extract",),
        ("infra", "tests"),
        (),
    ),
}


@pytest.mark.parametrize("rule", RULES)
def test_layers_import_one_way(rule):
    importer, forbidden, allowed = RULES[rule]
    assert _violations(importer, forbidden, allowed) == [], rule


def test_the_reader_sees_every_module():
    # The rules above mean nothing if the walk misses the packages they name.
    modules = {i.module.split(".")[1] for i in IMPORTS if i.module.count(".")}
    assert {"api", "cli", "client", "handlers", "jobs", "pipeline", "store"} <= modules
    assert any(i.target == "boto3" and i.module.startswith(_layer("store")) for i in IMPORTS)
    assert any(i.target.startswith("pypdfium2") and i.module.startswith(_layer("pipeline")) for i in IMPORTS)


def test_a_forbidden_import_is_reported_with_its_line(monkeypatch):
    planted = [
        Import("data_extract.pipeline.chunk", "boto3", 7),
        Import("data_extract.api.app", "data_extract.pipeline.formats", 3),
    ]
    monkeypatch.setattr(__import__(__name__, fromlist=["IMPORTS"]), "IMPORTS", planted)
    assert _violations(("data_extract.pipeline",), ("boto3",)) == [
        "data_extract.pipeline.chunk (line 7) imports boto3"
    ]
    assert _violations(("data_extract.api",), ("data_extract.pipeline",), ("data_extract.pipeline.formats",)) == []


def _pipeline_import_graph() -> dict[str, set[str]]:
    """Module -> the pipeline modules it imports, counting the packages Python initialises on the way (importing
    ``pipeline.extract.pdf`` runs ``pipeline/extract/__init__.py`` first); a module's own packages are already
    initialised when it runs, so they are no edge."""
    pipeline = _layer("pipeline")
    modules = {i.module for i in IMPORTS if _within(i.module, (pipeline,))}
    graph: dict[str, set[str]] = {module: set() for module in modules}
    for i in IMPORTS:
        if i.module not in graph:
            continue
        target = i.target
        while target and target not in modules:
            target = target.rpartition(".")[0]  # a symbol of a module, or a module outside the pipeline
        while _within(target, (pipeline,)):
            if target != i.module and not i.module.startswith(target + "."):
                graph[i.module].add(target)
            target = target.rpartition(".")[0]
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def test_the_pipeline_has_no_import_cycle():
    # Detection and the extractor registry import one way: detect -> formats (the leaf registry) <- extract.
    assert _cycles(_pipeline_import_graph()) == []


def test_detection_never_reaches_the_extractors():
    graph = _pipeline_import_graph()
    reached, todo = set(), [_layer("pipeline.detect")]
    while todo:
        for target in graph.get(todo.pop(), ()):
            if target not in reached:
                reached.add(target)
                todo.append(target)
    assert _layer("pipeline.formats") in reached
    assert not any(_within(module, (_layer("pipeline.extract"),)) for module in reached), sorted(reached)


def test_a_planted_import_cycle_is_found():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
