"""Quality metrics: VMAF (libvmaf through ffmpeg) and PIE-APP, plus their configuration."""

from scoring.metrics.config import MetricsConfig

__all__ = ["MetricsConfig"]
