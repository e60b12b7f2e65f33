"""The receiver's HTTP routes: ``POST /hook/<digest>`` and ``GET /healthz``.

The body is read here, never past the limit (3 MiB, Flux's
``maxRequestSizeBytes``): a declared Content-Length over it is answered 413
before a byte is read, a body that grows over it while streaming is answered
413 as soon as it does. The rest (``calls.ReceiverDesk.handle``) does blocking
Redis work, so it runs in Starlette's thread pool.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from services.notify.receiver.calls import ReceiverDesk
from services.notify.receiver.webhook import WEBHOOK_PREFIX, WebhookCall

__all__ = ["MAX_BODY_BYTES", "receiver_routes"]

MAX_BODY_BYTES = 3 * 1024 * 1024


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    """The whole body; _TooLarge past ``limit``, ValueError for a bad Content-Length."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ValueError("invalid Content-Length")
        if int(declared) > limit:
            raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def receiver_routes(desk: ReceiverDesk, *, max_body: int = MAX_BODY_BYTES) -> list[BaseRoute]:
    """The webhook route answering through ``desk``, and a health check for ``sluice up``."""

    async def hook(request: Request) -> Response:
        try:
            body = await _read_body(request, max_body)
        except _TooLarge:
            text = f"request body exceeds the maximum size of {max_body} bytes"
            return PlainTextResponse(text, status_code=413, headers={"Connection": "close"})
        except ValueError:
            return PlainTextResponse("bad request", status_code=400)
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            headers.setdefault(name, value)  # a repeated header reads as its first, as Go's Get
        call = WebhookCall(headers, body)
        answer = await run_in_threadpool(desk.handle, request.url.path, call)
        return PlainTextResponse(answer.word, status_code=answer.status)

    async def healthz(_request: Request) -> Response:
        return PlainTextResponse("ok")

    return [
        Route(WEBHOOK_PREFIX + "{digest}", hook, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
