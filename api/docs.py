"""/docs (Swagger UI) and /redoc, from locally installed assets under a CSP.

FastAPI's own pages load Swagger UI and ReDoc from a CDN and start them with
an inline script, so offline they are blank and no strict policy fits them.
Ours load `swagger-ui-dist` and `redoc` from /static/vendor like htmx
(`frontend.VENDORED`) and start Swagger UI from our own script.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from api import web

# Both libraries set inline styles and ReDoc searches in a worker made from a blob; scripts
# still come only from us.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
PATHS = ("/docs", "/redoc")


def install(app: FastAPI) -> None:
    """Add the two pages (create the app with `docs_url=None, redoc_url=None`)."""

    @app.get("/docs", include_in_schema=False)
    def swagger(request: Request) -> HTMLResponse:
        return _page(request, "docs_swagger.html", app)

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        return _page(request, "docs_redoc.html", app)


def _page(request: Request, name: str, app: FastAPI) -> HTMLResponse:
    context = {"title": app.title, "openapi_url": app.openapi_url or "/openapi.json"}
    response = web.render(request, name, context)
    response.headers["content-security-policy"] = CSP
    return response
