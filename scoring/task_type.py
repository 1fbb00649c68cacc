"""The task type: the one enum shared by the wire protocol, the scoring rules and the database.

It lives in ``scoring`` because ``scoring`` is the bottom layer (it imports neither ``vidaio`` nor
``services``); ``vidaio.protocol`` and ``vidaio.db`` re-use it. A ``StrEnum``, so its members
compare equal to (and format as) the plain strings ``"upscaling"`` and ``"compression"``.
"""

from __future__ import annotations

from enum import StrEnum


class TaskType(StrEnum):
    UPSCALING = "upscaling"
    COMPRESSION = "compression"


TASK_TYPES: tuple[TaskType, ...] = tuple(TaskType)
"""Every task type, in a fixed order (upscaling first)."""
