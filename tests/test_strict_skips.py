"""`CI=true make test` turns a skipped (machine-dependent) test into a failure; locally it stays a skip.

Runs the exact pytest command line `make -n test` prints, on a two-test file: one that skips the way
the tmpfs / ncnn / pm2 tests do when the machine lacks something, one that passes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SAMPLE = '''
import pytest

def test_needs_a_tmpfs_mount():
    pytest.skip("cannot mount a tmpfs here (needs CAP_SYS_ADMIN)")

def test_plain():
    assert 1 + 1 == 2
'''


def _make_test(tmp_path: Path, **make_vars: str) -> subprocess.CompletedProcess[str]:
    sample = tmp_path / "test_sample.py"
    sample.write_text(SAMPLE)
    args = f"-p tests.strict_skips -p no:cacheprovider -q {sample}"
    extra = [f"{k}={v}" for k, v in make_vars.items()]
    # Neither the dry run nor the run may inherit the outer CI run's switches: only make_vars decide.
    env = {k: v for k, v in os.environ.items() if k not in {"VIDAIO_STRICT_SKIPS", "CI"}}
    dry = subprocess.run(["make", "-n", "-s", "test", f"PYTEST_ARGS={args}", *extra], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    line = next(ln for ln in dry.stdout.splitlines() if "-m pytest" in ln)
    return subprocess.run(["bash", "-c", line], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def test_ci_true_turns_a_skip_into_a_failure(tmp_path: Path) -> None:
    proc = _make_test(tmp_path, CI="true")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 failed, 1 passed" in proc.stdout, proc.stdout
    assert "cannot mount a tmpfs here" in proc.stdout and "VIDAIO_STRICT_SKIPS=1" in proc.stdout


def test_without_ci_the_skip_is_reported_as_a_skip(tmp_path: Path) -> None:
    proc = _make_test(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed, 1 skipped" in proc.stdout, proc.stdout
