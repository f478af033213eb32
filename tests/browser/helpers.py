"""Steps shared by browser tests."""

import re
from pathlib import Path

from playwright.sync_api import expect

from tests.stack import ADMIN_PASSWORD
from tests.tiny import shared_tiny_checkpoint


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


# A version for the stack's admin made from a checkpoint directory this session built (the
# shell copies files and writes a row: no torch, no training in that process).
ADD_VERSIONS = """
import shutil
from django.contrib.auth import get_user_model
from webapp.registry.models import ModelVersion
admin = get_user_model().objects.get(username="admin")
for name, source, chat in VERSIONS:
    v, _ = ModelVersion.objects.get_or_create(owner=admin, name=name, version=1,
                                              defaults={"params": 1, "step": 0, "is_chat": chat,
                                                        "val_bpb": VAL_BPB})
    if not v.directory.exists():
        shutil.copytree(source, v.directory)
    print(v.directory)
"""


def add_versions(
    stack, *versions: tuple[str, Path, bool], val_bpb: float | None = None
) -> list[str]:
    """Versions 1 of (name, checkpoint directory, is_chat) for the stack's admin, made in one
    `manage.py shell`, each with `val_bpb` as its figure; their directories."""
    script = ADD_VERSIONS.replace("VAL_BPB", repr(val_bpb))
    script = script.replace("VERSIONS", repr([(n, str(p), c) for n, p, c in versions]))
    return stack.manage("shell", "-c", script).strip().splitlines()[-len(versions) :]


def make_tiny_version(stack, name: str, chat: bool = False, quiet_specials: bool = False,
                      val_bpb: float | None = None) -> str:  # fmt: skip
    """A version of the session's tiny random model (context 64) for the stack's admin; its
    playground option label (with " · X.XXX bpb" where it has a `val_bpb`). `quiet_specials`:
    greedy answers never end by themselves (tests/tiny.py)."""
    checkpoint = shared_tiny_checkpoint(quiet_specials=quiet_specials)
    add_versions(stack, (name, checkpoint, chat), val_bpb=val_bpb)
    bpb = f" · {val_bpb:.3f} bpb" if val_bpb is not None else ""
    return f"{name} v1{' · chat' if chat else ''} · Candidate{bpb}"
