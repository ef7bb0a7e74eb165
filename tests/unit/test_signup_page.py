"""The sign-up page's CSRF token and its escaping (app/signup/page.py, pure)."""

from __future__ import annotations

from app.signup import page

SECRET = "test-auth-token"


def test_a_token_is_bound_to_its_nonce_page_secret_and_time():
    token = page.make_token(SECRET, "nonce-a", "deals", now=1_000_000)
    assert page.token_ok(SECRET, "nonce-a", "deals", token, now=1_000_100)
    assert not page.token_ok(SECRET, "nonce-b", "deals", token, now=1_000_100)
    assert not page.token_ok(SECRET, "nonce-a", "other", token, now=1_000_100)
    assert not page.token_ok("another-secret", "nonce-a", "deals", token, now=1_000_100)
    assert not page.token_ok(SECRET, "nonce-a", "deals", token, now=1_000_000 + page.TOKEN_SECONDS + 1)
    assert not page.token_ok(SECRET, "nonce-a", "deals", token, now=1_000_000 - 3600)  # issued "in the future"
    for broken in (None, "", "abc", "x.y", token.split(".")[0] + ".", "1000000." + "0" * 64):
        assert not page.token_ok(SECRET, "nonce-a", "deals", broken, now=1_000_100)
    assert not page.token_ok(SECRET, None, "deals", token, now=1_000_100)


def test_the_form_escapes_every_list_field_and_has_no_script():
    html = page.form(list_name="<b>VIP</b>", brand='Acme "&" Co', slug="deals", disclosure="I agree <script>",
                     disclosure_id="abc", terms_url="https://a.example/t?x=1&y=\"2\"", privacy_url="https://a.example/p",
                     token="1.ff", error="<i>oops</i>")
    assert "<b>VIP</b>" not in html and "&lt;b&gt;VIP&lt;/b&gt;" in html
    assert "<script>" not in html and "<i>oops</i>" not in html
    assert 'href="https://a.example/t?x=1&amp;y=&quot;2&quot;"' in html
    assert "<script" not in html.lower()
    assert page.CSP.startswith("default-src 'none'") and "'sha256-" in page.CSP
