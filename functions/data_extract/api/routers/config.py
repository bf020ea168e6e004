"""Config: effective configuration and presets (one preview shape for every preset)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from data_extract import presets
from data_extract.api.deps import Authenticated, StoreDep
from data_extract.api.responses import error_responses
from data_extract.contract import PRESET_NAME_PATTERN, CurrentPreset, PresetInfo, PresetPreview, now_rfc3339
from data_extract.jobs.errors import BadRequest, NotFound

router = APIRouter(prefix="/config", tags=["config"], dependencies=[Authenticated])

PresetName = Annotated[
    str,
    Path(
        max_length=128,
        json_schema_extra={"pattern": PRESET_NAME_PATTERN},
        description="preset name: letters, digits, '_', '-' and '.', starting with a letter or digit; no '..'",
    ),
]


def _resolve(name: str) -> dict[str, Any]:
    try:
        presets.validate_preset_name(name)
        return presets.preview(name)
    except presets.InvalidPresetName as exc:
        raise BadRequest(str(exc)) from None
    except presets.PresetNotFound:
        raise NotFound(f"Preset not found: {name}") from None


@router.get(
    "/effective",
    response_model=dict[str, Any],
    summary="Effective configuration without a preset",
    responses=error_responses(401),
)
def effective() -> dict[str, Any]:
    return presets.effective_config(None)


@router.get(
    "/current-preset",
    response_model=CurrentPreset,
    summary="The preset applied by default",
    responses=error_responses(401),
)
def current_preset(store: StoreDep) -> CurrentPreset:
    return CurrentPreset(preset=store.table.get_setting("last_preset"))


@router.get("/presets", response_model=list[PresetInfo], summary="Built-in presets", responses=error_responses(401))
def list_presets() -> list[PresetInfo]:
    return [PresetInfo(**p) for p in presets.list_presets()]


@router.get(
    "/presets/{name}/preview",
    response_model=PresetPreview,
    summary="What a preset would run with",
    responses=error_responses(400, 401, 404),
)
def preview(name: PresetName) -> PresetPreview:
    return PresetPreview(**_resolve(name))


@router.post(
    "/presets/{name}/apply",
    response_model=PresetPreview,
    summary="Make a preset the default for jobs that name none",
    responses=error_responses(400, 401, 404),
)
def apply(name: PresetName, store: StoreDep) -> PresetPreview:
    resolved = _resolve(name)
    store.table.put_setting("last_preset", name, now_rfc3339())
    return PresetPreview(**resolved)
