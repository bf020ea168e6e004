"""The API and worker dependency layers: botocore keeps the service models the functions call, and the modules a
cold start loads are the ones the layer's build compiles to bytecode (infra/layers/<group>/cold_imports.py)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STORE = REPO / "functions" / "data_extract" / "store"

# Each trimmed layer, with the handlers of the functions that carry it (template.yaml's Handler entries).
LAYERS = {
    "api": ["data_extract.handlers.api", "data_extract.handlers.notifier", "data_extract.handlers.sweeper"],
    "worker": ["data_extract.handlers.worker", "data_extract.handlers.finalize", "data_extract.handlers.dead_letter"],
}

# Prints the third-party modules loaded (those with a file under site-packages) after running the given code.
_LOADED = """
import json, sys, sysconfig
site = (sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"])
{body}
print(json.dumps(sorted(
    name for name, module in list(sys.modules.items())
    if (getattr(module, "__file__", None) or "").startswith(site) and not name.startswith("data_extract")
)))
"""


def _botocore_services(group: str) -> list[str]:
    makefile = (REPO / "infra" / "layers" / group / "Makefile").read_text(encoding="utf-8")
    match = re.search(r"^BOTOCORE_SERVICES := (.+)$", makefile, re.MULTILINE)
    assert match, f"infra/layers/{group}/Makefile names no BOTOCORE_SERVICES"
    return match.group(1).split()


def _loaded_after(body: str) -> set[str]:
    completed = subprocess.run(
        [sys.executable, "-c", _LOADED.format(body=body)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO / "functions"), "AWS_DEFAULT_REGION": "us-east-1", "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    return set(json.loads(completed.stdout.strip().splitlines()[-1]))


def test_the_store_creates_clients_only_for_services_whose_models_the_layers_keep():
    used = set()
    for path in STORE.glob("*.py"):
        used |= set(re.findall(r"\b(?:client|resource)\(\s*\"([a-z0-9-]+)\"", path.read_text(encoding="utf-8")))

    assert used, "no client() or resource() call found under functions/data_extract/store"
    for group in LAYERS:
        assert used <= set(_botocore_services(group)), group


@pytest.mark.parametrize("group", sorted(LAYERS))
def test_the_layer_build_compiles_every_module_the_handlers_load_at_import(group: str):
    script = REPO / "infra" / "layers" / group / "cold_imports.py"
    handlers = _loaded_after("\n".join(f"import {module}" for module in LAYERS[group]))
    warmed = _loaded_after(f"import runpy\nrunpy.run_path({str(script)!r})['warm']({_botocore_services(group)!r})")

    missing = sorted(handlers - warmed)
    assert not missing, f"{script.relative_to(REPO)} does not load {missing}: add them to its MODULES"
