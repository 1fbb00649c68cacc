"""Locate and run the ffmpeg binary shipped in the `imageio-ffmpeg` wheel (docs/scoring.md#vmaf).

Never the system (apt) ffmpeg: that one has no libvmaf and a different SVT-AV1. The wheel has no
ffprobe; probing is done with PyAV (`scoring.media.probe`).
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import time
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from loguru import logger

from scoring.budget import Budget, BudgetExceeded

STDERR_TAIL_LINES = 8


class FfmpegError(RuntimeError):
    """ffmpeg failed, timed out or could not be found; the message quotes ffmpeg's last stderr lines."""

    def __init__(
        self,
        message: str,
        *,
        returncode: int | None = None,
        stderr_tail: str = "",
        args: Sequence[str] = (),
    ) -> None:
        full = message if not stderr_tail else f"{message}\n--- ffmpeg stderr (last lines) ---\n{stderr_tail}"
        super().__init__(full)
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        self.ffmpeg_args = list(args)


def stderr_tail(stderr: str | bytes | None, lines: int = STDERR_TAIL_LINES) -> str:
    """The last non-empty `lines` lines of an ffmpeg stderr (progress lines with \\r are split too)."""
    if not stderr:
        return ""
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    parts = [p.strip() for p in text.replace("\r", "\n").splitlines()]
    return "\n".join([p for p in parts if p][-lines:])


_SIGNAL_HINTS = {
    "SIGXFSZ": "file size limit exceeded",
    "SIGKILL": "e.g. out of memory or a deadline",
    "SIGSEGV": "ffmpeg crashed",
}


def describe_exit(returncode: int) -> str:
    """`exited with status N`, or `was killed by SIGNAME (hint)` for a negative (signal) status."""
    if returncode >= 0:
        return f"exited with status {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        return f"was killed by signal {-returncode}"
    hint = _SIGNAL_HINTS.get(name)
    return f"was killed by {name}" + (f" ({hint})" if hint else "")


@lru_cache(maxsize=1)
def _wheel_ffmpeg() -> str:
    try:
        from imageio_ffmpeg._definitions import FNAME_PER_PLATFORM, get_platform
        from imageio_ffmpeg._utils import _get_bin_dir
    except ImportError as exc:  # pragma: no cover - dependency missing
        raise FfmpegError("imageio-ffmpeg is not installed (pip install imageio-ffmpeg==0.8.1)") from exc
    name = FNAME_PER_PLATFORM.get(get_platform(), "")
    exe = Path(_get_bin_dir()) / name
    if not name or not exe.is_file():
        raise FfmpegError(
            f"the imageio-ffmpeg wheel has no ffmpeg binary for platform {get_platform()!r} (looked for {exe}); "
            "set metrics.ffmpeg_path to an ffmpeg build with libvmaf"
        )
    if not os.access(exe, os.X_OK):
        raise FfmpegError(f"ffmpeg binary {exe} is not executable")
    return str(exe)


def ffmpeg_exe(override: str | Path | None = None) -> str:
    """Path of the ffmpeg binary: `override` if given (must exist), else the imageio-ffmpeg wheel's binary."""
    if override is not None and str(override).strip():
        path = Path(override).expanduser()
        if not path.is_file():
            raise FfmpegError(f"configured ffmpeg binary {path} does not exist")
        if not os.access(path, os.X_OK):
            raise FfmpegError(f"configured ffmpeg binary {path} is not executable")
        return str(path)
    return _wheel_ffmpeg()


class _ReapedPopen(subprocess.Popen):
    """Popen that reports the child's CPU (its rusage, from wait4) to the job's budget when reaped:
    with several jobs in one process, RUSAGE_CHILDREN cannot tell whose child it was."""

    budget: Budget | None = None

    def _try_wait(self, wait_flags: int) -> tuple[int, int]:  # CPython's hook, with wait4 for waitpid
        try:
            pid, sts, ru = os.wait4(self.pid, wait_flags)
        except ChildProcessError:
            return self.pid, 0
        if pid == self.pid and self.budget is not None:
            self.budget.add_child_cpu(ru.ru_utime + ru.ru_stime)
        return pid, sts


def _run_in_group(
    cmd: list[str],
    input_bytes: bytes | None,
    timeout_s: float,
    cwd: str | Path | None,
    cpu_limit_s: int | None = None,
    budget: Budget | None = None,
) -> subprocess.CompletedProcess:
    """`subprocess.run` in a new session: on timeout the whole process group is killed, so no
    child (or a wrapper's child) survives holding the pipes open. `cpu_limit_s` becomes the
    child's RLIMIT_CPU (set with prlimit right after the spawn: no preexec_fn in a threaded process)."""
    with _ReapedPopen(
        cmd,
        stdin=subprocess.PIPE if input_bytes is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        start_new_session=True,
    ) as proc:
        proc.budget = budget
        if cpu_limit_s is not None:
            try:
                resource.prlimit(proc.pid, resource.RLIMIT_CPU, (cpu_limit_s, cpu_limit_s + 1))
            except (OSError, ValueError, AttributeError):  # exited already, or not Linux
                pass
        try:
            out, err = proc.communicate(input_bytes, timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            _kill_group(proc)
            out, err = proc.communicate()
            raise subprocess.TimeoutExpired(cmd, timeout_s, output=out, stderr=err) from exc
        except BaseException:
            _kill_group(proc)
            raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def run_ffmpeg(
    args: Sequence[str],
    *,
    timeout_s: float = 600,
    ffmpeg: str | None = None,
    input_bytes: bytes | None = None,
    cwd: str | Path | None = None,
    budget: Budget | None = None,
) -> subprocess.CompletedProcess:
    """Run `ffmpeg -hide_banner -nostdin -y <args>`; raise `FfmpegError` on failure or timeout.

    stdout and stderr are captured (bytes). `ffmpeg` is an explicit binary path (else `ffmpeg_exe()`);
    `input_bytes` is fed on stdin; `cwd` is the working directory (relative paths in `args` resolve there).
    With a `budget` the timeout is at most what is left of it and `BudgetExceeded` is raised when it
    runs out. ffmpeg runs in its own process group, killed as a whole on timeout (children included).
    """
    exe = ffmpeg or ffmpeg_exe()
    cmd = [exe, "-hide_banner", "-nostdin", "-y", *map(str, args)]
    if input_bytes is not None:
        cmd.remove("-nostdin")
    cpu_limit = None
    if budget is not None:
        timeout_s = budget.timeout(timeout_s, "ffmpeg")
        cpu_limit = budget.child_cpu_limit()
    started = time.monotonic()
    children_before = _children_cpu()
    try:
        proc = _run_in_group(cmd, input_bytes, timeout_s, cwd, cpu_limit, budget)
    except subprocess.TimeoutExpired as exc:
        if budget is not None and budget.expired():
            raise BudgetExceeded(budget, "ffmpeg") from exc
        raise FfmpegError(
            f"ffmpeg timed out after {timeout_s:g} s", stderr_tail=stderr_tail(exc.stderr), args=cmd
        ) from exc
    except OSError as exc:
        raise FfmpegError(f"cannot run ffmpeg binary {exe}: {exc}", args=cmd) from exc
    elapsed = time.monotonic() - started
    if proc.returncode != 0 and budget is not None:
        child_cpu = _children_cpu() - children_before
        # ffmpeg traps SIGXCPU and exits 255 a few ms before the accounting reaches the limit
        if budget.expired() or (cpu_limit is not None and child_cpu >= cpu_limit - 0.25):
            raise BudgetExceeded(budget, "ffmpeg (CPU)")
    if proc.returncode != 0:
        tail = stderr_tail(proc.stderr)
        raise FfmpegError(
            f"ffmpeg {describe_exit(proc.returncode)} after {elapsed:.1f} s",
            returncode=proc.returncode,
            stderr_tail=tail,
            args=cmd,
        )
    logger.trace("ffmpeg ok in {:.2f} s: {}", elapsed, " ".join(cmd[1:]))
    return proc
