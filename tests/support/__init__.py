"""Shared test helpers (tiny models and adapters built in-process, no downloads)."""
