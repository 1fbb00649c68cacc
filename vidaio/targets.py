"""Name what a failing call was talking to: the chain (network and URL) and the S3 bucket
(bucket, endpoint, key id prefix), so every storage and chain error tells the operator where to look."""

from __future__ import annotations

from typing import Any

# bittensor's named networks (bittensor.settings.NETWORK_MAP), without importing the SDK.
NETWORK_URLS = {
    "finney": "wss://entrypoint-finney.opentensor.ai:443",
    "test": "wss://test.finney.opentensor.ai:443",
    "archive": "wss://archive.chain.opentensor.ai:443",
    "devnet": "wss://dev.chain.opentensor.ai:443",
    "local": "ws://127.0.0.1:9944",
}


def chain_target(cfg: Any) -> str:
    """`network finney (wss://...) netuid 85` or `simulated chain /path (netuid 1)` for a ChainConfig."""
    if cfg.backend == "localnet":
        return f"simulated chain {cfg.localnet_path} (netuid {cfg.netuid})"
    network = str(cfg.network)
    url = network if "://" in network else NETWORK_URLS.get(network, "unknown network name")
    name = "custom endpoint" if "://" in network else network
    return f"network {name} ({url}) netuid {cfg.netuid}"


def key_id_prefix(key_id: str | None) -> str:
    """The first 4 characters of an access key id (enough to tell keys apart, not to use one)."""
    if not key_id:
        return "none (default credential chain)"
    return f"{key_id[:4]}..." if len(key_id) > 4 else f"{key_id[:1]}..."


def storage_target(cfg: Any) -> str:
    """`bucket X at http://host:port (key id AKIA...)` for a StorageConfig."""
    endpoint = cfg.endpoint_url or f"AWS S3 {cfg.region}"
    return f"bucket {cfg.bucket!r} at {endpoint} (key id {key_id_prefix(cfg.access_key_id)})"
