"""The container files agree with what the service really reads (no Docker engine here)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from app.settings import Settings

ROOT = Path(__file__).parents[3]
DOCKERFILE = (ROOT / "docker" / "Dockerfile").read_text()
COMPOSE = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
SETTINGS = {f"HOTPLUG_{name.upper()}" for name in Settings.model_fields}


def test_compose_builds_the_dockerfile_from_the_repository_root() -> None:
    """The service builds docker/Dockerfile with the repository as context."""
    build = COMPOSE["services"]["hotplugd"]["build"]
    assert build == {"context": "..", "dockerfile": "docker/Dockerfile"}
    assert (ROOT / "docker" / build["context"] / build["dockerfile"]).resolve().is_file()


def test_compose_sets_only_settings_the_service_reads() -> None:
    """Every HOTPLUG_* variable given to hotplugd is a Settings field."""
    env = COMPOSE["services"]["hotplugd"]["environment"]
    assert set(env) <= SETTINGS
    assert env["HOTPLUG_DATABASE_URL"].startswith("postgresql://")
    assert "${HOTPLUG_ADMIN_TOKEN:?" in env["HOTPLUG_ADMIN_TOKEN"]


def test_compose_waits_for_a_healthy_database() -> None:
    """hotplugd starts after PostgreSQL passes its healthcheck."""
    service = COMPOSE["services"]["hotplugd"]
    assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "healthcheck" in COMPOSE["services"]["postgres"]


def test_dockerfile_env_and_port_match_settings() -> None:
    """The image's HOTPLUG_* variables are real settings and it exposes HOTPLUG_PORT."""
    names = set(re.findall(r"(HOTPLUG_[A-Z_]+)=", DOCKERFILE))
    assert names
    assert names <= SETTINGS
    port = re.search(r"HOTPLUG_PORT=(\d+)", DOCKERFILE)
    assert port is not None
    assert f"EXPOSE {port.group(1)}" in DOCKERFILE
    published = COMPOSE["services"]["hotplugd"]["ports"][0]
    assert published.endswith(f":{port.group(1)}")


def test_image_runs_the_readme_command_as_non_root_with_a_healthcheck() -> None:
    """ENTRYPOINT is `python -m app` (the README's), the user is not root, /healthz is checked."""
    assert 'ENTRYPOINT ["python", "-m", "app"]' in DOCKERFILE
    assert "python -m app" in (ROOT / "README.md").read_text()
    assert re.search(r"^USER (?!root|0\b)", DOCKERFILE, re.MULTILINE)
    assert "HEALTHCHECK" in DOCKERFILE
    assert "/healthz" in DOCKERFILE
    assert "STOPSIGNAL SIGTERM" in DOCKERFILE


def test_example_subscribers_exist() -> None:
    """The compose file's example subscribers are modules in clients/examples."""
    for name in ("slub-like", "ksm-like"):
        module = COMPOSE["services"][name]["entrypoint"][-1]
        path = ROOT / (module.replace(".", "/") + ".py")
        assert path.is_file(), path
