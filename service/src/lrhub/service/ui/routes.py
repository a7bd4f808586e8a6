"""`/ui` (the dashboard) and `/docs` (Swagger UI), served from files inside the package.

The pages are static: hand-written ES modules that talk to the public /v1 API with the signed-in
token, so the server has no page logic of its own. Both carry a strict Content-Security-Policy:
no inline script or style, no eval, nothing fetched from anywhere but this server.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC_DIR = Path(__file__).resolve().parent / "static"
UI_PATH = "/ui"
DOCS_PATH = "/docs"
STATIC_PATH = "/ui/static"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        # Swagger UI draws its icons as data: SVG images.
        "img-src 'self' data:",
        "font-src 'self'",
        "manifest-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    )
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    # The pages hold a token in sessionStorage; a shared cache must not keep them.
    "cache-control": "no-cache",
}

router = APIRouter(include_in_schema=False)


def is_page_path(path: str) -> bool:
    """Whether `path` is one of the browser pages or their assets (they get SECURITY_HEADERS)."""
    return path in (UI_PATH, DOCS_PATH) or path.startswith(UI_PATH + "/")


@router.get(UI_PATH)
def dashboard() -> FileResponse:
    """The dashboard's one page; it routes by the URL fragment (`/ui#/jobs/train-42`)."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


@router.get(UI_PATH + "/")
def dashboard_slash() -> RedirectResponse:
    """`/ui/` is `/ui`, so relative asset URLs resolve the same from both."""
    return RedirectResponse(UI_PATH, status_code=308)


@router.get(DOCS_PATH)
def api_docs() -> FileResponse:
    """Swagger UI for /openapi.json, with its assets served from this package (works offline)."""
    return FileResponse(STATIC_DIR / "docs.html", media_type="text/html")


class PageHeadersMiddleware:
    """Add SECURITY_HEADERS to every answer under /ui and /docs, the static files included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_page_path(scope["path"]):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_pages(app: FastAPI) -> None:
    """Serve /ui, its assets under /ui/static, and /docs on `app` (built with `docs_url=None`)."""
    app.include_router(router)
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="ui-static")
    app.add_middleware(PageHeadersMiddleware)
