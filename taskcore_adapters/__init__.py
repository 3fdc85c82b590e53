"""Adapters for taskcore's ports, the configuration and the composition root."""

from __future__ import annotations

from taskcore_adapters.config import ConfigError, Settings, load_settings
from taskcore_adapters.container import Container, build_container, shutdown
from taskcore_adapters.memory import MemoryTaskQueue, MemoryTaskStore

__all__ = [
    "ConfigError",
    "Container",
    "MemoryTaskQueue",
    "MemoryTaskStore",
    "Settings",
    "build_container",
    "load_settings",
    "shutdown",
]
