"""Miner compression engines (issue 7): target-VMAF CRF search and the lazy fixed-CRF baseline."""

from .engine import (
    CompressionEngine,
    CompressionOutcome,
    FixedCrfEngine,
    SearchingEngine,
    build_compression_engine,
)
from .errors import CompressionError, CompressionFailed, DeadlineExceeded
from .search import Probe, SearchResult, search_crf
from .settings import CODECS, CompressionSettings

__all__ = [
    "CODECS",
    "CompressionEngine",
    "CompressionError",
    "CompressionFailed",
    "CompressionOutcome",
    "CompressionSettings",
    "DeadlineExceeded",
    "FixedCrfEngine",
    "Probe",
    "SearchResult",
    "SearchingEngine",
    "build_compression_engine",
    "search_crf",
]
