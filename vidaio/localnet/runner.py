"""Run the one-machine subnet: S3 process, chain file, wallets, miners, validator, N rounds, report.

    report = run_localnet(LocalnetSettings(rounds=2, profile="tiny"), observer, stop_event)

Order: (clean or resume) -> moto S3 child -> wallets + registrations + env files -> miners
(wait for /health and their axon on chain) -> validator with `validator.max_rounds` -> follow its
DB until it exits after the last round -> stop the validator, then the miners (SIGINT, graceful),
then S3 -> read the report. `stop` (Ctrl-C) interrupts any step: children are stopped in the same
order, so the validator closes its running round as interrupted and the DB stays consistent.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Protocol

from loguru import logger

from vidaio.dashboard.data import has_schema
from vidaio.localnet.config import LocalnetSettings
from vidaio.localnet.envfile import clean_environ
from vidaio.localnet.layout import LocalnetLayout
from vidaio.localnet.ports import start_miners
from vidaio.localnet.prepare import (
    LOOPBACK,
    PreparedNeuron,
    bucket_name,
    pieapp_weights_setting,
    prepare_neurons,
    threads_of,
)
from vidaio.localnet.procs import Child, Interrupted, ProcessError, http_ok, wait_until
from vidaio.localnet.progress import ProgressSnapshot, RoundState, read_progress
from vidaio.localnet.report import LocalnetReport, collect_report
from vidaio.localnet.roster import NeuronSpec, default_roster
from vidaio.storage.local import LocalS3, LocalS3Error, create_buckets, free_port, wait_ready

RANDOM_PIEAPP_LABEL = "demo: random PIE-APP weights"
S3_START_TIMEOUT_S = 60.0
EXIT_GRACE_S = 60.0
"""After its last round the validator sets weights and exits by itself; past this it is stopped."""


class LocalnetError(RuntimeError):
    """The localnet could not run; the message names the step and the reason."""


class Observer(Protocol):
    """What the CLI shows: phases and round progress."""

    def phase(self, text: str) -> None: ...

    def progress(self, rounds: list[RoundState], requested: int) -> None: ...


class _Quiet:
    def phase(self, text: str) -> None:
        logger.info("localnet: {}", text)

    def progress(self, rounds: list[RoundState], requested: int) -> None:
        return None


def _acquire(layout: LocalnetLayout) -> None:
    """One localnet per directory: a pid file, taken over if its process is gone."""
    layout.root.mkdir(parents=True, exist_ok=True)
    if layout.lock.is_file():
        try:
            pid = int(layout.lock.read_text().strip())
        except ValueError:
            pid = 0
        if pid and pid != os.getpid() and _alive(pid):
            raise LocalnetError(f"another vidaio localnet (pid {pid}) is using {layout.root}; stop it first")
    layout.lock.write_text(f"{os.getpid()}\n")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _release(layout: LocalnetLayout) -> None:
    with contextlib.suppress(OSError, ValueError):
        if int(layout.lock.read_text().strip()) == os.getpid():
            layout.lock.unlink()


def child_environ(threads: int = 1) -> dict[str, str]:
    """The environment of a neuron: no VIDAIO_* settings (its env file says all), bounded threads."""
    n = str(threads)
    return clean_environ(
        PYTHONUNBUFFERED="1",
        OMP_NUM_THREADS=n,
        MKL_NUM_THREADS=n,
        OPENBLAS_NUM_THREADS=n,
        OMP_WAIT_POLICY="PASSIVE",  # idle OpenMP threads sleep instead of spinning on a shared CPU
        SVT_LOG="1",
    )


def make_child(p: PreparedNeuron, cfg: LocalnetSettings) -> Child:
    python = cfg.python or sys.executable
    cmd = [python, "-m", p.module, "--env-file", str(p.env_file)]
    return Child(p.spec.name, cmd, env=child_environ(threads_of(p.spec, cfg)), log_path=p.log_file)


class LocalnetRun:
    """One run; `run()` always stops what it started and returns the report."""

    def __init__(
        self,
        cfg: LocalnetSettings,
        observer: Observer | None = None,
        stop: threading.Event | None = None,
        roster: list[NeuronSpec] | None = None,
    ) -> None:
        self.cfg = cfg
        self.obs = observer or _Quiet()
        self.stop = stop or threading.Event()
        self.roster = roster or default_roster(cfg.validator_stake)
        self.layout = LocalnetLayout.at(cfg.dir)
        self.prepared: list[PreparedNeuron] = []
        self.children: dict[str, Child] = {}
        self.s3_info: LocalS3 | None = None
        self.known_rounds: set[str] = set()
        self.random_pieapp = False
        self.error: str | None = None
        self.interrupted = False
        self.urls: dict[str, str] = {}

    # ------------------------------------------------------------------ steps
    def _start_s3(self) -> None:
        """moto server as our own child (new session, dies with us), on a free port (3 tries)."""
        self.obs.phase("starting the local S3 endpoint (moto server)")
        python = self.cfg.python or sys.executable
        last: Exception | None = None
        for _ in range(3):
            port = free_port(LOOPBACK)
            cmd = [python, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)]
            child = Child("s3", cmd, env=child_environ(), log_path=self.layout.log_file("s3")).start()
            self.children["s3"] = child
            try:
                wait_ready(LOOPBACK, port, S3_START_TIMEOUT_S, alive=child.running)
            except LocalS3Error as exc:
                last = exc
                child.stop(5.0)
                continue
            endpoint = f"http://{LOOPBACK}:{port}"
            buckets = [bucket_name(s) for s in self.roster]
            create_buckets(endpoint, buckets)
            self.s3_info = LocalS3(endpoint_url=endpoint, buckets=buckets)
            return
        raise LocalnetError(f"the local S3 server did not start: {last}; log: {self.layout.log_file('s3')}")

    def _start_ray(self) -> None:
        """A two-node Ray cluster for the daemons' jobs (vidaio/localnet/ray_nodes.py)."""
        from vidaio.localnet.ray_nodes import on_ray, start_ray_nodes

        self.obs.phase("starting a two-node Ray cluster (head + worker) for the daemons' jobs")
        try:
            address = start_ray_nodes(self.children, self.layout.log_file, child_environ(), self.cfg.python)
        except (OSError, RuntimeError) as exc:
            raise LocalnetError(f"the local Ray cluster did not start: {exc}") from None
        self.roster = on_ray(self.roster, address)

    def _prepare(self) -> None:
        self.obs.phase("creating wallets and registering 1 validator + miners on the simulated chain")
        weights, self.random_pieapp = pieapp_weights_setting(self.cfg, self.layout)
        if self.random_pieapp:
            self.obs.phase(
                f"{RANDOM_PIEAPP_LABEL}: no PIE-APP weights found (pyiqa cache or {weights}); "
                "upscaling quality scores are meaningless, everything else is real"
            )
        if self.s3_info is None:
            raise LocalnetError("S3 endpoint not started")
        self.prepared = prepare_neurons(self.cfg, self.layout, self.s3_info, self.roster)
        for p in self.prepared:
            if p.metrics_port:
                self.urls[f"{p.spec.name} metrics"] = f"http://{LOOPBACK}:{p.metrics_port}/metrics"
        self.known_rounds = {r.round_id for r in read_progress(self.layout.db).rounds}

    def _start_miners(self) -> None:
        from vidaio.chain.localnet import LocalnetChain

        miners = [p for p in self.prepared if p.spec.role == "miner"]
        self.obs.phase(f"starting {len(miners)} miners (imports take a while on a small CPU)")
        # a port taken between prepare and bind -> that miner restarts on a fresh port (localnet/ports.py)
        miners = start_miners(
            miners, self.children, lambda p: make_child(p, self.cfg), timeout_s=self.cfg.startup_timeout_s,
            stop=self.stop,
        )  # fmt: skip
        by_name = {p.spec.name: p for p in miners}
        self.prepared = [by_name.get(p.spec.name, p) for p in self.prepared]
        started = [self.children[p.spec.name] for p in miners]
        validator = next(p for p in self.prepared if p.spec.role == "validator")
        chain = LocalnetChain(self.layout.chain, hotkey=validator.hotkey)
        wanted = {p.uid: f"{LOOPBACK}:{p.port}" for p in miners}

        def served() -> bool:
            axons = {n.uid: n.axon for n in chain.snapshot().neurons}
            return all(axons.get(uid) == addr for uid, addr in wanted.items())

        wait_until(served, started, 30.0, "the miners' axons on chain", stop=self.stop)

    def _start_validator(self) -> Child:
        validator = next(p for p in self.prepared if p.spec.role == "validator")
        self.obs.phase(f"starting the validator: {self.cfg.rounds} round(s), profile {self.cfg.profile}")
        child = make_child(validator, self.cfg).start()
        self.children[validator.spec.name] = child
        return child

    def _start_dashboard(self) -> None:
        """`vidaio dashboard` on the validator's DB (once the validator created it), read-only, loopback."""
        if not self.cfg.dashboard:
            return
        wait_until(lambda: has_schema(self.layout.db), [self.children["validator"]], self.cfg.startup_timeout_s,
                   "the validator's database", stop=self.stop)  # fmt: skip
        port = free_port(LOOPBACK)
        python = self.cfg.python or sys.executable
        cmd = [python, "-m", "vidaio.cli.main", "dashboard", "--db", str(self.layout.db), "--host", LOOPBACK,
               "--port", str(port)]  # fmt: skip
        child = Child("dashboard", cmd, env=child_environ(), log_path=self.layout.log_file("dashboard")).start()
        self.children["dashboard"] = child
        wait_until(lambda: http_ok(LOOPBACK, port, "/healthz"), [child], self.cfg.startup_timeout_s,
                   "the dashboard", stop=self.stop)  # fmt: skip
        self.urls["dashboard"] = f"http://{LOOPBACK}:{port}/"
        self.obs.phase(f"dashboard: {self.urls['dashboard']} (read-only view of {self.layout.db})")

    def _follow(self, validator: Child) -> None:
        """Report progress until the validator exits after its rounds (or fails, or stop)."""
        finished_at: float | None = None
        round_started: dict[str, float] = {}
        while True:
            snap = self._this_run(read_progress(self.layout.db))
            self.obs.progress(snap.rounds, self.cfg.rounds)
            now = time.monotonic()
            for r in snap.rounds:
                round_started.setdefault(r.round_id, now)
                if not r.done and now - round_started[r.round_id] > self.cfg.round_timeout_s:
                    raise LocalnetError(
                        f"round {r.round_id} did not finish within {self.cfg.round_timeout_s:.0f}s "
                        f"(validator log: {validator.log_path})"
                    )
            if not validator.running():
                code = validator.returncode
                if code != 0:
                    raise ProcessError(
                        f"validator exited with code {code}; last log lines ({validator.log_path}):\n"
                        f"{validator.tail()}"
                    )
                if len(snap.finished()) < self.cfg.rounds:
                    raise LocalnetError(
                        f"validator exited after {len(snap.finished())} of {self.cfg.rounds} rounds "
                        f"(log: {validator.log_path})"
                    )
                return
            for name, child in self.children.items():
                if child is not validator and not child.running():  # a miner or S3 died
                    raise ProcessError(
                        f"{name} exited with code {child.returncode} during the rounds; "
                        f"last log lines ({child.log_path}):\n{child.tail()}"
                    )
            if len(snap.finished()) >= self.cfg.rounds:
                finished_at = finished_at or now
                if now - finished_at > EXIT_GRACE_S:
                    logger.warning(
                        "validator still running {:.0f}s after its last round: stopping it", EXIT_GRACE_S
                    )
                    return
            if self.stop.wait(self.cfg.poll_interval_s):
                raise Interrupted("stopped during the rounds")

    def _this_run(self, snap: ProgressSnapshot) -> ProgressSnapshot:
        return ProgressSnapshot(rounds=snap.started_since(self.known_rounds))

    def _stop_all(self) -> None:
        """Validator first (closes its round), then miners together, then S3."""
        timeout = self.cfg.stop_timeout_s
        validator = self.children.get("validator")
        s3 = self.children.get("s3")
        if validator is not None and validator.proc is not None:
            self.obs.phase("stopping the validator")
            validator.stop(timeout)
        ray_nodes = [self.children[n] for n in ("ray-worker", "ray-head") if n in self.children]
        miners = [c for n, c in self.children.items() if n not in ("validator", "s3", "ray-worker", "ray-head")
                  and c.proc is not None]  # fmt: skip
        if miners:
            self.obs.phase(f"stopping {len(miners)} miners")
            for child in miners:
                child.request_stop(signal.SIGINT)
            for child in miners:
                child.stop(timeout)
        for node in ray_nodes:  # after the daemons that use them; `ray start --block` exits 1 on SIGINT
            node.stop(timeout)  # ("Aborted!") once its node is down: not a neuron's exit code to report
            self.children.pop(node.name, None)
        if s3 is not None:
            s3.stop(timeout)

    def _kill_all(self) -> None:
        for child in self.children.values():
            child.kill()

    # ------------------------------------------------------------------ run
    def run(self) -> LocalnetReport:
        started = time.monotonic()
        _acquire(self.layout)
        try:
            try:
                if not self.cfg.resume:
                    self.layout.reset()
                self.layout.make_dirs()
                self._start_s3()
                if self.cfg.executor == "ray":
                    self._start_ray()
                self._prepare()
                self._start_miners()
                validator = self._start_validator()
                self._start_dashboard()
                self._follow(validator)
                if self.cfg.keep_running:
                    self._keep_running()
            except Interrupted:
                self.interrupted = True
                self.obs.phase("interrupted: stopping every process")
            except (LocalnetError, ProcessError) as exc:
                self.error = str(exc)
            except Exception as exc:  # a step's own error (S3 start, wallets, chain file)
                logger.opt(exception=exc).debug("localnet step failed")
                self.error = f"{type(exc).__name__}: {exc}"
            finally:
                try:
                    self._stop_all()
                except KeyboardInterrupt:  # a second Ctrl-C: no more waiting
                    self.interrupted = True
                    self._kill_all()
            report = self._report(time.monotonic() - started)
        finally:
            _release(self.layout)
        return report

    def _keep_running(self) -> None:
        self.obs.phase("rounds done; the miners and S3 keep running (Ctrl-C to stop)")
        while not self.stop.wait(1.0):
            for name, child in self.children.items():
                if name != "validator" and not child.running():
                    raise ProcessError(f"{name} exited with code {child.returncode}")
        raise Interrupted("stopped")

    def _report(self, elapsed_s: float) -> LocalnetReport:
        try:
            report = collect_report(
                self.layout, self.prepared, profile=self.cfg.profile, rounds_requested=self.cfg.rounds,
                pieapp_random_weights=self.random_pieapp,
            )  # fmt: skip
        except Exception as exc:
            report = LocalnetReport(profile=self.cfg.profile, rounds_requested=self.cfg.rounds)
            self.error = self.error or f"cannot read the results: {exc}"
        rounds_of_run = {r.round_id for r in self._this_run(read_progress(self.layout.db)).rounds}
        report.rounds = [r for r in report.rounds if r.round_id in rounds_of_run]
        report.tasks_sent = sum(r.task_count for r in report.rounds)  # this run's (the board is cumulative)
        report.results_recorded = sum(r.results for r in report.rounds)
        report.exit_codes = {n: c.returncode for n, c in self.children.items()}
        report.pids = {n: c.pid for n, c in self.children.items()}
        report.stop_signals = {n: c.stop_signal for n, c in self.children.items()}
        report.error = self.error
        report.urls = dict(self.urls)
        report.interrupted = self.interrupted
        report.elapsed_s = round(elapsed_s, 1)
        with contextlib.suppress(OSError):
            self.layout.summary.write_text(report.model_dump_json(indent=2))
        return report


def run_localnet(
    cfg: LocalnetSettings,
    observer: Observer | None = None,
    stop: threading.Event | None = None,
    *,
    roster: list[NeuronSpec] | None = None,
) -> LocalnetReport:
    """Run the one-machine subnet (see the module doc); never raises for a failed step: see report.error."""
    return LocalnetRun(cfg, observer, stop, roster).run()


def sigint_to_event(stop: threading.Event, on_first: Callable[[], None] | None = None) -> Callable[[], None]:
    """Install SIGINT/SIGTERM handlers: the first sets `stop`, the second raises KeyboardInterrupt.

    Returns a function restoring the previous handlers."""

    def handler(signum: int, _frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        if on_first is not None:
            on_first()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore
