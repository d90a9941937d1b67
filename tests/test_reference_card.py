"""The model card read against the JSON itself and hand-made cards, and every refusal's words (issue 15).

Expected values come from the card file read as plain JSON and from checksums computed here with hashlib; a
refusal is checked for what it tells the user (which file, what is wrong), not only for its type.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from osteo_desktop.core.errors import ModelFormatError, ModelIntegrityError
from osteo_desktop.core.model.card import load_model_card, model_sha256, sha256_of, write_model_card

from shared_paths import REPO_ROOT

SHIPPED = REPO_ROOT / "model_weights"


def _raw() -> dict:
    return json.loads((SHIPPED / "model_card.json").read_text())


def _card_dir(tmp_path: Path, raw: dict | list | str) -> Path:
    folder = tmp_path / "model"
    folder.mkdir(exist_ok=True)
    text = raw if isinstance(raw, str) else json.dumps(raw)
    (folder / "model_card.json").write_text(text)
    return folder


def test_the_shipped_card_field_by_field():
    raw = _raw()
    card = load_model_card(SHIPPED)
    assert card.directory == SHIPPED
    assert (card.name, card.version, card.date) == (raw["name"], raw["version"], raw["date"])
    assert card.threshold == raw["threshold"] and card.threshold_rule == raw.get("threshold_rule", "")
    assert card.temperature == raw["calibration"]["temperature"]
    assert card.hflip_tta is bool(raw.get("hflip_tta", False))
    assert card.labels == (raw["labels"]["negative"], raw["labels"]["positive"])
    assert card.files == raw["files"] and card.raw == raw
    assert card.preprocessing.input_size == raw["preprocessing"]["input_size"]
    assert card.summary_metrics == raw.get("metrics", {}).get("shipped", {})
    for role, entry in raw["files"].items():
        path = card.verified_path(role)
        assert path == SHIPPED / entry["path"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]


def test_optional_fields_take_their_defaults(tmp_path):
    raw = _raw()
    for key in ("threshold_rule", "calibration", "hflip_tta", "metrics"):
        raw.pop(key, None)
    card = load_model_card(_card_dir(tmp_path, raw))
    assert (card.threshold_rule, card.temperature, card.hflip_tta, card.summary_metrics) == ("", 1.0, False, {})
    raw["calibration"] = {}
    raw["hflip_tta"] = 1
    raw["metrics"] = {"shipped": {"auc": 0.8}}
    card = load_model_card(_card_dir(tmp_path, raw))
    assert (card.temperature, card.hflip_tta, card.summary_metrics) == (1.0, True, {"auc": 0.8})
    card.summary_metrics["auc"] = 0.1
    assert card.raw["metrics"]["shipped"]["auc"] == 0.8  # a copy for display, not the card's own


@pytest.mark.parametrize("change, message", [
    (lambda raw: "{ not json", r"^the model card .*model_card.json cannot be read: "),
    (lambda raw: [raw], r"^the model card .*model_card.json is not a JSON object$"),
    (lambda raw: dict(raw, format="other/2"), r"^model card format 'other/2' is not 'osteo-desktop-model/1'$"),
    (lambda raw: {k: v for k, v in raw.items() if k != "format"}, r"^model card format None is not "),
    (lambda raw: {k: v for k, v in raw.items() if k != "version"}, r"^the model card .*model_card.json is incomplete "
                                                                   r"or invalid: 'version'$"),
    (lambda raw: dict(raw, calibration={"temperature": 0}), r"^the model card .* has an invalid calibration temperature 0\.0$"),
    (lambda raw: dict(raw, calibration={"temperature": -1}), r"invalid calibration temperature -1\.0$"),
    (lambda raw: dict(raw, calibration={"temperature": "inf"}), r"invalid calibration temperature inf$"),
    (lambda raw: dict(raw, threshold=1.5), r"^the model card .* has a threshold 1\.5 outside \[0, 1\]$"),
    (lambda raw: dict(raw, threshold=-0.01), r"has a threshold -0\.01 outside \[0, 1\]$"),
])
def test_a_bad_card_is_refused_with_what_is_wrong(tmp_path, change, message):
    with pytest.raises(ModelFormatError, match=message):
        load_model_card(_card_dir(tmp_path, change(_raw())))


@pytest.mark.parametrize("threshold", [0.0, 1.0])
def test_the_threshold_may_be_at_either_end(tmp_path, threshold):
    assert load_model_card(_card_dir(tmp_path, dict(_raw(), threshold=threshold))).threshold == threshold


def test_a_missing_card_and_undecodable_bytes(tmp_path):
    with pytest.raises(ModelIntegrityError, match=r"^no model card at .*model_card.json; the model is missing$"):
        load_model_card(tmp_path)
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model_card.json").write_bytes(b'{"format": "\xff"}')
    with pytest.raises(ModelFormatError, match="cannot be read"):
        load_model_card(folder)


def test_verified_path_refusals_name_the_file(tmp_path):
    raw = _raw()
    raw["files"] = {"head": {"path": "head.npz", "sha256": "0" * 64}, "gone": {"path": "gone.npz", "sha256": ""}}
    folder = _card_dir(tmp_path, raw)
    (folder / "head.npz").write_bytes(b"weights")
    card = load_model_card(folder)
    actual = hashlib.sha256(b"weights").hexdigest()
    with pytest.raises(ModelIntegrityError, match=(
            r"^model file head\.npz does not match its checksum in the model card \(expected 000000000000…, found "
            + actual[:12] + r"…\); it may be damaged or tampered with$")):
        card.verified_path("head")
    with pytest.raises(ModelIntegrityError, match=r"^model file missing: .*gone\.npz$"):
        card.verified_path("gone")
    with pytest.raises(ModelFormatError, match=r"^the model card lists no 'tflite' file$"):
        card.file_path("tflite")
    raw["files"]["head"]["sha256"] = actual
    assert load_model_card(_card_dir(tmp_path, raw)).verified_path("head") == folder / "head.npz"
    raw["files"]["head"].pop("sha256")
    with pytest.raises(ModelIntegrityError, match="expected …"):  # no checksum listed: nothing verifies
        load_model_card(_card_dir(tmp_path, raw)).verified_path("head")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a mode-000 file")
def test_an_unreadable_model_file_is_an_integrity_error(tmp_path):
    raw = _raw()
    raw["files"] = {"head": {"path": "head.npz", "sha256": ""}}
    folder = _card_dir(tmp_path, raw)
    (folder / "head.npz").write_bytes(b"weights")
    os.chmod(folder / "head.npz", 0)
    with pytest.raises(ModelIntegrityError, match=r"cannot be read to check it: Permission denied$"):
        load_model_card(folder).verified_path("head")


def test_an_unreadable_model_file_is_an_integrity_error_even_as_root(tmp_path, monkeypatch):
    from osteo_desktop.core.model import card as card_module

    raw = _raw()
    raw["files"] = {"head": {"path": "head.npz", "sha256": ""}}
    folder = _card_dir(tmp_path, raw)
    (folder / "head.npz").write_bytes(b"weights")

    def refused(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(card_module, "sha256_of", refused)
    with pytest.raises(ModelIntegrityError, match=r"^model file .*head\.npz cannot be read to check it: Permission denied$"):
        load_model_card(folder).verified_path("head")


def test_sha256_of_any_size_and_chunk(tmp_path):
    data = os.urandom(3 * 1024 + 7)
    path = tmp_path / "blob"
    path.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    assert sha256_of(path) == expected and sha256_of(path, chunk_size=1000) == expected
    (tmp_path / "empty").write_bytes(b"")
    assert sha256_of(tmp_path / "empty") == hashlib.sha256(b"").hexdigest()


def test_write_model_card_fills_checksums_and_sizes(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"abc")
    (tmp_path / "b.bin").write_bytes(b"")
    files = {"a": {"path": "a.bin"}, "b": {"path": "b.bin"}}
    card = {"name": "m", "version": "0.1", "files": files, "format": "old/0"}
    written = write_model_card(tmp_path, card)
    assert written == tmp_path / "model_card.json"
    text = written.read_text()
    assert text.endswith("}\n") and text.startswith('{\n  "name": "m",\n  "version": "0.1",')  # indented, in order
    back = json.loads(text)
    assert back["format"] == "osteo-desktop-model/1"
    assert back["files"] == {"a": {"path": "a.bin", "sha256": hashlib.sha256(b"abc").hexdigest(), "bytes": 3},
                             "b": {"path": "b.bin", "sha256": hashlib.sha256(b"").hexdigest(), "bytes": 0}}
    assert list(back) == ["name", "version", "files", "format"]
    assert files["a"]["sha256"] == hashlib.sha256(b"abc").hexdigest()  # the caller's entries get them too
    assert card["format"] == "old/0"  # the caller's dict itself is not rewritten


def _small_model(tmp_path: Path, name: str = "model", head: bytes = b"head weights", paths: dict | None = None) -> Path:
    """A hand-made model directory: the shipped card with three small files (one of them training-only)."""
    raw = _raw()
    paths = paths or {"keras": "m.keras", "tflite": "m.tflite", "head": "head.npz"}
    raw["files"] = {role: {"path": path, "sha256": ""} for role, path in paths.items()}
    folder = tmp_path / name
    folder.mkdir()
    (folder / "model_card.json").write_bytes(json.dumps(raw, indent=1).encode("utf-8") + b"\n")
    (folder / paths["keras"]).write_bytes(b"keras, never opened by the app")
    (folder / paths["tflite"]).write_bytes(b"tflite bytes")
    (folder / paths["head"]).write_bytes(head)
    return folder


def _digest_by_hand(folder: Path, loaded: dict) -> str:
    """The model digest as documented: a format tag, the card's length (8 bytes, big-endian) and bytes, then per
    file the app loads (sorted by role, the training-only Keras file left out) "role NUL path NUL sha256 NUL"."""
    card_bytes = (folder / "model_card.json").read_bytes()
    data = b"osteo-desktop-model-sha256/1\x00" + len(card_bytes).to_bytes(8, "big") + card_bytes
    for role in sorted(loaded):
        data += (role + "\x00" + loaded[role] + "\x00" + hashlib.sha256((folder / loaded[role]).read_bytes()).hexdigest()
                 + "\x00").encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def test_the_model_digest_by_hand(tmp_path):
    """The digest keys the history and is printed with every result: its layout is a contract (another layout would
    make every recorded result look like another model's), so it is written out here with hashlib."""
    folder = _small_model(tmp_path)
    card = load_model_card(folder)
    assert card.card_bytes == (folder / "model_card.json").read_bytes()  # the bytes as read, not re-serialised
    assert model_sha256(card) == _digest_by_hand(folder, {"head": "head.npz", "tflite": "m.tflite"})


def test_the_model_digest_names_each_file_by_role_and_path(tmp_path):
    first = model_sha256(load_model_card(_small_model(tmp_path, "a")))
    assert model_sha256(load_model_card(_small_model(tmp_path, "same"))) == first  # same card and files: same model
    # The same bytes under another file name: a different card, so a different model, and the file's path is in it.
    renamed = _small_model(tmp_path, "b", paths={"keras": "m.keras", "tflite": "m.tflite", "head": "knee_head.npz"})
    assert model_sha256(load_model_card(renamed)) == _digest_by_hand(renamed, {"head": "knee_head.npz",
                                                                               "tflite": "m.tflite"})
    assert model_sha256(load_model_card(renamed)) != first
    changed = _small_model(tmp_path, "c", head=b"head weights, retrained")
    assert model_sha256(load_model_card(changed)) != first  # the same card, another file: another model
    # The training-only Keras file is not read: gone, the digest is unchanged; a file the app loads gone is an error.
    folder = tmp_path / "a"
    (folder / "m.keras").unlink()
    assert model_sha256(load_model_card(folder)) == first


def test_a_missing_model_file_is_named_in_the_digest_error(tmp_path):
    folder = _small_model(tmp_path)
    card = load_model_card(folder)
    (folder / "head.npz").unlink()
    with pytest.raises(ModelIntegrityError, match=r"^model file .*head\.npz cannot be read: No such file or directory$"):
        model_sha256(card)
