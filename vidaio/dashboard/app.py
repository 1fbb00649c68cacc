"""The dashboard's FastAPI app: server-rendered pages (Jinja2), `/api/*` JSON, static assets, auth.

Pages: `/` (leaderboard, both pools), `/miner/{uid}`, `/rounds`, `/weights`. Each page is
rendered on the server and then refreshes its tables and chart every `refresh_s` from the JSON
API it names (`/api/leaderboard`, `/api/miner/{uid}`, `/api/rounds`, `/api/weights`,
`/api/summary`), without reloading. With a token configured every request needs
`Authorization: Bearer TOKEN` or the cookie set by `/login?token=TOKEN`; otherwise 401.
Nothing here writes to the database, and no setting other than the refresh period reaches a page.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from loguru import logger
from starlette.concurrency import run_in_threadpool

from vidaio.dashboard import views
from vidaio.dashboard.assets import STATIC_DIR, missing_assets
from vidaio.dashboard.config import DashboardSettings
from vidaio.dashboard.data import DashboardData

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
COOKIE = "vidaio_dashboard_token"
OPEN_PATHS = frozenset({"/login", "/healthz"})


def _json(data: Any) -> JSONResponse:
    return JSONResponse(data, headers={"Cache-Control": "no-store"})


def create_app(data: DashboardData, settings: DashboardSettings) -> FastAPI:
    """The dashboard app over `data` (a read-only view of the validator database)."""
    token = settings.token.get_secret_value()
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    templates.env.globals.update(cell=views.cell, columns_json=views.columns_json, columns=views.COLUMNS)
    missing = missing_assets()
    if missing:
        logger.warning("dashboard: chart library missing ({}); run `make setup` (npm + copy)", ", ".join(missing))
    app = FastAPI(title="vidaio dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")

    def authorized(request: Request) -> bool:
        if not token:
            return True
        header = request.headers.get("authorization", "")
        given = header[7:].strip() if header.lower().startswith("bearer ") else request.cookies.get(COOKIE, "")
        return bool(given) and hmac.compare_digest(given.encode(), token.encode())

    @app.middleware("http")
    async def _auth(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.url.path in OPEN_PATHS or authorized(request):
            response = await call_next(request)
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            response.headers.setdefault("Referrer-Policy", "no-referrer")
            return response
        return JSONResponse(
            {"error": "unauthorized", "reason": "a bearer token is required (Authorization: Bearer TOKEN)"},
            status_code=401, headers={"WWW-Authenticate": 'Bearer realm="vidaio dashboard"'},
        )  # fmt: skip

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/login")
    async def login(request: Request) -> Response:
        given = request.query_params.get("token", "")
        if token and given and hmac.compare_digest(given.encode(), token.encode()):
            resp = RedirectResponse("/", status_code=303)
            resp.set_cookie(COOKIE, given, httponly=True, samesite="strict")
            return resp
        return JSONResponse({"error": "unauthorized", "reason": "wrong or missing token"}, status_code=401)

    async def read(fn: Callable[..., Any], *args: Any) -> Any:
        return await run_in_threadpool(fn, *args)

    def page(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        ctx.update(refresh_s=settings.refresh_s, missing_assets=missing, active=name)
        return templates.TemplateResponse(
            request, f"{name}.html", ctx, status_code=status, headers={"Cache-Control": "no-store"}
        )

    # --- JSON API ----------------------------------------------------------------------------
    @app.get("/api/summary")
    async def api_summary() -> JSONResponse:
        return _json(await read(data.summary))

    @app.get("/api/leaderboard")
    async def api_leaderboard(task: str | None = None) -> JSONResponse:
        board = await read(data.leaderboard)
        if task:
            board["pools"] = {t: rows for t, rows in board["pools"].items() if t == task}
        return _json(board)

    @app.get("/api/miner/{uid}")
    async def api_miner(uid: int) -> JSONResponse:
        miner = await read(data.miner, uid, settings.history_limit)
        if miner is None:
            raise HTTPException(404, f"no miner with uid {uid}")
        return _json(miner)

    @app.get("/api/rounds")
    async def api_rounds() -> JSONResponse:
        return _json(await read(data.rounds, settings.rounds_limit))

    @app.get("/api/weights")
    async def api_weights() -> JSONResponse:
        return _json(await read(data.weights, settings.weights_limit))

    # --- pages -------------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse)
    async def leaderboard_page(request: Request) -> HTMLResponse:
        board, summary = await read(data.leaderboard), await read(data.summary)
        return page(request, "leaderboard", board=board, summary=summary, api="/api/leaderboard")

    @app.get("/miner/{uid}", response_class=HTMLResponse)
    async def miner_page(request: Request, uid: int) -> HTMLResponse:
        miner = await read(data.miner, uid, settings.history_limit)
        if miner is None:
            raise HTTPException(404, f"no miner with uid {uid}")
        return page(request, "miner", miner=miner, uid=uid, api=f"/api/miner/{uid}")

    @app.get("/rounds", response_class=HTMLResponse)
    async def rounds_page(request: Request) -> HTMLResponse:
        return page(request, "rounds", rounds=await read(data.rounds, settings.rounds_limit), api="/api/rounds")

    @app.get("/weights", response_class=HTMLResponse)
    async def weights_page(request: Request) -> HTMLResponse:
        return page(request, "weights", weights=await read(data.weights, settings.weights_limit), api="/api/weights")

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": "http_error", "reason": str(exc.detail)}, status_code=exc.status_code)
        return page(request, "error", status=exc.status_code, code=exc.status_code, reason=str(exc.detail))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        logger.opt(exception=exc).error("dashboard: {} failed", request.url.path)
        return JSONResponse({"error": "internal_error", "reason": type(exc).__name__}, status_code=500)

    return app
