"""Without the `localnet` extra (moto, flask, flask-cors) the demo parts say which extra to install."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vidaio.extras import MissingExtra, require_extra

# Makes one localnet dependency unimportable in a child process, as in a production install.
BLOCK = "import sys; sys.modules['{mod}'] = None\n"


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("mod", ["moto", "flask_cors"])
def test_vidaio_localnet_without_the_extra_says_which_to_install(mod: str) -> None:
    proc = _run(BLOCK.format(mod=mod) + "from vidaio.cli.main import app\napp(['localnet', '--rounds', '1'])")
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "'localnet' extra" in lines[0] and "vidaio-subnet[localnet]" in lines[0] and mod in lines[0]
    assert "Traceback" not in proc.stderr


def test_importing_the_local_s3_helper_without_the_extra_names_it() -> None:
    proc = _run(
        BLOCK.format(mod="moto")
        + "from vidaio.extras import MissingExtra\n"
        + "try:\n    import vidaio.localnet.runner\nexcept MissingExtra as e:\n    print(e)\n    raise SystemExit(3)\n"
    )
    assert proc.returncode == 3, proc.stderr
    assert "vidaio-subnet[localnet]" in proc.stdout


def test_require_extra_passes_when_installed_and_names_every_missing_module() -> None:
    require_extra("localnet", ("json", "sqlite3"), "x")  # present: no error
    with pytest.raises(MissingExtra, match=r"'demo' extra \(missing: no_such_mod_a, no_such_mod_b\)"):
        require_extra("demo", ("json", "no_such_mod_a", "no_such_mod_b"), "the demo")
