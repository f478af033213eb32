"""Steps shared by browser tests."""

import re

from playwright.sync_api import expect

from tests.stack import ADMIN_PASSWORD


def sign_in(page, stack):
    page.goto(stack.url + "/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Welcome to Bottega")).to_be_visible()
