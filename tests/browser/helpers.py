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


def leaderboard_cell(page, version: str, task: str):
    """The cell of `version`'s figure under the task labelled `task` on the evaluation
    leaderboard (the version as "name vN"); its link opens the items."""
    headers = page.locator("#leaderboard thead th").all_inner_texts()
    column = next(i for i, h in enumerate(headers) if h.startswith(task)) + 1
    row = page.locator("#leaderboard tbody tr", has_text=f"/{version}")
    return row.locator(f"td:nth-child({column})")
