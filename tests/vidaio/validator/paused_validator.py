"""Test entry point (not a test module): the real validator daemon, stalled mid-scoring on demand.

    python paused_validator.py MARKER [neurons.validator arguments...]

Installs `RoundRunner.before_record`: once a round has recorded its first result, the next result
writes MARKER (this process's pid) and then waits forever before it is recorded, so the test can
SIGKILL the validator in the middle of scoring. Everything else is `python -m neurons.validator`.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from neurons.validator import main
from vidaio.validator.loop import RoundRunner, RoundStats


def install_pause(marker: Path) -> None:
    calls = [0]

    async def pause(stats: RoundStats) -> None:
        # count calls, not recorded results: answers judged together (a later one waits for the earlier
        # ones' claim fingerprints) reach this point together, before either is recorded
        calls[0] += 1
        if calls[0] == 1:
            return
        while stats.recorded < 1:  # the first result is in the database before the kill
            await asyncio.sleep(0.05)
        marker.write_text(str(os.getpid()))
        await asyncio.sleep(3600)

    RoundRunner.before_record = staticmethod(pause)  # type: ignore[assignment]


if __name__ == "__main__":
    install_pause(Path(sys.argv[1]))
    sys.exit(main(sys.argv[2:]))
