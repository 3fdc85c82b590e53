"""Shared test helpers: a settable clock and a real loopback callback receiver."""
