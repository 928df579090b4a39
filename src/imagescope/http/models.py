"""``GET /api/v1/models``: every model name and the engine serving it (our addition to the
DashScope API), so a caller can tell a preview from a real model."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from imagescope.accounting.accounts import Caller
from imagescope.http import reply
from imagescope.http.answers import ModelsAnswer
from imagescope.http.deps import caller
from imagescope.http.wire import response_schema

router = APIRouter()


@router.get("/api/v1/models", responses={200: response_schema(ModelsAnswer)})
def list_models(request: Request, who: Caller = Depends(caller)) -> dict[str, Any]:
    return reply(request, {"data": request.app.state.services.bindings.describe()})
