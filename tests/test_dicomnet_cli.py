"""`osteo serve`'s arguments as clinic IT meets them (trial 22): a port out of range is a usage error, a port already
taken is named, and --port, --ae-title and --forward say what they are."""

from __future__ import annotations

import socket

import pytest

from osteo_desktop.cli import main


@pytest.fixture(autouse=True)
def isolated(cli_isolated):
    """History in tmp_path and logging restored (conftest.py's cli_isolated)."""


@pytest.mark.parametrize("port", ["99999", "0", "-1", "eleven"])
def test_a_port_out_of_range_is_a_usage_error(port, capsys):
    assert main(["serve", "--port", port, "--forward", "PACS@127.0.0.1:4242"]) == 2
    err = capsys.readouterr().err
    assert "argument --port: a port is a number from 1 to 65535, not" in err and "internal error" not in err


def test_a_forward_port_out_of_range_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exited:  # the command's parser.error, as for any other --forward mistake
        main(["serve", "--port", "11112", "--forward", "PACS@127.0.0.1:99999"])
    assert exited.value.code == 2
    assert "port from 1 to 65535, got 'PACS@127.0.0.1:99999'" in capsys.readouterr().err


def test_a_port_already_in_use_is_named(tmp_path, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status = main(["serve", "--port", str(port), "--forward", "PACS@127.0.0.1:4242", "--work-dir", str(tmp_path / "node"),
                       "--no-history"])
    assert status == 1
    err = capsys.readouterr().err
    assert (f"osteo: error: cannot listen on 127.0.0.1 port {port}: the port is already in use (another osteo serve, "
            "or another DICOM program?)") in err


def test_serve_help_says_what_each_option_is(capsys):
    assert main(["serve", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps at the terminal width
    assert "--port PORT TCP port to listen on, 1-65535" in out
    assert "--ae-title AE_TITLE this node's AE title" in out and "(default: OSTEO)" in out
    assert "--forward AET@HOST:PORT required: the PACS the results" in out
    assert "default 127.0.0.1: this machine only" in out


@pytest.mark.parametrize("days", ["0", "-3", "week"])
def test_keep_days_must_be_a_positive_number(days, capsys):
    assert main(["serve", "--port", "11112", "--forward", "PACS@127.0.0.1:4242", "--keep-days", days]) == 2
    assert "argument --keep-days: a number of days" in capsys.readouterr().err


def test_serve_options_reach_the_node(tmp_path, monkeypatch, capsys):
    import errno

    from osteo_desktop.dicomnet.node import Node

    seen = []

    def start(node):
        seen.append(node.config)
        raise OSError(errno.EADDRINUSE, "Address already in use")

    monkeypatch.setattr(Node, "start", start)
    assert main(["serve", "--port", "11112", "--forward", "PACS@127.0.0.1:4242", "--keep-days", "30", "--bind", "0.0.0.0",
                 "--allow-ae", "MOD", "--ae-title", "KNEES", "--work-dir", str(tmp_path / "w"), "--no-history"]) == 1
    (config,) = seen
    assert (config.port, config.host, config.ae_title, config.allowed_callers, config.keep_days, config.work_dir) == (
        11112, "0.0.0.0", "KNEES", ["MOD"], 30.0, tmp_path / "w")
    assert "cannot listen on 0.0.0.0 port 11112: the port is already in use" in capsys.readouterr().err


def test_the_node_given_the_same_film_again_sends_the_same_objects(classifier, dicom_dir):
    # Trial 22b: storing a film to the node again forwarded a second SR and annotated image with new UIDs.
    from osteo_desktop.dicomnet.commands import _NodeAnalyser

    film = dicom_dir / "CR_tibia_RG3_J2KR_MONO1_10bit_j2k-lossless.dcm"
    if not film.is_file():
        pytest.skip("shared DICOM test image missing")
    analyse = _NodeAnalyser(classifier, None)
    first = [(str(ds.SOPInstanceUID), str(ds.SeriesInstanceUID)) for ds in analyse(film)]
    again = [(str(ds.SOPInstanceUID), str(ds.SeriesInstanceUID)) for ds in analyse(film)]
    assert len(first) == 2 and again == first
