"""The FastAPI application: routes of each endpoint family, request ids, error bodies."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from imagescope.config import Settings
from imagescope.engines import ImageEngine
from imagescope.errors import ServiceError, body_invalid, service_unavailable, url_not_found
from imagescope.http import admin, console, files, models, uploads, usage, wire
from imagescope.http.body_size import BodyCaps, BodyLimit, BodyTooLarge, family_caps
from imagescope.http.errors import ERROR_RESPONSES, HttpError
from imagescope.http.image2image import router as image2image
from imagescope.http.middleware import RequestIds, answer_error
from imagescope.http.multimodal import router as multimodal
from imagescope.http.openai import edits
from imagescope.http.openai import router as openai
from imagescope.http.tasks import router as tasks
from imagescope.http.text2image import router as text2image
from imagescope.http.video import router as video
from imagescope.tasks.faults import SERVICE_FAULTS
from imagescope.wiring import Services, build_services

log = logging.getLogger(__name__)


def _error(request: Request, error: ServiceError) -> JSONResponse:
    return answer_error(request.url.path, getattr(request.state, "request_id", None) or str(uuid.uuid4()), error)


def create_app(settings: Settings | None = None, engines: dict[str, ImageEngine] | None = None) -> FastAPI:
    services: Services = build_services(settings or Settings.from_env(), engines)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services.start()
        try:
            yield
        finally:
            services.stop()

    app = FastAPI(title="imagescope", version="0.1.0", lifespan=lifespan, responses=ERROR_RESPONSES)
    app.state.services = services
    families = (text2image, image2image, multimodal, video, tasks, usage, uploads, files, admin, models, openai, edits)
    for module in (*families, console):
        app.include_router(module.router)
    app.router.routes[0:0] = tasks.LEAN_ROUTES  # matched first: the task query without FastAPI's per-route work

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(services.metrics.render(), media_type=services.metrics.content_type)

    # The last added runs first: request ids around everything, then the body caps.
    app.add_middleware(BodyLimit, caps=BodyCaps(family_caps(services.catalog), services.settings.max_body_bytes))
    app.add_middleware(RequestIds, metrics=services.metrics)
    wire.install(app)  # /openapi.json documents the bodies the routes read themselves

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return _error(request, exc)

    async def service_fault(request: Request, exc: Exception) -> JSONResponse:
        # Storage or the database failing is the service's trouble: clients retry a 503.
        log.warning("request %s: service fault: %s", request.state.request_id, exc)
        return _error(request, service_unavailable())

    for fault in SERVICE_FAULTS:
        app.add_exception_handler(fault, service_fault)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(request, body_invalid())

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc, BodyTooLarge):
            return _error(request, exc.error)
        if exc.status_code == 404:
            return _error(request, url_not_found())
        if exc.status_code == 400:  # Starlette's form and body parsers: their words stay here
            return _error(request, body_invalid())
        return _error(request, HttpError(exc.status_code, "BadRequest", str(exc.detail)))  # e.g. 405

    return app
