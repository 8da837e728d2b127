"""Sign in with an API key in a browser, for the LangServe playground.

The playground cannot send an `Authorization` header (it has no setting for one), but the
browser sends same-origin cookies with every request it makes. So with API keys on,
`/login` takes a key once and keeps it in an HttpOnly, SameSite=Strict cookie that the
guards accept like a bearer key. Strict keeps the cookie off every cross-site request,
which is what would make a cookie usable for request forgery.
"""

from __future__ import annotations

import html
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.body import FORM, MULTIPART, form_body
from api.identity import KEY_COOKIE, ApiKeys

SESSION_SECONDS = 8 * 3600

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ragchat: sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<style>
body {{ font-family: system-ui, sans-serif; max-width: 28rem; margin: 4rem auto; }}
input, button {{ font-size: 1rem; padding: .5rem; width: 100%; box-sizing: border-box; }}
button {{ margin-top: .75rem; }} .error {{ color: #b91c1c; }}
</style></head><body>
<h1>ragchat</h1>
<p>Paste your API key to use the playground in this browser.</p>
{error}
<form method="post" action="/login">
<label for="key">API key</label>
<input id="key" name="key" type="password" autocomplete="current-password" required autofocus>
<input type="hidden" name="next" value="{next}">
<button type="submit">Sign in</button>
</form></body></html>
"""


def safe_next(target: str | None) -> str:
    """Only a path on this server: never `//host` or `https://...` (an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def login_page(next_path: str, error: str = "", status_code: int = 200) -> HTMLResponse:
    shown = f'<p class="error">{html.escape(error)}</p>' if error else ""
    body = PAGE.format(error=shown, next=html.escape(safe_next(next_path), quote=True))
    return HTMLResponse(body, status_code=status_code)


def login_router(keys: ApiKeys, dependencies: list[Any]) -> APIRouter:
    router = APIRouter(tags=["login"], dependencies=dependencies)

    @router.get("/login", response_class=HTMLResponse)
    async def login_form(next: str = "/") -> HTMLResponse:
        """A form that takes an API key for this browser (only when API keys are on)."""
        if not keys.enabled:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "API keys are off: no sign-in needed")
        return login_page(next)

    @router.post(
        "/login",
        response_class=HTMLResponse,
        response_model=None,
        dependencies=[form_body(FORM, MULTIPART)],
    )
    async def login(
        request: Request,
        key: Annotated[str, Form(max_length=512)],
        next: Annotated[str, Form()] = "/",
    ) -> Response:
        if not keys.enabled:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "API keys are off: no sign-in needed")
        if keys.user_for(key.strip()) is None:
            return login_page(next, "That key is not valid.", status.HTTP_401_UNAUTHORIZED)
        response = RedirectResponse(safe_next(next), status_code=status.HTTP_303_SEE_OTHER)
        response.set_cookie(
            KEY_COOKIE,
            key.strip(),
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @router.post("/logout", status_code=204)
    async def logout() -> Response:
        response = Response(status_code=204)
        response.delete_cookie(KEY_COOKIE, httponly=True, samesite="strict")
        return response

    return router
