"""kaito.runtime: a small controller-runtime for asyncio (work in progress)."""
