"""Chain access: the ChainPort interface, the bittensor adapter, the simulated localnet, wallets."""
