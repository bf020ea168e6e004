"""Every package a Lambda layer ships, and everything those packages pull in, is under a permissive licence.

The service ships under Apache-2.0, so no copyleft licence (GPL, AGPL, LGPL) may reach a layer. The check walks the
installed distributions from each layer's requirements.txt through their declared dependencies and reads each one's
licence from its metadata (the SPDX ``License-Expression``, else the ``License`` field, else the trove classifiers).
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
LAYER_DIRS = sorted(path.parent for path in (REPO / "infra" / "layers").glob("*/requirements.txt"))

COPYLEFT = re.compile(r"\b(A|L)?GPL|GNU (Affero |Lesser |Library )?General Public", re.IGNORECASE)
# Dual licences where the package lets the user pick a permissive branch (read from the package's own metadata).
PERMISSIVE_CHOICE = re.compile(
    r"\b(MIT|BSD|Apache|ISC|PSF|MPL)\b[^()]*\bOR\b|\bOR\b[^()]*\b(MIT|BSD|Apache|ISC|PSF)\b"
)


def _layer_requirements(layer_dir: Path) -> list[Requirement]:
    lines = [line.strip() for line in (layer_dir / "requirements.txt").read_text(encoding="utf-8").splitlines()]
    return [Requirement(line) for line in lines if line and not line.startswith("#")]


def _licence_of(dist: metadata.Distribution) -> str:
    meta = dist.metadata
    expression = meta.get("License-Expression")
    if expression:
        return expression
    classifiers = [c for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    field = (meta.get("License") or "").strip()
    # The License field sometimes holds a whole licence text; its first line names it.
    return "; ".join(filter(None, [field.splitlines()[0] if field else "", *classifiers]))


def _closure(requirements: list[Requirement]) -> dict[str, metadata.Distribution]:
    """Installed distributions reachable from the requirements, following only dependencies that apply here."""
    environment = default_environment()
    found: dict[str, metadata.Distribution] = {}
    pending = list(requirements)
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in found:
            continue
        try:
            dist = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            pytest.fail(
                f"{requirement.name} is in a layer but not installed: `make test` installs every layer's group"
            )
        found[name] = dist
        for raw in dist.requires or []:
            dependency = Requirement(raw)
            if dependency.marker is None or dependency.marker.evaluate({**environment, "extra": ""}):
                pending.append(dependency)
    return found


@pytest.mark.parametrize("layer_dir", LAYER_DIRS, ids=lambda path: path.name)
def test_given_a_lambda_layer_when_its_dependencies_are_walked_then_none_is_under_a_copyleft_licence(layer_dir):
    distributions = _closure(_layer_requirements(layer_dir))

    offending = {}
    for name, dist in sorted(distributions.items()):
        licence = _licence_of(dist)
        assert licence, f"{name} declares no licence: check it by hand and record it here"
        if COPYLEFT.search(licence) and not PERMISSIVE_CHOICE.search(licence):
            offending[name] = licence

    assert not offending, f"copyleft packages in the {layer_dir.name} layer: {offending}"


@pytest.mark.parametrize(
    "licence",
    [
        "GPL-3.0-only",
        "LGPL-2.1-or-later",
        "AGPL-3.0",
        "License :: OSI Approved :: GNU General Public License v3 (GPLv3)",
    ],
)
def test_given_the_licence_check_when_fed_a_copyleft_expression_then_it_flags_it(licence):
    assert COPYLEFT.search(licence) and not PERMISSIVE_CHOICE.search(licence)


@pytest.mark.parametrize(
    "licence",
    [
        "MIT",
        "BSD-3-Clause",
        "Apache-2.0 OR BSD-3-Clause",
        "License :: OSI Approved :: MIT License",
        "MIT OR GPL-2.0",
    ],
)
def test_given_the_licence_check_when_fed_a_permissive_expression_then_it_passes_it(licence):
    assert not (COPYLEFT.search(licence) and not PERMISSIVE_CHOICE.search(licence))
