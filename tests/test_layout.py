"""The shape of the house, kept: HTTP stays in http/ (and the app that mounts it), and every
kind of service error has exactly one HTTP status, given in http/errors.py."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import imagescope
from imagescope import errors
from imagescope.http.errors import STATUS, status_of

PACKAGE = Path(imagescope.__file__).parent
HTTP_LIBRARIES = ("fastapi", "starlette", "uvicorn")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_module_below_http_speaks_http():
    allowed = {PACKAGE / "app.py", PACKAGE / "cli" / "server.py"}  # the app mounts http/; serve starts uvicorn
    speaking = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "http" not in path.relative_to(PACKAGE).parts[:1]
        and path not in allowed
        and any(name.split(".")[0] in HTTP_LIBRARIES for name in imported_modules(path))
    )
    assert speaking == []


def test_every_kind_of_service_error_has_one_http_status():
    kinds = {
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.ServiceError) and cls is not errors.ServiceError
    }
    assert kinds == set(STATUS)
    assert status_of(errors.model_not_found()) == 404 and errors.model_not_found().code == "InvalidParameter"
    assert status_of(errors.task_error("BadRequest.InputDownloadFailed", "m")) == 400
    assert status_of(errors.task_error("InternalError", "m")) == 500
