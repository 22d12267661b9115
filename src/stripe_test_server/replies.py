"""Writing the server's answers: JSON, HTML pages, and `303 See Other` redirects."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

from stripe_test_server import pages
from stripe_test_server.values import Obj

HTML = "text/html; charset=utf-8"


def send(
    request: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    headers: dict[str, str],
    content_type: str = "application/json",
) -> None:
    request.send_response(status)
    request.send_header("Content-Type", content_type)
    request.send_header("Content-Length", str(len(body)))
    for name, value in headers.items():
        request.send_header(name, value)
    request.end_headers()
    request.wfile.write(body)


def send_json(request: BaseHTTPRequestHandler, status: int, payload: Obj) -> None:
    send(request, status, json.dumps(payload, indent=2).encode(), {})


def send_html(request: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
    send(request, status, body, {}, HTML)


def redirect(request: BaseHTTPRequestHandler, location: str) -> None:
    body = pages.result_page("Redirecting", "Continue to the next page.", True, location)
    send(request, 303, body, {"Location": location}, HTML)
