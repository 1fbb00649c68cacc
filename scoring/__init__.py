"""scoring: pure scoring formulas, metrics and output validation (imports nothing from vidaio/services).

The formula layer (docs/scoring.md) is re-exported here; metrics and validation live in submodules.
"""

from scoring.compression import CompressionBreakdown, compression_rate, compression_score
from scoring.config import KNOWN_CONTENT_LENGTHS, ScoringConfig
from scoring.history import (
    TASK_TYPES,
    Multipliers,
    RoundRecord,
    Standing,
    StoredStanding,
    TaskType,
    Tier,
    compute_multipliers,
    next_standing,
    performance_tier,
    update_accumulate_score,
)
from scoring.quality import pieapp_to_quality
from scoring.upscaling import (
    UpscalingBreakdown,
    final_score,
    length_score,
    preliminary_score,
    upscaling_score,
)
from scoring.weights import MinerStanding, WeightsDecision, compute_weights

__all__ = [
    "KNOWN_CONTENT_LENGTHS",
    "TASK_TYPES",
    "CompressionBreakdown",
    "MinerStanding",
    "Multipliers",
    "RoundRecord",
    "ScoringConfig",
    "Standing",
    "StoredStanding",
    "TaskType",
    "Tier",
    "UpscalingBreakdown",
    "WeightsDecision",
    "compression_rate",
    "compression_score",
    "compute_multipliers",
    "compute_weights",
    "final_score",
    "length_score",
    "next_standing",
    "performance_tier",
    "pieapp_to_quality",
    "preliminary_score",
    "update_accumulate_score",
    "upscaling_score",
]
