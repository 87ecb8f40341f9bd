"""deploy/ stays true: the env template lists every setting and loads, the nginx files render
and pass `nginx -t`, the systemd unit passes `systemd-analyze verify`."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import AliasChoices

from gateway.settings import Settings, load_settings
from tests.deployfiles import (
    DEPLOY,
    check_config,
    render_module,
    require_nginx,
    write_nginx_config,
)

ENV_FILE = DEPLOY / "gateway.env.example"
UNIT = DEPLOY / "systemd" / "interview-gateway@.service"


def _env_names() -> list[str]:
    names = []
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        assert isinstance(alias, AliasChoices)
        names.append(str(alias.choices[0]))
    return names


def test_env_template_documents_every_setting() -> None:
    text = ENV_FILE.read_text()
    listed = set(re.findall(r"^#?([A-Z][A-Z0-9_]+)=", text, flags=re.M))
    missing = [n for n in _env_names() if n not in listed]
    assert not missing, f"not in {ENV_FILE.name}: {missing}"
    assert not listed - set(_env_names()), "the template names a setting that does not exist"


def test_env_template_loads(tmp_path: Path) -> None:
    settings = load_settings(_env_file=str(ENV_FILE), data_dir=tmp_path)
    assert settings.bus == "postgres"
    assert settings.log_format == "json"


def test_render_refuses_a_missing_placeholder() -> None:
    render = render_module()
    with pytest.raises(ValueError, match="UPSTREAM"):
        render.render("listen {{LISTEN}}; {{UPSTREAM}}", {"LISTEN": "80"})


def test_nginx_config_renders_and_passes_nginx_t(tmp_path: Path) -> None:
    require_nginx()
    main = write_nginx_config(tmp_path, 18080, ["127.0.0.1:18081", "127.0.0.1:18082"])
    result = check_config(main)
    assert result.returncode == 0, result.stderr
    site = (tmp_path / "site.conf").read_text()
    assert "{{" not in site
    assert site.count("server 127.0.0.1:1808") == 2
    for needed in ("Upgrade $http_upgrade", "Connection $connection_upgrade", "X-Forwarded-For"):
        assert needed in site


def test_render_cli_writes_the_site() -> None:
    out = subprocess.run(
        [sys.executable, str(DEPLOY / "render.py"), "--upstream", "10.0.0.1:8081"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "server 10.0.0.1:8081 max_fails=3 fail_timeout=2s;" in out


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_unit_verifies(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "interview-gateway"
    unit = tmp_path / "interview-gateway@8081.service"
    unit.write_text(
        UNIT.read_text().replace("/opt/interview-gateway/.venv/bin/interview-gateway", str(exe))
    )
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    text = UNIT.read_text()
    for needed in ("KillSignal=SIGTERM", "TimeoutStopSec=", "Restart=on-failure", "--port %i"):
        assert needed in text
