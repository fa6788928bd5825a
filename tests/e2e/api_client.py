"""A small typed client of sightline's REST API for whole-system tests and benchmarks.

It logs in once (``POST /api/v1/auth/login``) and sends the bearer token with every request.
List routes answer ``{"items": [...], "total": N, "limit": L, "offset": O}``; :meth:`ApiClient.page`
returns that as a :class:`Page`, and :meth:`ApiClient.wait_for` polls until a condition holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

__all__ = ["ADMIN_PASSWORD", "ApiClient", "ApiError", "Page"]

# What the e2e tests configure with SIGHTLINE_ADMIN__PASSWORD.
ADMIN_PASSWORD = "e2e-admin-password"

T = TypeVar("T")
Params = Mapping[str, str | int | bool]


class ApiError(RuntimeError):
    """The API answered with an unexpected status."""

    def __init__(self, status: int, method: str, path: str, text: str) -> None:
        super().__init__(f"{method} {path} -> {status}: {text[:500]}")
        self.status = status


@dataclass(frozen=True)
class Page:
    """One page of a list route."""

    items: list[dict[str, Any]]
    total: int


class ApiClient:
    """Logged-in access to one server's ``/api/v1``."""

    def __init__(
        self,
        base_url: str,
        *,
        username: str = "admin",
        password: str = ADMIN_PASSWORD,
        timeout_s: float = 30.0,
    ) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=timeout_s)
        token = self._json(
            "POST", "/api/v1/auth/login", {"username": username, "password": password}
        )
        self._http.headers["Authorization"] = f"Bearer {token['access_token']}"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def get(self, path: str, params: Params | None = None) -> Any:
        """GET ``path`` and return the decoded JSON body (raises ApiError unless 2xx)."""
        return self._json("GET", path, None, params)

    def post(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """POST a JSON body; the decoded answer, or None for 204."""
        return self._json("POST", path, body if body is not None else {})

    def page(self, path: str, **params: str | int | bool) -> Page:
        """One page of a list route, e.g. ``page("/api/v1/devices", online=True, limit=1)``."""
        body = self.get(path, {k: _param(v) for k, v in params.items()})
        return Page(items=list(body["items"]), total=int(body["total"]))

    def all_items(self, path: str, page_size: int = 1000, **params: str | int | bool) -> Page:
        """Every item of a list route, fetched page by page."""
        items: list[dict[str, Any]] = []
        while True:
            page = self.page(path, limit=page_size, offset=len(items), **params)
            items.extend(page.items)
            if not page.items or len(items) >= page.total:
                return Page(items=items, total=page.total)

    def wait_for(
        self,
        probe: Callable[[ApiClient], T],
        done: Callable[[T], bool],
        *,
        timeout_s: float,
        interval_s: float = 0.2,
    ) -> tuple[T, float]:
        """Poll ``probe`` until ``done`` holds; the last value and seconds waited.

        Returns the last value even on timeout, so the caller's assertion shows what was seen.
        """
        start = time.monotonic()
        while True:
            value = probe(self)
            waited = time.monotonic() - start
            if done(value) or waited >= timeout_s:
                return value, waited
            time.sleep(interval_s)

    def _json(
        self, method: str, path: str, body: Mapping[str, Any] | None, params: Params | None = None
    ) -> Any:
        response = self._http.request(
            method, path, json=body, params={k: _param(v) for k, v in (params or {}).items()}
        )
        if not response.is_success:
            raise ApiError(response.status_code, method, path, response.text)
        return None if response.status_code == 204 or not response.content else response.json()


def _param(value: str | int | bool) -> str:
    # FastAPI reads booleans as "true"/"false"; str(True) would be "True", which it also takes,
    # but lower case is what a browser sends.
    return str(value).lower() if isinstance(value, bool) else str(value)
