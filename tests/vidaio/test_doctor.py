"""`vidaio doctor` (issue 16.1) against a real local subnet (`vidaio localnet up` + `register`): 0
problems when healthy, and exactly the broken piece otherwise (wrong S3 key on an auth-checking
moto server, missing wallet, unregistered hotkey, closed port, missing PIE-APP weights)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from vidaio.doctor import Check, run_checks
from vidaio.storage.local import free_port, wait_ready

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDAIO_") or k == "VIDAIO_WEIGHTS_DIR"}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _vidaio(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vidaio.cli.main", *args], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


@pytest.fixture(scope="module")
def subnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`vidaio localnet up` in a subprocess, plus one miner registered with `localnet register`."""
    root = tmp_path_factory.mktemp("doctor")
    directory = root / "ln"
    log = (root / "up.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "vidaio.cli.main", "localnet", "up", "--dir", str(directory)],
                            cwd=root, env=_env(), stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not ((directory / "s3.json").is_file() and (directory / "validator.db").is_file()):
            assert proc.poll() is None, (root / "up.log").read_text()[-3000:]
            assert time.monotonic() < deadline, (root / "up.log").read_text()[-3000:]
            time.sleep(0.5)
        reg = _vidaio("localnet", "register", "--wallet", "alice", "--dir", str(directory), cwd=root)
        assert reg.returncode == 0, reg.stderr
        env_file = directory / "env" / "alice.env"
        assert env_file.is_file() and f"--env-file {env_file}" in reg.stdout
        yield {"root": root, "dir": directory, "miner_env": env_file, "validator_env": directory / "env" / "validator.env"}
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _problems(checks: list[Check]) -> dict[str, str]:
    return {c.name: c.detail + " -> " + c.fix for c in checks if not c.ok}


def _run(role: str, env_file: Path, **sets: str) -> list[Check]:
    overrides: dict[str, Any] = {}
    for dotted, value in sets.items():
        section, field = dotted.split("__", 1)
        overrides.setdefault(section, {})[field] = value
    return asyncio.run(run_checks(role, env_file, overrides))  # type: ignore[arg-type]


def test_healthy_subnet_has_no_problems(subnet: dict[str, Any]) -> None:
    for role, env_file in (("miner", subnet["miner_env"]), ("validator", subnet["validator_env"])):
        proc = _vidaio("doctor", role, "--env-file", str(env_file), "--json", cwd=subnet["root"])
        report = json.loads(proc.stdout)
        assert proc.returncode == 0 == report["problems"], report
        names = [c["name"] for c in report["checks"]]
        expected = ["config", "keys", "wallet", "chain", "hotkey", "storage"]
        assert names[: len(expected)] == expected and "disk" in names and "ffmpeg" in names
        assert ("port" in names) == (role == "miner") and ("db" in names) == (role == "validator")
    text = _vidaio("doctor", "miner", "--env-file", str(subnet["miner_env"]), cwd=subnet["root"])
    lines = text.stdout.strip().splitlines()
    assert text.returncode == 0 and lines[-1] == "no problems: ready to run"
    assert all(line.startswith("ok ") for line in lines[:-1]) and "simulated chain" in text.stdout


def test_missing_wallet(subnet: dict[str, Any]) -> None:
    problems = _problems(_run("miner", subnet["miner_env"], wallet__name="nobody"))
    assert list(problems) == ["wallet"] and "nobody" in problems["wallet"]


def test_unregistered_hotkey(subnet: dict[str, Any]) -> None:
    from vidaio.chain.wallets import ensure_wallet

    ensure_wallet("stranger", "default", subnet["dir"] / "wallets")  # exists, never registered
    problems = _problems(_run("miner", subnet["miner_env"], wallet__name="stranger"))
    assert list(problems) == ["hotkey"] and "not registered" in problems["hotkey"]
    assert "vidaio localnet register" in problems["hotkey"]


def test_closed_port(subnet: dict[str, Any]) -> None:
    closed = free_port()  # nothing listens there
    problems = _problems(_run("miner", subnet["miner_env"], server__external_port=str(closed)))
    assert list(problems) == ["port"] and f"127.0.0.1:{closed}" in problems["port"]


def test_missing_pieapp_weights(subnet: dict[str, Any], tmp_path: Path) -> None:
    problems = _problems(_run(
        "validator", subnet["validator_env"], validator__allow_random_pieapp_weights="false",
        metrics__allow_random_weights="false", metrics__pieapp_weights_path=str(tmp_path / "none.pth"),
    ))  # fmt: skip
    assert list(problems) == ["pieapp"]


def test_missing_db_directory(subnet: dict[str, Any], tmp_path: Path) -> None:
    problems = _problems(_run("validator", subnet["validator_env"], db__path=str(tmp_path / "typo" / "v.db")))
    assert list(problems) == ["db"] and "vidaio db upgrade" in problems["db"]


@pytest.fixture()
def auth_s3(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """A moto server that checks credentials: 3 unauthenticated set-up calls, then every request is
    authenticated against its IAM users. Yields (endpoint, access key id, secret)."""
    port = free_port()
    env = {**_env(), "INITIAL_NO_AUTH_ACTION_COUNT": "3"}
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_ready("127.0.0.1", port, 60)
        endpoint = f"http://127.0.0.1:{port}"
        iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id="setup", aws_secret_access_key="setup")  # fmt: skip
        iam.create_user(UserName="op")
        iam.put_user_policy(UserName="op", PolicyName="s3", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
        key = iam.create_access_key(UserName="op")["AccessKey"]
        yield endpoint, key["AccessKeyId"], key["SecretAccessKey"]
    finally:
        proc.terminate()
        proc.wait(20)


def test_wrong_s3_key_on_an_auth_checking_server(subnet: dict[str, Any], auth_s3: tuple[str, str, str]) -> None:
    endpoint, key_id, secret = auth_s3
    common = {"storage__endpoint_url": endpoint, "storage__access_key_id": key_id, "storage__create_bucket": "true",
              "storage__bucket": "doctor-auth"}  # fmt: skip
    # the right key is accepted by this server (moto's auth mode answers 500 to presigned GETs, a moto
    # limitation, so the control goes through boto3 directly rather than through the doctor's round trip)
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key_id,
                      aws_secret_access_key=secret)  # fmt: skip
    s3.create_bucket(Bucket="doctor-auth")
    s3.put_object(Bucket="doctor-auth", Key="control", Body=b"x")
    wrong = _problems(_run("miner", subnet["miner_env"], **common, storage__secret_access_key="wrong-" + secret))
    assert list(wrong) == ["storage"]
    text = wrong["storage"]
    assert "doctor-auth" in text and endpoint in text and key_id[:4] in text and key_id not in text
    assert "storage.secret_access_key" in text


def _daemon(module: str, env_file: Path, cwd: Path, *sets: str) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", module, "--env-file", str(env_file)]
    for item in sets:
        args += ["--set", item]
    return subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=180)


def _one_error_line(proc: subprocess.CompletedProcess[str], code: int) -> str:
    assert proc.returncode == code, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_miner_with_a_wrong_s3_key_exits_1_naming_bucket_endpoint_and_key(
    subnet: dict[str, Any], auth_s3: tuple[str, str, str]
) -> None:
    endpoint, key_id, _secret = auth_s3
    line = _one_error_line(_daemon(
        "neurons.miner", subnet["miner_env"], subnet["root"], f"storage.endpoint_url={endpoint}",
        f"storage.access_key_id={key_id}", "storage.secret_access_key=wrong", "storage.bucket=doctor-auth",
    ), 1)  # fmt: skip
    assert "storage is not usable" in line and "doctor-auth" in line and endpoint in line
    assert f"key id {key_id[:4]}" in line and "fix:" in line


def test_miner_without_a_reachable_chain_names_the_network_and_url(subnet: dict[str, Any]) -> None:
    closed = free_port()
    line = _one_error_line(_daemon(
        "neurons.miner", subnet["miner_env"], subnet["root"], "chain.backend=bittensor",
        f"chain.network=ws://127.0.0.1:{closed}", "chain.reconnect_retries=0", "chain.call_timeout_s=5",
    ), 1)  # fmt: skip
    assert f"ws://127.0.0.1:{closed}" in line and "cannot read the chain" in line and "fix:" in line


def test_validator_with_a_mistyped_db_path_exits_1_and_creates_nothing(subnet: dict[str, Any], tmp_path: Path) -> None:
    typo = tmp_path / "vidiao" / "validator.db"
    line = _one_error_line(_daemon("neurons.validator", subnet["validator_env"], subnet["root"],
                                   f"db.path={typo}"), 1)  # fmt: skip
    assert "does not exist" in line and "vidaio db upgrade" in line and not typo.parent.exists()
