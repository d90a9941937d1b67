"""The prediction history: durable, de-duplicated by file content and model version, and resumable scans."""

from __future__ import annotations

import csv
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from osteo_desktop.core.results.history import History, HistoryEntry, default_history_path
from osteo_desktop.core.model.card import sha256_of
from osteo_desktop.core.model.runtime import Prediction
from osteo_desktop.core.pipeline.scanning import scan_files
from osteo_desktop.core.results.result import FileResult

REPO_ROOT = Path(__file__).resolve().parents[1]


def _prediction(probability: float, version: str = "test-1", warnings: list[str] | None = None) -> Prediction:
    label = "osteoporosis" if probability >= 0.5 else "normal"
    return Prediction(label=label, probability=probability, confidence=max(probability, 1 - probability), threshold=0.5,
                      model_version=version, logit=0.0, warnings=list(warnings or []), model_sha256=f"sha-of-{version}")


@pytest.fixture
def history(tmp_path):
    with History(tmp_path / "history.sqlite3") as opened:
        yield opened


def test_default_location_follows_osteo_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("OSTEO_DATA_DIR", str(tmp_path / "data"))
    assert default_history_path() == tmp_path / "data" / "history.sqlite3"
    with History() as opened:
        assert opened.path == tmp_path / "data" / "history.sqlite3"
    assert (tmp_path / "data" / "history.sqlite3").is_file()


def test_record_find_and_list_newest_first(history, knee_png, knee_jpeg):
    first = history.record(knee_png, _prediction(0.8, warnings=["small image"]))
    second = history.record(knee_jpeg, _prediction(0.2))
    assert isinstance(first, HistoryEntry)
    assert first.file_sha256 == sha256_of(knee_png)
    assert (first.label, first.probability, first.warnings) == ("osteoporosis", 0.8, ["small image"])
    assert [e.id for e in history.entries()] == [second.id, first.id]
    assert history.find(first.file_sha256, "sha-of-test-1") == first
    assert history.find(first.file_sha256, "sha-of-another-model") is None


def test_same_path_content_and_model_updates_instead_of_duplicating(history, knee_png):
    sha = sha256_of(knee_png)
    elsewhere = history.record("/old/place.png", _prediction(0.3), file_sha256=sha)
    first = history.record("/new/place.png", _prediction(0.2), file_sha256=sha)
    updated = history.record("/new/place.png", _prediction(0.7), file_sha256=sha)
    other_model = history.record("/new/place.png", _prediction(0.6, version="test-2"), file_sha256=sha)
    assert history.count() == 3  # /old and /new with one model, /new with the other
    assert updated.id == first.id and elsewhere.id != first.id and other_model.id != updated.id
    assert history.find(sha, "sha-of-test-1") == updated  # by content alone: the newest
    assert (updated.path, updated.label) == ("/new/place.png", "osteoporosis")


def test_failed_rows_are_not_recorded(history):
    with pytest.raises(ValueError):
        history.record("x.png", FileResult(path="x.png", error="x.png: not an image"), file_sha256="0" * 64)
    assert history.count() == 0


def test_database_is_in_wal_mode_and_survives_reopening(tmp_path):
    path = tmp_path / "history.sqlite3"
    with History(path) as opened:
        opened.record("a.png", _prediction(0.9), file_sha256="a" * 64)
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with History(path) as reopened:
        assert reopened.count() == 1


def test_a_batch_is_all_or_nothing(history):
    good = ("a.png", _prediction(0.9), "a" * 64)
    with pytest.raises(ValueError):
        history.record_many([good, ("b.png", FileResult(path="b.png", error="broken"), "b" * 64)])
    assert history.count() == 0


def test_threads_can_record_at_once(history):
    def worker(offset: int) -> None:
        for index in range(25):
            history.record(f"{offset}-{index}.png", _prediction(0.4), file_sha256=f"{offset:02d}{index:062d}")

    threads = [threading.Thread(target=worker, args=(offset,)) for offset in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert history.count() == 100


def test_a_damaged_database_is_set_aside_not_fatal(tmp_path):
    path = tmp_path / "history.sqlite3"
    path.write_bytes(b"this is not an SQLite database" * 100)
    with History(path) as opened:
        opened.record("a.png", _prediction(0.9), file_sha256="a" * 64)
        assert opened.count() == 1
    aside = [p for p in tmp_path.iterdir() if ".damaged-" in p.name]
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not an SQLite database")


def test_scan_with_history_reuses_results_without_inference(tmp_path, classifier, knee_images, monkeypatch):
    paths = knee_images["normal"][:2] + knee_images["osteoporosis"][:2]
    with History(tmp_path / "history.sqlite3") as history:
        first = list(scan_files(paths, classifier, batch_size=3, history=history))
        assert all(row.ok and not row.from_history for row in first)
        assert history.count() == len(paths)

        def no_inference(inputs):
            raise AssertionError("a recorded result must be reused, not recomputed")

        monkeypatch.setattr(classifier, "run", no_inference)
        second = list(scan_files(paths, classifier, batch_size=3, history=history))
        assert history.count() == len(paths)
    assert all(row.from_history for row in second)
    for before, after in zip(first, second):
        assert (after.path, after.label, after.model_version) == (before.path, before.label, before.model_version)
        assert after.probability == pytest.approx(before.probability, abs=1e-9)
        assert after.knees == before.knees and after.knees  # every knee comes back from the history too


def test_a_result_recorded_before_knees_is_analysed_again(tmp_path, classifier, knee_images):
    """Same content, model version and gate, but recorded without knees (a whole-film result): not reused."""
    path = knee_images["normal"][0]
    with History(tmp_path / "history.sqlite3") as history:
        old = FileResult(path=str(path), label="osteoporosis", probability=0.9, confidence=0.9, threshold=0.5,
                         model_version=classifier.version, scope_gate=classifier.scope_gate_id,
                         model_sha256=classifier.model_sha256)
        history.record(str(path), old, file_sha256=sha256_of(path))
        (row,) = scan_files([path], classifier, history=history)
    assert not row.from_history and row.knees and row.probability == max(k.probability for k in row.knees)


def _read_entries(db: Path) -> dict[str, tuple]:
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        rows = connection.execute("SELECT file_sha256, id, recorded_at, probability FROM predictions").fetchall()
    finally:
        connection.close()
    return {sha: rest for sha, *rest in rows}


@pytest.mark.slow
def test_scan_killed_mid_way_resumes_without_losing_or_duplicating(tmp_path, knee_manifest):
    from shared_paths import KNEE_DIR

    folder = tmp_path / "scan"
    folder.mkdir()
    for row in knee_manifest:
        os.symlink(KNEE_DIR / row["file"], folder / Path(row["file"]).name)
    total = len(knee_manifest)
    out = tmp_path / "out.csv"
    out.write_text("earlier export\n")
    data_dir = tmp_path / "data"
    db = data_dir / "history.sqlite3"
    env = dict(os.environ, OSTEO_DATA_DIR=str(data_dir), PYTHONPATH=str(REPO_ROOT))
    command = [sys.executable, "-m", "osteo_desktop", "scan", str(folder), "--csv", str(out), "--batch-size", "8"]

    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path)
    deadline = time.monotonic() + 120
    recorded_before_kill: dict[str, tuple] = {}
    while time.monotonic() < deadline and process.poll() is None:
        if db.exists():
            try:
                if len(_read_entries(db)) >= 40:
                    break
            except sqlite3.OperationalError:
                pass  # the schema is being created
        time.sleep(0.02)  # waiting for a condition, not timing anything
    assert process.poll() is None, "the scan finished before it could be killed; the test needs a slower scan"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    recorded_before_kill = _read_entries(db)
    with sqlite3.connect(db) as connection:  # the kill left a consistent database (WAL recovery included)
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    print(f"killed after {len(recorded_before_kill)} of {total} results were recorded")
    assert 40 <= len(recorded_before_kill) < total
    assert out.read_text() == "earlier export\n", "a killed scan must not leave a half-written export"

    rerun = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                           timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    after = _read_entries(db)
    content_sha = {Path(row["file"]).name: sha256_of(KNEE_DIR / row["file"]) for row in knee_manifest}
    assert total == len(set(content_sha.values()))
    for sha, entry in recorded_before_kill.items():
        assert after[sha] == entry, "a result recorded before the kill was changed or recomputed"
    assert f"({len(recorded_before_kill)} reused from the history)" in rerun.stderr, rerun.stderr
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    # Every film is answered, none fails: a result, or (a film on which no knee joint is found, e.g. a partial
    # exposure of the femur) no result, which the history does not record. The history holds exactly the results.
    assert len(rows) == total and all(row["error"] == "" and (row["label"] or row["out_of_scope"]) for row in rows)
    answered = {content_sha[Path(row["path"]).name] for row in rows if row["label"]}
    assert set(after) == answered and len(answered) >= total - 3
    by_name = {Path(row["path"]).name: row for row in rows}
    for name, sha in content_sha.items():
        if sha in recorded_before_kill:
            assert float(by_name[name]["probability"]) == pytest.approx(recorded_before_kill[sha][2], abs=1e-6)


def test_a_locked_database_is_reported_not_set_aside(tmp_path, monkeypatch):
    from osteo_desktop.core.results.history import HistoryError

    path = tmp_path / "history.sqlite3"
    with History(path) as opened:
        opened.record("a.png", _prediction(0.9), file_sha256="a" * 64)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("PRAGMA locking_mode=EXCLUSIVE")
    blocker.execute("BEGIN EXCLUSIVE")
    connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *args, **kwargs: connect(*args, **dict(kwargs, timeout=0.1)))
    try:
        with pytest.raises(HistoryError, match="locked"):
            History(path)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        monkeypatch.undo()
    assert not [p for p in tmp_path.iterdir() if ".damaged-" in p.name]
    with History(path) as reopened:
        assert reopened.count() == 1


def test_read_and_record_failures_are_history_errors(tmp_path):
    from osteo_desktop.core.results.history import HistoryError

    history = History(tmp_path / "history.sqlite3")
    with pytest.raises(HistoryError, match="vanished.png"):
        history.record(tmp_path / "vanished.png", _prediction(0.9))  # no hash given and the file is gone
    assert history.count() == 0
    history.close()
    for read in (history.count, history.entries, lambda: history.find("a" * 64, "sha-of-test-1")):
        with pytest.raises(HistoryError, match="cannot read the history database"):
            read()


def test_damage_is_recognised_by_its_message_where_sqlite_gives_no_error_code(tmp_path, monkeypatch):
    """Python 3.10's sqlite3 exceptions carry no sqlite_errorcode: the message alone must identify damage."""
    path = tmp_path / "history.sqlite3"
    path.write_bytes(b"damaged")
    real_open = History._open
    calls = []

    def open_once_malformed(self):
        calls.append(1)
        if len(calls) == 1:
            raise sqlite3.DatabaseError("database disk image is malformed")  # no error code attached
        return real_open(self)

    monkeypatch.setattr(History, "_open", open_once_malformed)
    with History(path) as opened:
        assert opened.count() == 0
    assert len([p for p in tmp_path.iterdir() if ".damaged-" in p.name]) == 1


def test_the_readers_agreement_is_stored_kept_on_re_recording_and_cleared_on_request(history, knee_png):
    sha = sha256_of(knee_png)
    history.record(knee_png, _prediction(0.8), file_sha256=sha)
    assert history.find(sha, "sha-of-test-1").reader_agreement is None
    assert history.set_agreement(sha, "sha-of-test-1", "disagree") is True
    assert history.find(sha, "sha-of-test-1").reader_agreement == "disagree"
    # Analysing the same file with the same model again (opening it from the worklist) keeps the reader's verdict.
    history.record(knee_png, _prediction(0.8), file_sha256=sha)
    assert history.find(sha, "sha-of-test-1").reader_agreement == "disagree"
    assert history.set_agreement(sha, "sha-of-test-1", None) is True
    assert history.find(sha, "sha-of-test-1").reader_agreement is None
    assert history.set_agreement(sha, "another-model", "agree") is False  # nothing recorded to agree with
    # Keyed on the exact model (card and files), not its version: a hand-edited card with the same version string
    # is another model, and the reader's verdict on one model's result is not given to it.
    assert history.set_agreement(sha, "sha-of-an-edited-card", "agree") is False
    with pytest.raises(ValueError):
        history.set_agreement(sha, "sha-of-test-1", "maybe")


def test_a_database_from_before_the_agreement_gains_the_column_empty(tmp_path, knee_png):
    path = tmp_path / "old.sqlite3"
    connection = sqlite3.connect(path)
    connection.executescript("""
        CREATE TABLE predictions (id INTEGER PRIMARY KEY, recorded_at TEXT NOT NULL, path TEXT NOT NULL,
            file_sha256 TEXT NOT NULL, label TEXT NOT NULL, probability REAL NOT NULL, confidence REAL NOT NULL,
            threshold REAL NOT NULL, model_version TEXT NOT NULL, warnings TEXT NOT NULL DEFAULT '[]',
            scope_gate TEXT, UNIQUE (file_sha256, model_version));
        INSERT INTO predictions VALUES (1, '2026-01-01T00:00:00+00:00', '/a.png', 'ab', 'normal', 0.1, 0.9, 0.339, 'm',
            '[]', NULL);
        PRAGMA user_version=1;""")
    connection.close()
    with History(path) as opened:
        (old,) = opened.entries()  # kept and listed, with neither a verdict nor a model digest (never reused)
        assert (old.path, old.reader_agreement, old.model_sha256) == ("/a.png", None, None)
        assert opened.set_agreement("ab", "m", "agree") is False  # "m" is a version, not the exact model
        opened.record(knee_png, _prediction(0.8), file_sha256="ab")  # the same content analysed by a known model
        assert opened.set_agreement("ab", "sha-of-test-1", "agree")
        assert opened.find("ab", "sha-of-test-1").reader_agreement == "agree"
        assert opened.count() == 2


def test_copies_get_a_row_each_and_a_moved_file_never_takes_a_row_over(history, tmp_path, knee_png):
    """Same content and model: a copy is a row of its own (each listed in its own folder), recording the same path
    again updates it, and a file that is no longer at its recorded path keeps its row (it may be on a share that is
    only unmounted for now) while the new path gets its own. The result is still found by content, the newest
    copy's when the file has no entry of its own."""
    sha = sha256_of(knee_png)
    first, second, moved = (tmp_path / name / "knee.png" for name in ("a", "b", "c"))
    for copy in (first, second):
        copy.parent.mkdir()
        copy.write_bytes(knee_png.read_bytes())
    a = history.record(first, _prediction(0.3), file_sha256=sha)
    b = history.record(second, _prediction(0.3), file_sha256=sha)
    again = history.record(second, _prediction(0.3), file_sha256=sha)
    assert a.id != b.id and again.id == b.id and history.count() == 2
    assert sorted(Path(e.path).parent.name for e in history.entries()) == ["a", "b"]
    assert history.find(sha, "sha-of-test-1", first).id == a.id  # the file's own entry first
    assert history.find(sha, "sha-of-test-1", tmp_path / "elsewhere.png").id == b.id  # by content: the newest copy
    assert history.set_agreement(sha, "sha-of-test-1", "disagree")
    (tmp_path / "b").rename(tmp_path / "b.offline")  # b's folder out of reach (an unmounted share), not deleted
    moved.parent.mkdir()
    moved.write_bytes(knee_png.read_bytes())
    history.record(moved, _prediction(0.3), file_sha256=sha)
    kept = {Path(e.path).parent.name: e.reader_agreement for e in history.entries()}
    assert kept == {"a": "disagree", "b": "disagree", "c": None}  # b's row, its folder and its verdict all kept


def test_a_scanned_copy_reuses_the_result_and_is_listed_in_its_own_folder(tmp_path, classifier, knee_png, monkeypatch):
    """Two copies scanned together are two entries, one per folder; a third copy scanned later reuses the result
    (no inference) and is recorded in its own folder too; scanning them all again writes nothing new."""
    folders = [tmp_path / name for name in ("one", "two", "three")]
    for folder in folders:
        folder.mkdir()
        (folder / "knee.png").write_bytes(knee_png.read_bytes())
    with History(tmp_path / "history.sqlite3") as history:
        first = list(scan_files([f / "knee.png" for f in folders[:2]], classifier, history=history))
        assert all(row.ok for row in first)

        def no_inference(inputs):
            raise AssertionError("a copy's result must be reused, not recomputed")

        monkeypatch.setattr(classifier, "run", no_inference)
        (later,) = scan_files([folders[2] / "knee.png"], classifier, history=history)
        assert later.from_history and later.probability == first[0].probability
        entries = history.entries()
        assert sorted(Path(e.path).parent.name for e in entries) == ["one", "three", "two"]
        assert {e.file_sha256 for e in entries} == {sha256_of(knee_png)}
        before = [(e.id, e.recorded_at) for e in history.entries()]
        rows = list(scan_files([f / "knee.png" for f in folders], classifier, history=history))
        assert all(row.from_history for row in rows)
        assert [(e.id, e.recorded_at) for e in history.entries()] == before  # own entries reused, none rewritten


def test_a_version_two_history_is_re_keyed_with_the_path(tmp_path):
    """A history keyed on (file_sha256, model_sha256) (version 2) is rebuilt with the path in the key, its rows
    kept (id and path), so that a copy can then be recorded beside its original."""
    path = tmp_path / "v2.sqlite3"
    original = tmp_path / "a.png"
    original.write_bytes(b"a")
    with History(path) as history:
        kept = history.record(original, _prediction(0.3), file_sha256="a" * 64)
    connection = sqlite3.connect(path)
    (table,) = connection.execute("SELECT sql FROM sqlite_master WHERE name = 'predictions'").fetchone()
    assert "UNIQUE (path, file_sha256, model_sha256)" in table
    connection.executescript(f"""
        {table.replace("predictions", "v2", 1).replace("UNIQUE (path, ", "UNIQUE (")};
        INSERT INTO v2 SELECT * FROM predictions; DROP TABLE predictions; ALTER TABLE v2 RENAME TO predictions;
        PRAGMA user_version=2;""")
    connection.close()
    with History(path) as history:
        assert [(e.id, e.path) for e in history.entries()] == [(kept.id, str(original))]
        history.record(tmp_path / "copy.png", _prediction(0.3), file_sha256="a" * 64)
        assert history.count() == 2
    connection = sqlite3.connect(path)
    indexes = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    connection.close()
    assert "predictions_content" in indexes


def test_the_lookup_by_content_uses_an_index(history):
    """find() and the copy check look up by content and model; with the path leading the key, they need an index
    of their own, or every file of a scan reads the whole table (a re-keyed old history gets it too)."""
    connection = sqlite3.connect(history.path)
    plan = connection.execute("EXPLAIN QUERY PLAN SELECT id FROM predictions WHERE file_sha256 = ? AND model_sha256 = ?",
                              ("a" * 64, "b" * 64)).fetchall()
    connection.close()
    assert any("USING INDEX predictions_content" in row[-1] or "USING COVERING INDEX predictions_content" in row[-1]
               for row in plan), plan


def test_a_plain_index_on_the_key_columns_is_not_the_key(tmp_path):
    """Only a UNIQUE index on (path, file_sha256, model_sha256) is the current key: a version-2 table that merely has
    an ordinary index on those three columns (made by hand, say) is still re-keyed, or a copy would overwrite its
    original's row."""
    path = tmp_path / "v2.sqlite3"
    (tmp_path / "a.png").write_bytes(b"a")  # still there: the copy is a copy, not the file moved
    with History(path) as history:
        history.record(tmp_path / "a.png", _prediction(0.3), file_sha256="a" * 64)
    connection = sqlite3.connect(path)
    (table,) = connection.execute("SELECT sql FROM sqlite_master WHERE name = 'predictions'").fetchone()
    connection.executescript(f"""
        {table.replace("predictions", "v2", 1).replace("UNIQUE (path, ", "UNIQUE (")};
        INSERT INTO v2 SELECT * FROM predictions; DROP TABLE predictions; ALTER TABLE v2 RENAME TO predictions;
        CREATE INDEX plain_key ON predictions (path, file_sha256, model_sha256);
        PRAGMA user_version=2;""")
    connection.close()
    with History(path) as history:
        history.record(tmp_path / "copy.png", _prediction(0.3), file_sha256="a" * 64)
        assert sorted(Path(e.path).name for e in history.entries()) == ["a.png", "copy.png"]
