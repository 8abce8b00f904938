"""lychee_engine never imports the service's web, cache or search stacks."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ("fastapi", "starlette", "redis", "opensearchpy", "uvicorn")

PROBE = """
import importlib, json, pkgutil, sys
import lychee_engine
names = [m.name for m in pkgutil.walk_packages(lychee_engine.__path__, "lychee_engine.")]
for name in names:
    importlib.import_module(name)
loaded = sorted({m.split(".")[0] for m in sys.modules})
print(json.dumps({"modules": names, "loaded": loaded}))
"""


def test_engine_imports_none_of_the_service_stacks() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=240, check=True
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"lychee_engine.batcher", "lychee_engine.minilm_backend"} <= set(report["modules"])
    assert not set(FORBIDDEN) & set(report["loaded"])
