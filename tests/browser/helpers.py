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


MAKE_VERSION = """
import shutil, tempfile
from pathlib import Path
from django.contrib.auth import get_user_model
from tests.webapp.playground.conftest import build_tiny_checkpoint
from webapp.registry.models import ModelVersion
admin = get_user_model().objects.get(username="admin")
v, _ = ModelVersion.objects.get_or_create(owner=admin, name=NAME, version=1,
                                          defaults={"params": 1, "step": 0, "is_chat": CHAT})
if not v.directory.exists():
    shutil.copytree(build_tiny_checkpoint(Path(tempfile.mkdtemp()), QUIET), v.directory)
"""


def make_tiny_version(stack, name: str, chat: bool = False, quiet_specials: bool = False) -> str:
    """A version of the tiny random model (context 64) for the stack's admin; its option
    label. `quiet_specials`: greedy answers never end by themselves (build_tiny_checkpoint)."""
    script = (MAKE_VERSION.replace("NAME", repr(name)).replace("CHAT", repr(chat))
              .replace("QUIET", repr(quiet_specials)))  # fmt: skip
    stack.manage("shell", "-c", script)
    return f"{name} v1{' · chat' if chat else ''} · Candidate"
