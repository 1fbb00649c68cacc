"""Signed HTTP between validators and miners: the miner's FastAPI server and the validator's client."""
