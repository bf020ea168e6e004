"""The API function stays light: importing its handler loads no extraction or analysis library."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("pypdfium2", "lxml", "PIL", "python_calamine", "oxmsg", "nupunkt", "sklearn", "scipy", "numpy")


def test_importing_the_api_handler_loads_no_heavy_library():
    code = (
        "import json, sys; sys.path.insert(0, 'functions'); import data_extract.handlers.api; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
