"""vidaio."""
