"""A non-editable install, run from another directory, finds built-in connectors and mappings."""

from __future__ import annotations

import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_install_finds_builtin_connectors_from_elsewhere(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(wheels),
            str(ROOT),
        ],
        check=True,
    )
    [wheel] = wheels.glob("smarketing_sync-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    # Dependencies come from the test environment (no network needed); the project itself only
    # from the wheel. A plain path line in a .pth does not run the editable install's finder.
    deps = [
        p
        for p in {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
        if "site-packages" in p
    ]
    (purelib / "test_deps.pth").write_text("\n".join(deps) + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            str(wheel),
        ],
        check=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMARKETING_", "PYTHONPATH"))}
    listed = subprocess.run(
        [str(venv / "bin" / "smarketing-sync"), "connectors", "list"],
        cwd=elsewhere,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "hubspot\n  origin: entry-point:smarketing_sync_connectors.hubspot:HubSpot" in listed
    assert (
        "pipedrive\n  origin: entry-point:smarketing_sync_connectors.pipedrive:Pipedrive" in listed
    )
    located = subprocess.run(
        [
            str(python),
            "-c",
            "import smarketing_sync, smarketing_sync.mapping.locate as l;"
            "print(smarketing_sync.__file__);print(l.find_mapping('hubspot', None))",
        ],
        cwd=elsewhere,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert str(venv) in located.splitlines()[0]  # the wheel, not the checkout
    assert "default_mappings/hubspot.toml" in located
    (elsewhere / "config.toml").write_text(
        '[connectors.hubspot]\n[connectors.pipedrive]\ncompany_domain = "acme"\n'
    )
    env.update(
        SMARKETING_CONNECTORS__HUBSPOT__ACCESS_TOKEN="t1",
        SMARKETING_CONNECTORS__PIPEDRIVE__API_TOKEN="t2",
    )
    checked = subprocess.run(
        [str(venv / "bin" / "smarketing-sync"), "check"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr
