"""A person signs in and watches round trips through every queue arrive on the status page."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_it_shows_live_round_trips_for_every_queue(page, stack):
    sign_in(page, stack)
    page.get_by_role("link", name="Status", exact=True).click()
    expect(page.get_by_role("heading", name="System status")).to_be_visible()
    expect(page.locator("#socket-state")).to_have_text("Live.")
    first = {}
    for queue in ["cpu", "gpu_train", "gpu_infer"]:
        row = page.locator(f'tr[data-queue="{queue}"]')
        expect(row).to_have_class("ok", timeout=15_000)
        expect(row.locator(".worker")).to_contain_text(f"{queue}@")
        first[queue] = row.locator(".rtt").inner_text()
        assert float(first[queue]) > 0
    # The page keeps pinging: a later round trip replaces the first one (live, not a snapshot).
    expect(page.locator('tr[data-queue="cpu"] .rtt')).not_to_have_text(first["cpu"], timeout=15_000)


def test_it_signs_out(page, stack):
    sign_in(page, stack)
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.goto(stack.url + "/status/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/status/"))


def test_it_tells_a_wrong_password(page, stack):
    page.goto(stack.url + "/accounts/login/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("didn't match")
