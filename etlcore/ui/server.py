"""The UI's web server: aiohttp on its own thread and event loop.

The batch thread never waits for it: listeners only append to the store and
bump Prometheus counters, and every request is answered on this thread. A
browser that is slow, gone or hostile therefore costs a batch nothing.

Routes: ``/`` (the streaming page), ``/batch/{id}`` (one batch),
``/api/job``, ``/api/batches?since=ID``, ``/api/batches/{id}``, ``/metrics``,
``/static/...`` (our files and Plotly's, from the installed ``plotly``
package: no CDN). With a token every route asks for it, as
``Authorization: Bearer T``, ``?token=T`` (which also sets a cookie for the
page's own requests) or that cookie.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from importlib import resources
from pathlib import Path
from typing import Any

from etlcore.errors import EtlcoreError
from etlcore.ui.deps import need
from etlcore.ui.prometheus import PrometheusExporter
from etlcore.ui.security import check_token, content_security_policy, harden, set_token_cookie
from etlcore.ui.serving import serve_in_thread
from etlcore.ui.store import BatchStore

log = logging.getLogger("etlcore.ui")

COOKIE = "etlcore_ui_token"
CSP = content_security_policy("'self'")
_STATIC = {"ui.js": "application/javascript", "batch.js": "application/javascript",
           "common.js": "application/javascript", "ui.css": "text/css"}


def plotly_js() -> Path:
    """plotly.min.js as the ``plotly`` pip package ships it."""
    plotly = need("plotly")
    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise EtlcoreError(f"the plotly package at {path.parent.parent} has no "
                           "package_data/plotly.min.js; reinstall it: pip install 'etlcore[ui]'")
    return path


def _asset(name: str) -> bytes:
    return resources.files("etlcore.ui").joinpath("static", name).read_bytes()


class UIServer:
    """Serves a store and an exporter on ``host:port`` until :meth:`stop`.

    ``pages=False`` serves ``/metrics`` alone (``--metrics-port``).
    """

    def __init__(self, store: BatchStore | None, exporter: PrometheusExporter | None,
                 host: str = "127.0.0.1", port: int = 0, token: str | None = None,
                 pages: bool = True):
        self.web = need("aiohttp.web")
        self.store = store
        self.exporter = exporter
        self.host = host
        self.port = port
        self.token = token
        self.pages = pages and store is not None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._plotly = plotly_js() if self.pages else None
        self._assets = {name: _asset(name) for name in _STATIC} if self.pages else {}
        self._templates = ({n: _asset(n) for n in ("index.html", "batch.html")}
                           if self.pages else {})

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    # -- lifecycle --------------------------------------------------------------
    def start(self) -> UIServer:
        """Bind and serve; returns once listening (the real port is then in ``port``)."""
        try:
            served = serve_in_thread(self._app(), self.host, self.port, "etlcore-ui",
                                     access_log=None)
        except OSError as err:
            raise EtlcoreError(f"the web UI cannot listen on {self.host}:{self.port}: "
                               f"{err.strerror or err} (another --ui-port?)") from None
        self._loop, self._thread, self.port = served.loop, served.thread, served.port
        return self

    def _app(self) -> Any:
        app = self.web.Application(middlewares=[self._make_guard()])
        app.router.add_get("/metrics", self._metrics)
        if self.pages:
            app.router.add_get("/", self._page("index.html"))
            app.router.add_get("/batch/{batch_id:\\d+}", self._page("batch.html"))
            app.router.add_get("/api/job", self._api_job)
            app.router.add_get("/api/batches", self._api_batches)
            app.router.add_get("/api/batches/{batch_id:\\d+}", self._api_batch)
            app.router.add_get("/static/plotly.min.js", self._plotly_file)
            app.router.add_get("/static/{name}", self._static)
        return app

    def call_soon(self, fn: Any, *args: Any) -> None:
        """Run ``fn(*args)`` on the server's thread (from any thread); dropped once stopped."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # closed between the check and the call
                loop.call_soon_threadsafe(fn, *args)

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)

    # -- guard --------------------------------------------------------------------
    def _make_guard(self) -> Any:
        web = self.web

        @web.middleware
        async def guard(request: Any, handler: Any) -> Any:
            access = check_token(request, self.token, COOKIE)
            if not access.allowed:
                return harden(web.Response(status=401, text="401: this etlcore UI needs its "
                                           "token (?token=..., or Authorization: Bearer ...)\n",
                                           headers={"WWW-Authenticate": "Bearer"}), CSP)
            response = harden(await handler(request), CSP)
            if access.by_query and self.token is not None:
                set_token_cookie(response, COOKIE, self.token)
            return response

        return guard

    # -- handlers -------------------------------------------------------------------
    def _page(self, name: str) -> Any:
        async def page(request: Any) -> Any:
            return self.web.Response(body=self._templates[name],
                                     content_type="text/html", charset="utf-8")
        return page

    async def _static(self, request: Any) -> Any:
        name = request.match_info["name"]
        if name not in self._assets:
            raise self.web.HTTPNotFound()
        return self.web.Response(body=self._assets[name], content_type=_STATIC[name],
                                 charset="utf-8")

    async def _plotly_file(self, request: Any) -> Any:
        response = self.web.FileResponse(self._plotly)
        response.headers["Cache-Control"] = "max-age=86400"
        response.content_type = "application/javascript"
        return response

    def _json(self, data: Any) -> Any:
        body = json.dumps(data, default=str, separators=(",", ":"))
        return self.web.Response(text=body, content_type="application/json")

    async def _api_job(self, request: Any) -> Any:
        assert self.store is not None
        return self._json(self.store.overview())

    async def _api_batches(self, request: Any) -> Any:
        assert self.store is not None
        try:
            since = int(request.query.get("since", "-1"))
            limit = int(request.query["limit"]) if "limit" in request.query else None
        except ValueError:
            raise self.web.HTTPBadRequest(text="since and limit are batch counts") from None
        return self._json(self.store.summaries(since, limit))

    async def _api_batch(self, request: Any) -> Any:
        assert self.store is not None
        found = self.store.batch(int(request.match_info["batch_id"]))
        if found is None:
            raise self.web.HTTPNotFound(text="no such batch (it may be older than those kept)")
        return self._json(found)

    async def _metrics(self, request: Any) -> Any:
        if self.exporter is None:
            raise self.web.HTTPNotFound(text="no metrics here")
        from etlcore.ui.prometheus import CONTENT_TYPE

        body = self.exporter.exposition()
        return self.web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
