"""neurons."""
