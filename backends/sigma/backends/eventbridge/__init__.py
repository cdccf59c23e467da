"""Amazon EventBridge backend (sigma-cli: -t eventbridge): event patterns over CloudTrail events."""

from .backend import EventBridgeBackend

backends = {"eventbridge": EventBridgeBackend}

__all__ = ["EventBridgeBackend", "backends"]
