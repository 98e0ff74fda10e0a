"""The built wheel carries the project's templates/ and static/: installed in a fresh venv
outside the checkout, `forecast serve` answers a page, its stylesheet and htmx."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(*args: str | Path, cwd: Path, timeout: int = 600) -> None:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def _wait_for(url: str, proc: subprocess.Popen, log: Path) -> requests.Response:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"forecast serve exited:\n{log.read_text()[-3000:]}"
        try:
            return requests.get(url, timeout=10)
        except requests.ConnectionError:
            time.sleep(0.3)
    raise AssertionError(f"no answer from {url}:\n{log.read_text()[-3000:]}")


@pytest.mark.slow
def test_installed_wheel_serves_pages_css_and_htmx(tmp_path):
    dist, venv, instance = tmp_path / "dist", tmp_path / "venv", tmp_path / "instance"
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, ROOT, cwd=tmp_path)
    (wheel,) = dist.glob("forecast-*.whl")

    names = set(zipfile.ZipFile(wheel).namelist())
    packages = {str(p.parent.relative_to(ROOT)) for p in (ROOT / "forecast").rglob("__init__.py")}
    assert {p for p in packages if f"{p}/__init__.py" not in names} == set(), (
        "a package under forecast/ is missing from pyproject.toml's [tool.setuptools] packages"
    )
    for folder in ("templates", "static"):
        shipped = {
            f"forecast/{p.relative_to(ROOT)}"
            for p in (ROOT / folder).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        }
        assert shipped and shipped <= names, sorted(shipped - names)[:5]

    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    pip = venv / "bin" / "pip"
    _run(pip, "install", "-q", "-c", ROOT / "constraints.txt", wheel, cwd=tmp_path)

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FORECAST_", "PYTHON"))}
    env["FORECAST_INSTANCE_PATH"] = str(instance)
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [venv / "bin" / "forecast", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        page = _wait_for(base + "/", proc, log)
        assert page.status_code == 200, page.text[:500]
        assert "Amazon" in page.text  # the seed pack's questions, from the installed package

        css = re.search(r'<link rel="stylesheet" href="(/static/[^"]+\.css)"', page.text)
        htmx = re.search(r'<script src="(/static/vendor/htmx[^"]+\.js)"', page.text)
        assert css and htmx, page.text[:1000]
        for path in (css[1], htmx[1]):
            got = requests.get(base + path, timeout=10)
            assert got.status_code == 200, path
            assert got.content == (ROOT / path.removeprefix("/")).read_bytes(), path

        # The app reads them from the installed package, not from the checkout.
        probe = (
            "import forecast, pathlib; app = forecast.create_app();"
            "print(pathlib.Path(app.template_folder).resolve());"
            "print(pathlib.Path(app.static_folder).resolve())"
        )
        done = subprocess.run(
            [venv / "bin" / "python", "-c", probe],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        for folder in done.stdout.split():
            assert Path(folder).is_relative_to(venv), folder
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
