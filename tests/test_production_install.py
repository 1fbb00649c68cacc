"""A production install: the project's wheel without extras, in a fresh venv, runs the daemons' entry points.

It must import `neurons.miner` and `neurons.validator` and run `vidaio --help` without the demo/test
packages (moto, flask, flask-cors; hypothesis), and `vidaio localnet` there must say which
extra to install.

Kept cheap (about a minute, no network): the wheel is built from the sources (copied out of the
checkout first, as a clone has them) and installed with pip into a fresh `python -m venv`; its
dependencies are not downloaded again but taken from this environment's installed distributions,
restricted to exactly what `pip install .` resolves: the closure of `[project.dependencies]` under
their markers, no extra requested. A `.pth` file exposes only that closure to the fresh venv, and
`pip check` there confirms every requirement of the installed project is met by it. Everything runs
outside the repository, so nothing is imported from the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

pytestmark = [pytest.mark.slow, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "vidaio", "scoring", "services", "neurons")
DEMO_ONLY = ("moto", "flask", "flask_cors", "hypothesis")  # not pytest/ruff: pyiqa 0.1.16 requires both


def _run(cmd: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"{proc.args}: exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout


def runtime_closure(requirements: list[str]) -> dict[str, metadata.Distribution]:
    """The installed distributions `pip install .` needs: requirements without extras, recursively,
    markers evaluated for this interpreter and for the extras actually requested along the way."""
    found: dict[str, metadata.Distribution] = {}
    todo: list[tuple[Requirement, frozenset[str]]] = [(Requirement(r), frozenset({""})) for r in requirements]
    while todo:
        req, context_extras = todo.pop()
        if req.marker is not None and not any(req.marker.evaluate({"extra": e}) for e in context_extras):
            continue
        name = canonicalize_name(req.name)
        dist = metadata.distribution(req.name)  # PackageNotFoundError: this env lacks a runtime dep
        extras = frozenset({"", *req.extras})
        key = f"{name}[{','.join(sorted(extras - {''}))}]"
        if key in found:
            continue
        found[key] = dist
        todo.extend((Requirement(r), extras) for r in dist.requires or [])
    return {canonicalize_name(d.metadata["Name"]): d for d in found.values()}


def _site_of(dist: metadata.Distribution) -> Path:
    return Path(str(dist.locate_file(""))).resolve()


def expose(dists: dict[str, metadata.Distribution], target: Path) -> None:
    """Symlink the files of `dists` (and only theirs) into `target`: whole top-level entries where no
    other installed distribution shares them, file by file where one does (namespace packages)."""
    owners: dict[tuple[Path, str], set[str]] = {}
    for dist in metadata.distributions():
        for f in dist.files or []:
            if not f.parts or f.parts[0] in {"..", "__pycache__"} or f.parts[0].endswith(".pth"):
                continue
            owners.setdefault((_site_of(dist), f.parts[0]), set()).add(canonicalize_name(dist.metadata["Name"]))
    for name, dist in dists.items():
        site = _site_of(dist)
        for f in dist.files or []:
            if not f.parts or f.parts[0] in {"..", "__pycache__"} or f.parts[0].endswith(".pth"):
                continue
            top = f.parts[0]
            if owners.get((site, top), {name}) <= set(dists):
                link, src = target / top, site / top
            else:
                link, src = target / Path(*f.parts), site / Path(*f.parts)
            if not link.exists() and src.exists():
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(src)


@pytest.fixture(scope="module")
def prod_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("prod")
    src, wheels, deps, venv = base / "src", base / "wheels", base / "deps", base / "venv"
    # what a clone has (tracked files, plus new files not ignored): no build output, no caches
    listed = _ok(_run(["git", "ls-files", "--cached", "--others", "--exclude-standard", *SOURCES], ROOT))
    for rel in listed.splitlines():
        if (ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, src / rel)
    _ok(_run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels),
              str(src)], base))  # fmt: skip
    project = tomllib.loads((src / "pyproject.toml").read_text())["project"]
    expose(runtime_closure(project["dependencies"]), deps)
    python = getattr(sys, "_base_executable", sys.executable)  # the interpreter behind this venv
    _ok(_run([python, "-m", "venv", str(venv)], base))
    # ensurepip's old setuptools would shadow the resolved one (torch needs a newer one): pip would upgrade it
    _ok(_run([str(venv / "bin" / "python"), "-m", "pip", "uninstall", "-q", "-y", "setuptools"], base))
    purelib = _ok(_run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                       base)).strip()  # fmt: skip
    (Path(purelib) / "vidaio_runtime_deps.pth").write_text(f"{deps}\n")
    wheel = next(wheels.glob("vidaio_subnet-*.whl"))
    _ok(_run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], base))
    return venv


def test_the_runtime_closure_has_every_dependency_and_no_extra(prod_venv: Path, tmp_path: Path) -> None:
    py = str(prod_venv / "bin" / "python")
    checked = _run([py, "-m", "pip", "check"], tmp_path)  # every requirement of every visible distribution
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "vidaio-subnet" in _ok(_run([py, "-m", "pip", "list"], tmp_path))
    code = f"import importlib.util as u; print(','.join(m for m in {DEMO_ONLY!r} if u.find_spec(m)))"
    assert _ok(_run([py, "-c", code], tmp_path)).strip() == ""


def test_the_daemons_import_and_the_cli_runs(prod_venv: Path, tmp_path: Path) -> None:
    py = str(prod_venv / "bin" / "python")
    where = _ok(_run([py, "-c", "import neurons.miner, neurons.validator, vidaio; print(vidaio.__file__)"], tmp_path))
    assert str(prod_venv) in where  # the installed wheel, not the checkout
    out = _ok(_run([str(prod_venv / "bin" / "vidaio"), "--help"], tmp_path))
    assert "miner" in out and "validator" in out and "localnet" in out


def test_vidaio_localnet_says_which_extra_to_install(prod_venv: Path, tmp_path: Path) -> None:
    proc = _run([str(prod_venv / "bin" / "vidaio"), "localnet", "--rounds", "1"], tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "vidaio-subnet[localnet]" in lines[0], proc.stderr


def test_the_closure_follows_markers_and_extras() -> None:
    """The resolver above, on this environment: the extras' packages are not pulled in by the runtime."""
    runtime = runtime_closure(["boto3>=1.34", "typer>=0.12"])
    assert "boto3" in runtime and "botocore" in runtime and "typer" in runtime
    assert "moto" not in runtime and "flask" not in runtime
    with_moto = runtime_closure(["moto[s3]>=5.0"])
    assert "moto" in with_moto and "py-partiql-parser" in with_moto  # an extra's own requirement is followed
