"""The dashboard page: one aiohttp server per process and host/port, off the batch thread.

The server runs its own event loop on a daemon thread. The job thread only
calls :meth:`DashboardServer.put` (store a panel's JSON, then
``call_soon_threadsafe``): it never waits for a browser. Each browser holds a
server-sent-events stream; what it has not read yet is kept as *the latest
message per panel*, so a slow or stalled browser costs one pending message per
panel and never slows a batch. On connect a browser gets a snapshot of every
panel, which is also how a page catches up after the server restarted.

Plotly's JavaScript comes from the installed ``plotly`` package, the page's
own files from this package: nothing is fetched from the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from etlcore.errors import ConfigError
from etlcore.plugin.imports import require_module
from etlcore.ui.security import check_token, content_security_policy, harden, set_token_cookie
from etlcore.ui.serving import serve_in_thread

log = logging.getLogger("etlcore.dashboard")

STATIC = Path(__file__).with_name("static")
COOKIE = "etlcore_dashboard_token"  # + the port: cookies are per host, pages per host:port
KEEPALIVE = 15.0  # seconds between SSE comments on an idle stream (proxies drop silent ones)
RETRY_MS = 1000  # what EventSource waits before reconnecting
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
CSP = content_security_policy("'none'")


def plotly_js() -> Path:
    """``plotly.min.js`` from the installed plotly package (no CDN, no network)."""
    plotly = require_module("plotly", "plotly", feature="the dashboard sink")
    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall plotly (pip install plotly)")
    return path


@dataclass(eq=False)  # kept in a set, by identity
class _Client:
    """One browser's event stream: the latest unsent message per panel."""

    pending: dict[str, str] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False


class DashboardServer:
    """Serves one page with every panel registered on it; start/stop from any thread."""

    def __init__(self, host: str, port: int, token: str | None, title: str = "etlcore"):
        self.host = host
        self.port = port
        self.token = token
        self.title = title
        self._panels: dict[str, tuple[int, str]] = {}  # id -> (order, JSON), under _lock
        self._lock = threading.Lock()
        self._clients: set[_Client] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    @property
    def cookie(self) -> str:
        return f"{COOKIE}_{self.port}"

    # -- the job thread's side ----------------------------------------------------------
    def put(self, panel_id: str, order: int, view: dict[str, Any]) -> None:
        """Show ``view`` as panel ``panel_id``; returns at once (browsers get it on the loop)."""
        message = json.dumps({"id": panel_id, "order": order, "panel": view},
                             ensure_ascii=False, allow_nan=False)
        with self._lock:
            self._panels[panel_id] = (order, message)
        self._send(panel_id, f"event: panel\ndata: {message}\n\n")

    def remove(self, panel_id: str) -> None:
        with self._lock:
            self._panels.pop(panel_id, None)
        self._send(panel_id, f"event: remove\ndata: {json.dumps({'id': panel_id})}\n\n")

    def _send(self, panel_id: str, event: str) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody listens
            loop.call_soon_threadsafe(self._deliver, panel_id, event)

    def snapshot_json(self) -> str:
        """Every panel's view in page order, as JSON (a new stream's first event).

        Built from the messages as stored: the lock is held for a copy, not an encoding.
        """
        with self._lock:
            panels = sorted(self._panels.items(), key=lambda kv: (kv[1][0], kv[0]))
        title = json.dumps(self.title, ensure_ascii=False)
        return f'{{"title": {title}, "panels": [{", ".join(m for _, (_, m) in panels)}]}}'

    def snapshot(self) -> dict[str, Any]:
        """Every panel's view, in page order (``/api/state``)."""
        return json.loads(self.snapshot_json())

    # -- the loop's side ------------------------------------------------------------------
    def _deliver(self, panel_id: str, event: str) -> None:
        for client in self._clients:
            client.pending[panel_id] = event
            client.wake.set()

    def _host_allowed(self, host: str) -> bool:
        """On loopback, only loopback names: a web page that rebinds its own DNS name to
        127.0.0.1 must not read the dashboard from the user's browser."""
        if self.host not in LOOPBACK:
            return True
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return name.strip("[]") in LOOPBACK

    def _app(self) -> Any:
        web = require_module("aiohttp.web", "aiohttp", feature="the dashboard sink")
        plotly_path = plotly_js()
        files = {"dashboard.js": "application/javascript", "dashboard.css": "text/css"}

        @web.middleware
        async def guard(request: Any, handler: Any) -> Any:
            access = check_token(request, self.token, self.cookie)
            if not self._host_allowed(request.host):
                response = web.Response(status=421, text="This dashboard answers to "
                                        f"{self.url} only.\n")
            elif not access.allowed:
                response = web.Response(
                    status=401, text="This dashboard needs its token: open the page as "
                    "http://HOST:PORT/?token=... (the token set in the sink's config).\n")
            else:
                response = await handler(request)
                if access.by_query and request.path == "/" and self.token is not None:
                    set_token_cookie(response, self.cookie, self.token)
            return harden(response, CSP)

        async def page(request: Any) -> Any:
            return web.FileResponse(STATIC / "index.html",
                                    headers={"Content-Type": "text/html; charset=utf-8"})

        async def static(request: Any) -> Any:
            name = request.match_info["name"]
            if name == "plotly.min.js":
                return web.FileResponse(plotly_path, headers={
                    "Content-Type": "application/javascript",
                    "Cache-Control": "max-age=3600"})
            if name not in files:
                raise web.HTTPNotFound()
            return web.FileResponse(STATIC / name, headers={"Content-Type": files[name]})

        async def state(request: Any) -> Any:
            return web.Response(text=self.snapshot_json(), content_type="application/json")

        async def events(request: Any) -> Any:
            response = web.StreamResponse(headers={
                "Content-Type": "text/event-stream", "Cache-Control": "no-store",
                "X-Accel-Buffering": "no"})
            await response.prepare(request)
            client = _Client()
            self._clients.add(client)
            try:
                first = self.snapshot_json()
                await response.write(f"retry: {RETRY_MS}\nevent: snapshot\ndata: {first}\n\n"
                                     .encode())
                assert self._stopping is not None
                while not self._stopping.is_set():
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(client.wake.wait(), KEEPALIVE)
                    client.wake.clear()
                    if self._stopping.is_set():
                        break
                    batch, client.pending = client.pending, {}
                    chunk = "".join(batch.values()) or ": keep-alive\n\n"
                    await response.write(chunk.encode())
            except ConnectionResetError:
                pass  # the browser went away
            finally:
                self._clients.discard(client)
            return response

        app = web.Application(middlewares=[guard])
        app.router.add_get("/", page)
        app.router.add_get("/static/{name}", static)
        app.router.add_get("/api/state", state)
        app.router.add_get("/events", events)
        return app

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, where: str = "") -> DashboardServer:
        """Bind and serve on a daemon thread; a busy port is a ConfigError naming ``port``."""
        app = self._app()  # imports and file checks on the caller's thread: errors surface here
        self._stopping = asyncio.Event()
        try:
            served = serve_in_thread(app, self.host, self.port, f"etlcore-dashboard-{self.port}",
                                     handle_signals=False, access_log=None, shutdown_timeout=1.0)
        except OSError as err:
            raise ConfigError(f"{where}.port" if where else "port",
                              f"a free port on {self.host} ({err.strerror or err})",
                              self.port) from None
        self._loop, self._thread, self.port = served.loop, served.thread, served.port
        log.info("dashboard at %s", self.url)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Close every event stream, stop the server and its thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or loop.is_closed():
            return

        def shutdown() -> None:
            assert self._stopping is not None
            self._stopping.set()
            for client in self._clients:
                client.wake.set()
            loop.stop()

        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(shutdown)
        thread.join(timeout)


# -- one server per process and (host, port) -----------------------------------------------
_servers: dict[tuple[str, int], tuple[DashboardServer, int]] = {}
_servers_lock = threading.Lock()


def acquire(host: str, port: int, token: str | None, where: str = "") -> DashboardServer:
    """The server for ``(host, port)``, started on first use; release it with :func:`release`.

    Sinks sharing a host/port share the page, so they must agree on the token.
    """
    with _servers_lock:
        found = _servers.get((host, port))
        if found is not None:
            server, users = found
            if server.token != token:
                raise ConfigError(f"{where}.token" if where else "token",
                                  f"the same token as the other dashboard sinks on {host}:{port} "
                                  "(they share one page)", has_value=False)
            _servers[(host, port)] = (server, users + 1)
            return server
        server = DashboardServer(host, port, token).start(where)
        _servers[(host, port)] = (server, 1)
        return server


def release(server: DashboardServer) -> None:
    """One user fewer; the last one stops the server."""
    with _servers_lock:
        for key, (known, users) in list(_servers.items()):
            if known is server:
                if users > 1:
                    _servers[key] = (known, users - 1)
                    return
                del _servers[key]
                break
        else:
            return
    server.stop()
