"""docker-compose.yml against the Compose Specification schema, plus the stack's own promises
(healthchecks, start order, the GPU reservation, read-only mounts, the cpu profile), and the
Dockerfiles' essentials.

The schema comes from the `check-jsonschema` dev dependency, which vendors the Compose
Specification's JSON schema; nothing is fetched at test time.
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GPU_SERVICES = ("sidecar",)
CPU_SERVICES = ("sidecar-cpu", "console-cpu")


def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _load(ROOT / "docker-compose.yml")


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema_file = resources.files("check_jsonschema") / "builtin_schemas/vendor/compose-spec.json"
    schema = json.loads(schema_file.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _errors(validator: jsonschema.protocols.Validator, document: dict[str, Any]) -> list[str]:
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(document)]


def test_compose_matches_the_compose_specification(
    compose: dict[str, Any], validator: jsonschema.protocols.Validator
) -> None:
    assert _errors(validator, compose) == []


def test_schema_check_catches_a_misspelt_key(
    compose: dict[str, Any], validator: jsonschema.protocols.Validator
) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["redis"]["helthcheck"] = broken["services"]["redis"].pop("healthcheck")
    assert any("helthcheck" in error for error in _errors(validator, broken))


def test_every_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no healthcheck"


def test_dependencies_wait_for_healthy_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dependency, rule in service.get("depends_on", {}).items():
            assert rule == {"condition": "service_healthy"}, f"{name} -> {dependency}"
            assert "healthcheck" in services[dependency]
    for sidecar in ("sidecar", "sidecar-cpu"):
        assert set(services[sidecar]["depends_on"]) == {"opensearch", "redis"}
    assert set(services["console"]["depends_on"]) == {"sidecar"}
    assert set(services["console-cpu"]["depends_on"]) == {"sidecar-cpu"}


def test_gpu_sidecar_reserves_one_nvidia_gpu(compose: dict[str, Any]) -> None:
    devices = compose["services"]["sidecar"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert "deploy" not in compose["services"]["sidecar-cpu"]


def test_sidecar_configuration(compose: dict[str, Any]) -> None:
    env = compose["services"]["sidecar"]["environment"]
    assert env["LYCHEE_ENGINE__MODEL"] == "lychee:/models/lychee-rerank-mm"
    assert env["LYCHEE_CACHE__REDIS_URL"].startswith("redis://redis:6379")
    assert env["LYCHEE_OPENSEARCH_URL"] == "http://opensearch:9200"
    assert env["LYCHEE_RULES_PATH"] == "/etc/lychee/rules.yaml"
    assert env["LYCHEE_CONFIG"] == "/etc/lychee/sidecar.yaml"
    assert env["LYCHEE_IMAGES__LOCAL_ROOT"] == "/data/catalog"
    assert env["LYCHEE_HOST"] == "0.0.0.0"  # explicit: the sidecar's own default is loopback
    assert compose["services"]["sidecar-cpu"]["environment"]["LYCHEE_ENGINE__MODEL"] == "minilm"


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> 'source:target[:mode]' for short-syntax volumes. Split from the
    right: the source may be `${VAR:-default}`, which has a colon of its own."""
    mounts = {}
    for volume in service.get("volumes", []):
        has_mode = volume.endswith((":ro", ":rw"))
        target = volume.rsplit(":", 2)[1] if has_mode else volume.rsplit(":", 1)[1]
        mounts[target] = volume
    return mounts


def test_model_and_rules_are_mounted_read_only(compose: dict[str, Any]) -> None:
    # Default sources exist in the repository, so docker never creates a directory there.
    assert (ROOT / "config/rules.example.yaml").is_file()
    assert (ROOT / "config/sidecar.yaml").is_file()
    services = compose["services"]
    for name in ("sidecar", "sidecar-cpu"):
        mounts = _mounts(services[name])
        rules = mounts["/etc/lychee/rules.yaml"]
        assert (
            rules == "${LYCHEE_RULES_FILE:-./config/rules.example.yaml}:/etc/lychee/rules.yaml:ro"
        )
        assert {"/etc/lychee/sidecar.yaml", "/data/catalog"} <= set(mounts)
        assert all(volume.endswith(":ro") for volume in mounts.values()), name
    assert _mounts(services["sidecar"])["/models/lychee-rerank-mm"].endswith(
        ":/models/lychee-rerank-mm:ro"
    )


def test_cpu_profile_holds_only_the_cpu_services(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        assert service.get("profiles", []) == (["cpu"] if name in CPU_SERVICES else []), name
    assert compose["services"]["console-cpu"]["environment"]["SIDECAR_URL"].startswith(
        "http://sidecar-cpu:"
    )


def test_opensearch_and_redis_settings(compose: dict[str, Any]) -> None:
    opensearch = compose["services"]["opensearch"]
    assert re.fullmatch(r"opensearchproject/opensearch:2\.19\.\d+", opensearch["image"])
    assert opensearch["environment"]["DISABLE_SECURITY_PLUGIN"] == "true"
    assert opensearch["environment"]["discovery.type"] == "single-node"
    assert "-Xmx" in opensearch["environment"]["OPENSEARCH_JAVA_OPTS"]
    command = " ".join(compose["services"]["redis"]["command"])
    assert "--maxmemory 512mb" in command and "--maxmemory-policy allkeys-lru" in command


def test_sidecar_dockerfile_essentials() -> None:
    text = (ROOT / "Dockerfile").read_text()
    runtime = text.rsplit("FROM ", 1)[1]  # the last stage is the image that ships
    assert runtime.startswith("nvidia/cuda:") and "-runtime-" in runtime.splitlines()[0]
    assert "ARG INSTALL_GPU_EXTRA=false" in text and '".[gpu]"' in text
    assert re.search(r"^USER (?!root)\w+", runtime, re.MULTILINE)
    assert "HEALTHCHECK" in runtime and "/healthz" in runtime
    assert 'CMD ["python", "-m", "sidecar"]' in runtime


def _pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = project["dependencies"] + project["optional-dependencies"]["console"]
    return dict(line.split("==", 1) for line in lines if "==" in line)


def test_console_dockerfile_matches_project_pins() -> None:
    text = (ROOT / "Dockerfile.console").read_text()
    pins = _pins()
    for package in ("streamlit", "httpx", "pydantic-settings"):
        assert f"{package}=={pins[package]}" in text
    assert re.search(r"^USER (?!root)\w+", text, re.MULTILINE)
    assert "/_stcore/health" in text and "console/app.py" in text
