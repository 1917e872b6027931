"""An aiohttp application served from its own event loop on a daemon thread.

The web UI and the dashboard plugin's page both run this way, so that the batch
thread never waits for a browser: it hands work to the loop with
``loop.call_soon_threadsafe`` and goes on.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Served:
    """A running server: its loop (stop it with ``loop.call_soon_threadsafe(loop.stop)``,
    then join ``thread``; the runner is cleaned up on the way out) and the port it bound."""

    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    port: int


def serve_in_thread(app: Any, host: str, port: int, name: str, **runner: Any) -> Served:
    """Bind ``app`` (an ``aiohttp.web.Application``, built by the caller, which imported
    aiohttp) on ``host:port`` and serve it from a new daemon thread named ``name``.

    Returns once listening, with the bound port (the OS's choice for ``port=0``); a
    failure to bind is raised here, on the caller's thread, for it to explain. ``runner``
    holds ``AppRunner`` options.
    """
    from aiohttp import web

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    failure: list[BaseException] = []
    bound: list[int] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        app_runner = web.AppRunner(app, **runner)
        try:
            loop.run_until_complete(app_runner.setup())
            loop.run_until_complete(web.TCPSite(app_runner, host, port).start())
            addresses = app_runner.addresses
            bound.append(addresses[0][1] if addresses else port)
        except BaseException as err:  # noqa: BLE001 - raised again on the caller's thread
            failure.append(err)
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(app_runner.cleanup())
            loop.close()

    thread = threading.Thread(target=serve, name=name, daemon=True)
    thread.start()
    ready.wait()
    if failure:
        raise failure[0]
    return Served(loop, thread, bound[0])
