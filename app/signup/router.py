"""GET and POST /join/{slug}: the public sign-up form (no API key).

The POST, in order: the list (404), the CSRF token against the cookie's nonce (403), the honeypot
(a bot gets the same "check your phone" page and nothing is stored), the per-IP limit (429 with
Retry-After; counted in its own transaction, so failed attempts count too), the consent box and the
disclosure version the page showed (422, 409), the number (422, never repeated back), the per-number
limit (429), then the consent record and the text asking for Y (app/audience/signup.py).
"""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.audience import signup
from app.deps import SessionDep, SettingsDep
from app.errors import AppError, Invalid, NotFound
from app.ops.docs import no_framing_headers
from app.signup import page

router = APIRouter(tags=["sign-up"], include_in_schema=False)
MAX_FIELDS = 10


def _html(body: str, status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store",
                                                          **no_framing_headers(page.CSP), **(headers or {})})


def _not_found() -> HTMLResponse:
    return _html(page.message("Not found", "There is no sign-up page here."), 404)


def _form(lst, token: str, error: str | None = None, status: int = 200) -> HTMLResponse:
    disclosure = signup.disclosure_text(lst)
    return _html(page.form(list_name=lst.name, brand=lst.brand, slug=lst.slug, disclosure=disclosure,
                           disclosure_id=signup.disclosure_id(disclosure), terms_url=lst.terms_url,
                           privacy_url=lst.privacy_url, token=token, error=error), status)


def _secure(settings) -> bool:
    return settings.public_base_url.startswith("https://")


@router.get("/join/{slug}", response_class=HTMLResponse)
async def join_page(slug: str, request: Request, session: SessionDep, settings: SettingsDep):
    try:
        lst = await signup.form_list(session, slug)
    except NotFound:
        return _not_found()
    nonce = request.cookies.get(page.COOKIE) or secrets.token_urlsafe(24)
    if len(nonce) > 64:
        nonce = secrets.token_urlsafe(24)
    response = _form(lst, page.make_token(settings.auth_token, nonce, slug))
    response.set_cookie(page.COOKIE, nonce, max_age=page.TOKEN_SECONDS, path="/join", httponly=True,
                        samesite="strict", secure=_secure(settings))
    return response


def _limited(seconds: int) -> HTMLResponse:
    return _html(page.message("Please try again later", "Too many sign-ups from here. Please try again later."),
                 429, {"Retry-After": str(seconds)})


@router.post("/join/{slug}", response_class=HTMLResponse)
async def join_submit(slug: str, request: Request, settings: SettingsDep):
    db = request.app.state.db
    async with db.session() as session:
        try:
            lst = await signup.form_list(session, slug)
        except NotFound:
            return _not_found()
    raw = (await request.body()).decode("utf-8", "replace")
    try:
        fields = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True, max_num_fields=MAX_FIELDS).items()}
    except ValueError:
        fields = {}
    nonce = request.cookies.get(page.COOKIE)
    if not page.token_ok(settings.auth_token, nonce, slug, fields.get("csrf")):
        return _html(page.message("This form has expired", "Please reload the page and try again."), 403)
    if fields.get("website"):  # the honeypot: a person never sees it, a bot fills it; told nothing
        return _done()
    ip = request.client.host if request.client else None
    async with db.unit_of_work() as session:  # committed even if the rest fails: failed attempts count
        wait = await signup.hit(session, f"form-ip:{ip}", limit=settings.signup_per_ip_per_hour,
                                window_seconds=signup.HOUR)
    if wait is not None:
        return _limited(wait)
    token = page.make_token(settings.auth_token, nonce, slug)
    if fields.get("consent") != "yes":
        return _form(lst, token, "Please tick the box to agree to receive text messages.", 422)
    disclosure = signup.disclosure_text(lst)
    if fields.get("disclosure_id") != signup.disclosure_id(disclosure):
        return _html(page.message("This page has changed", "Please reload the page and read the terms again."), 409)
    try:
        phone = signup.form_phone(fields.get("phone", "")[:40], settings)
    except Invalid as exc:
        text = ("We don't send texts to numbers in that country." if exc.code == "country_not_served"
                else "That number can't receive text messages. Please check it and try again.")
        return _form(lst, token, text, 422)
    async with db.unit_of_work() as session:
        wait = await signup.hit(session, f"form-phone:{phone}", limit=settings.signup_per_number_per_day,
                                window_seconds=signup.DAY)
    if wait is not None:
        return _limited(wait)
    try:
        async with db.unit_of_work() as session:
            await signup.form_signup(session, lst, phone=phone, ip=ip, user_agent=request.headers.get("user-agent"),
                                     page_url=f"{settings.public_base_url}/join/{slug}", disclosure=disclosure,
                                     settings=settings)
    except AppError as exc:
        return _html(page.message("We couldn't sign you up", "Please try again later."), exc.status)
    return _done()


def _done() -> HTMLResponse:
    return _html(page.message("Check your phone", "We've sent you a text message. Reply Y to confirm your "
                              "subscription. No other texts come until you do."))
