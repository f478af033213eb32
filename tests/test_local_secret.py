"""`make run` on a fresh clone: the launcher makes a secret once in var/ and reuses it."""

import os

from webapp.devstack.launcher import _local_defaults


def test_it_makes_the_secret_once_and_reuses_it(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY")
    monkeypatch.delenv("DEBUG")
    _local_defaults(tmp_path)
    first = (tmp_path / "secret_key").read_text().strip()
    assert len(first) >= 50 and os.environ["SECRET_KEY"] == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600

    monkeypatch.delenv("SECRET_KEY")
    _local_defaults(tmp_path)  # the next run: sessions signed with the same key survive
    assert os.environ["SECRET_KEY"] == first


def test_the_operators_settings_win(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "given")
    monkeypatch.setenv("DEBUG", "false")
    _local_defaults(tmp_path)
    assert not (tmp_path / "secret_key").exists()
    assert os.environ["SECRET_KEY"] == "given" and os.environ["DEBUG"] == "false"
