"""uv.lock installs on every platform and Python we support, proven without installing.

For Python 3.11, 3.12 and 3.13 on Linux (x86_64, aarch64) and macOS (arm64, x86_64), the
lock is exported as a PEP 751 `pylock.toml` (what `make demo` installs, and what `make test`
installs) and handed to `uv pip install --dry-run --offline --only-binary :all:` with that
`--python-version` and `--python-platform`, into an empty `--target`: uv picks each
package's wheel for that interpreter and platform from the lock's URLs, or says which
package has none. Nothing is downloaded, no interpreter of that version is needed, and
`--only-binary` means "installs without a compiler": an sdist-only package (cryptography
needs Rust) fails here as it would on a newcomer's laptop.

macOS targets: uv assumes an old macOS unless told; the lock is checked for macOS 14
(Sonoma) on both architectures, the oldest PyAV's arm64 wheels support.

Also: the lock matches pyproject.toml (`uv lock --locked`), and neither names a path of
one machine (`file://`, `/opt/`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UV = ROOT / ".tools" / "bin" / "uv"
PYTHONS = ("3.11", "3.12", "3.13")
PLATFORMS = {
    "linux-x86_64": ("x86_64-unknown-linux-gnu", None),
    "linux-aarch64": ("aarch64-unknown-linux-gnu", None),
    "macos-arm64": ("aarch64-apple-darwin", "14.0"),
    "macos-x86_64": ("x86_64-apple-darwin", "14.0"),
}
# What `make demo` installs (runtime and extras) and what `make test` installs (all groups).
SELECTIONS = {
    "demo": ["--no-dev", "--all-extras"],
    "test": ["--all-groups", "--all-extras"],
}


def _uv(*args: str, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    if not UV.exists():
        pytest.skip(f"uv is not installed at {UV.relative_to(ROOT)}: run `make install-test`")
    return subprocess.run(
        [str(UV), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "UV_NO_PROGRESS": "1", **env},
        timeout=120,
    )


@pytest.fixture(scope="module")
def pylocks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`{selection: pylock.toml}` exported from uv.lock (the file must be named so)."""
    out = {}
    for name, options in SELECTIONS.items():
        path = tmp_path_factory.mktemp(f"pylock-{name}") / "pylock.toml"
        done = _uv("export", "--frozen", "--offline", "--no-emit-project", "--quiet",
                   "--format", "pylock.toml", *options, "-o", str(path))  # fmt: skip
        assert done.returncode == 0, done.stderr
        out[name] = path
    return out


@pytest.mark.parametrize("selection", SELECTIONS)
@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("python", PYTHONS)
def test_the_lock_installs_from_wheels_on_every_supported_platform_and_python(
    pylocks: dict[str, Path], python: str, platform: str, selection: str, tmp_path: Path
) -> None:
    target, macos = PLATFORMS[platform]
    env = {"MACOSX_DEPLOYMENT_TARGET": macos} if macos else {}
    done = _uv(
        "pip", "install", "--dry-run", "--offline", "--only-binary", ":all:",
        "--python", sys.executable, "--target", str(tmp_path / "env"),
        "--python-version", python, "--python-platform", target,
        "-r", str(pylocks[selection]), **env,
    )  # fmt: skip
    lines = done.stderr.splitlines()
    if done.returncode != 0:
        why = next((line for line in lines if "error" in line.lower()), done.stderr[-400:])
        pytest.fail(f"{selection} on {platform}, Python {python}: {why}", pytrace=False)
    assert any(line.startswith("Would install") for line in lines), done.stderr


def test_the_lock_matches_pyproject() -> None:
    done = _uv("lock", "--locked", "--offline")
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("name", ["pyproject.toml", "uv.lock"])
def test_no_path_of_one_machine_in_the_install_files(name: str) -> None:
    found = [
        f"{name}:{number}: {line.strip()[:120]}"
        for number, line in enumerate((ROOT / name).read_text().splitlines(), 1)
        if "file://" in line or "/opt/" in line
    ]
    assert found == []
