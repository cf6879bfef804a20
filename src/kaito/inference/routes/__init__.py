"""HTTP routes: operational (``/``, ``/health``, ``/metrics``), ``/chat`` and OpenAI ``/v1``."""
