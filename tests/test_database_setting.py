"""DATABASE_URL=sqlite:///... gets the SQLite tuning the default database has (WAL, IMMEDIATE
transactions, a 20 s busy timeout): the test suite's worker processes are given such a URL,
and an operator may be too. Without it, a worker's read-then-write transaction beside another
writer failed at once ("database is locked") instead of waiting its turn."""

from pathlib import Path

from webapp.environment import SQLITE_OPTIONS, database


def test_a_sqlite_url_is_tuned_like_the_default(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    default = database(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'other.sqlite3'}")
    given = database(tmp_path)
    assert given["OPTIONS"] == default["OPTIONS"] == SQLITE_OPTIONS
    assert given["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert Path(given["NAME"]) == tmp_path / "other.sqlite3"


def test_a_postgres_url_keeps_its_own_options(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@127.0.0.1:5432/bottega")
    assert "transaction_mode" not in database(tmp_path).get("OPTIONS", {})
