"""``kaito-inference``: parse the configuration and serve the app with uvicorn.

Exit status: 1 when the model failed to load, 2 for a bad configuration; on SIGTERM uvicorn
shuts down gracefully (in-flight requests finish, up to 30 s) and then re-raises the signal.
Slow clients are bounded (:mod:`kaito.inference.slow_clients`): the h11 protocol with a header
deadline, and at most ``max_connections`` connections served (uvicorn's ``limit_concurrency``
counts the connection asking, hence the ``+ 1``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import uvicorn

from kaito.inference.config import ConfigError, load_config


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = load_config(argv)
    except ConfigError as exc:
        print(f"kaito-inference: {exc}", file=sys.stderr)
        return 2
    logging.getLogger().setLevel(config.log_level.upper())

    from kaito.inference.app import create_app
    from kaito.inference.slow_clients import h11_protocol

    server: uvicorn.Server | None = None
    failed = False

    def on_load_error(exc: BaseException) -> None:
        nonlocal failed
        failed = True
        if server is not None:
            server.should_exit = True

    try:
        app = create_app(config, on_load_error=on_load_error)
    except (ConfigError, ValueError) as exc:
        print(f"kaito-inference: {exc}", file=sys.stderr)
        return 2
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            log_level=config.log_level,
            timeout_graceful_shutdown=30,
            http=h11_protocol(config.header_timeout),
            timeout_keep_alive=config.keep_alive_timeout,
            limit_concurrency=config.max_connections + 1,
        )
    )
    server.run()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
