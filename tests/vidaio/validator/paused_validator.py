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
    async def pause(stats: RoundStats) -> None:
        if stats.recorded < 1:
            return
        marker.write_text(str(os.getpid()))
        await asyncio.sleep(3600)

    RoundRunner.before_record = staticmethod(pause)  # type: ignore[assignment]


if __name__ == "__main__":
    install_pause(Path(sys.argv[1]))
    sys.exit(main(sys.argv[2:]))
