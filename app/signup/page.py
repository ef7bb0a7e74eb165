"""The sign-up page's HTML and its CSRF token. Pure: no I/O.

Nothing a visitor typed is ever written back into a page (an error page does not repeat the
number); every list field is escaped. No external assets: one inline style sheet, allowed by its
hash in the Content-Security-Policy, and no script at all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import time

COOKIE = "fineline_join"
TOKEN_SECONDS = 2 * 3600  # a form left open longer asks to be reloaded

_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem;color:#1d2330}"
    "h1{font-size:1.4rem}label{display:block;margin:.75rem 0}"
    "input[type=tel]{font-size:1rem;padding:.4rem;width:100%;box-sizing:border-box}"
    ".consent{display:flex;gap:.6rem;align-items:flex-start;font-size:.9rem}"
    ".consent input{margin-top:.3rem}.error{color:#a4161a;font-weight:600}"
    ".hp{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}"
    "button{font-size:1rem;padding:.5rem 1.2rem}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
CSP = f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; base-uri 'none'"


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"fineline join form csrf", hashlib.sha256).digest()


def _mac(secret: str, nonce: str, slug: str, issued: int) -> str:
    message = f"{nonce}|{slug}|{issued}".encode()
    return hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def make_token(secret: str, nonce: str, slug: str, *, now: float | None = None) -> str:
    """A token for the form, bound to the cookie's nonce, the page and the time it was issued."""
    issued = int(now if now is not None else time.time())
    return f"{issued}.{_mac(secret, nonce, slug, issued)}"


def token_ok(secret: str, nonce: str | None, slug: str, token: str | None, *, now: float | None = None) -> bool:
    if not nonce or not token or "." not in token:
        return False
    issued_text, _, mac = token.partition(".")
    if not issued_text.isdigit():
        return False
    issued, now = int(issued_text), now if now is not None else time.time()
    if not (issued - 60 <= now <= issued + TOKEN_SECONDS):
        return False
    return hmac.compare_digest(mac, _mac(secret, nonce, slug, issued))


def _document(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="referrer" content="no-referrer"><title>{html.escape(title)}</title>'
            f"<style>{_STYLE}</style></head><body>{body}</body></html>")


def form(*, list_name: str, brand: str, slug: str, disclosure: str, disclosure_id: str, terms_url: str,
         privacy_url: str, token: str, error: str | None = None) -> str:
    """The sign-up form: a phone field, the disclosure beside an unchecked consent box, a honeypot."""
    e = html.escape
    error_html = f'<p class="error" role="alert">{e(error)}</p>' if error else ""
    return _document(f"Join {list_name} — {brand}", (
        f"<h1>Get texts from {e(brand)}</h1>{error_html}"
        f'<form method="post" action="/join/{e(slug)}" id="signup">'
        f'<input type="hidden" name="csrf" value="{e(token)}">'
        f'<input type="hidden" name="disclosure_id" value="{e(disclosure_id)}">'
        f'<label>Mobile number <input type="tel" name="phone" id="phone" autocomplete="tel" required></label>'
        f'<div class="hp" aria-hidden="true"><label>Leave this empty '
        f'<input type="text" name="website" tabindex="-1" autocomplete="off"></label></div>'
        f'<label class="consent"><input type="checkbox" name="consent" value="yes" id="consent">'
        f'<span id="disclosure">{e(disclosure)}</span></label>'
        f'<p><a href="{e(terms_url)}" rel="noopener noreferrer">Terms</a> · '
        f'<a href="{e(privacy_url)}" rel="noopener noreferrer">Privacy</a></p>'
        f'<button type="submit">Sign up</button></form>'
    ))


def message(title: str, text: str) -> str:
    """A page that only says something (a success, or why not); never anything the visitor typed."""
    return _document(title, f'<h1>{html.escape(title)}</h1><p id="message">{html.escape(text)}</p>')
