"""The web faces' dependencies, as `Annotated` types for page signatures: the faces themselves
(`WebFaces`: templates and the composition root), and the signed-in user a page is for, the
agency's staff (`Staff`, the panel) or the platform's operator (`Operator`, the console).
Signed out: to the sign-in page; signed in as another kind of user: 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from rebill.entrypoints.web.common import PageError, SignInRequired, Web
from rebill.services.access.users import WebSession


async def web_faces(request: Request) -> Web:
    """The faces `web.install` mounted into the app."""
    web: Web = request.app.state.web
    return web


WebFaces = Annotated[Web, Depends(web_faces)]


def _signed_in(request: Request, web: Web, kind: str) -> WebSession:
    session = web.session(request)
    if session is None:
        raise SignInRequired("/sign-in", request.url.path)
    if session.user.kind != kind:
        raise PageError(404, "this page does not exist")
    return session


def staff(request: Request, web: WebFaces) -> WebSession:
    """An agency user's session (the panel)."""
    return _signed_in(request, web, "agency")


def operator(request: Request, web: WebFaces) -> WebSession:
    """A platform user's session (the console)."""
    return _signed_in(request, web, "platform")


Staff = Annotated[WebSession, Depends(staff)]
Operator = Annotated[WebSession, Depends(operator)]
