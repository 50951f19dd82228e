"""The registry's own error pages, with a way back, and a favicon."""

from __future__ import annotations

import re


def text_of(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def test_an_unknown_address_is_the_registrys_own_page_with_a_way_back(as_role, web):
    owner = as_role("owner")
    for browser in (owner, web):
        response = browser.get("/no/such/page")
        page = text_of(response)
        assert response.status_code == 404
        assert "<h1>Page not found</h1>" in page and "There is no page at this address" in page
        assert "requested URL was not found on the server" not in page  # not the framework's words
        assert 'href="/">Back to the home page</a>' in page
    assert 'href="/systems">Search the inventory</a>' in text_of(owner.get("/no/such/page"))
    assert 'href="/login">Sign in</a>' in text_of(web.get("/no/such/page"))
    assert "/static/favicon.svg" in text_of(owner.get("/no/such/page"))
    response = owner.get("/systems/99999999/history")
    assert response.status_code == 404 and "Readiness Registry" in text_of(response)


def test_the_favicon_is_served(web):
    response = web.get("/favicon.ico")
    assert response.status_code == 200 and response.mimetype == "image/vnd.microsoft.icon"
    assert response.data[:4] == b"\x00\x00\x01\x00"  # an ICO header
    svg = web.get("/static/favicon.svg")
    assert svg.status_code == 200 and b"<svg" in svg.data


def test_text_fields_say_their_limit_beside_the_field(as_role):
    page = " ".join(as_role("owner").get("/systems/new").get_data(as_text=True).split())
    assert 'maxlength="300"' in page and "At most 300 characters." in page  # the name
    assert "At most 4,000 characters." in page  # the purpose
