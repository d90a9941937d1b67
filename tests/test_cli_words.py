"""What `osteo` says to a user who asks for help or mistypes a number: plain words, no Python names."""

from __future__ import annotations

from osteo_desktop.cli import main


def test_a_sub_commands_help_opens_with_what_it_does(capsys):
    assert main(["info", "--help"]) == 0
    out = capsys.readouterr().out
    assert "\nDescribe what is read from an image file.\n" in out  # the top-level list's words, as a sentence


def test_a_batch_size_that_is_not_a_number_is_named_in_words(capsys):
    assert main(["scan", "--batch-size", "abc", "somewhere"]) == 2
    err = capsys.readouterr().err
    assert "not a whole number: 'abc'" in err and "positive_int" not in err


def test_the_dicom_commands_accept_but_do_not_list_include_patient(capsys, tmp_path):
    # Listed only where it does something; a 0.1 script passing it to dicom-export must not stop with a usage error.
    assert main(["dicom-export", "--help"]) == 0
    assert "--include-patient" not in capsys.readouterr().out
    assert main(["predict", "--help"]) == 0
    assert "--include-patient" in capsys.readouterr().out
    missing = tmp_path / "missing.dcm"
    code = main(["dicom-export", "--include-patient", str(missing), "--out", str(tmp_path / "out")])
    assert code == 1 and "usage" not in capsys.readouterr().err  # the file fails; the option is not refused
