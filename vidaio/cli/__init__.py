"""vidaio/cli."""
