"""Every path given to `scan` is read or reported with the reason (inputs.walk)."""

from __future__ import annotations

import os

import pytest

from cloudtrail_pack.engine.results import Summary
from cloudtrail_pack.inputs import walk
from cloudtrail_pack.scan import scan

from .helpers import DELETE_USER, jsonl, record, write


def walked(tmp_path, *paths):
    return [(os.path.relpath(p, tmp_path) if p != "-" else p, reason) for p, reason in walk([tmp_path / p for p in paths] or [tmp_path])]


def test_a_symlinked_folder_is_followed(tmp_path):
    write(tmp_path / "real" / "a.jsonl", jsonl([record()]))
    os.symlink(tmp_path / "real", tmp_path / "logs")
    assert walked(tmp_path, "logs") == [("logs/a.jsonl", None)]


def test_a_folder_reached_twice_is_read_once_and_the_second_way_reported(tmp_path):
    write(tmp_path / "real" / "a.jsonl", jsonl([record()]))
    os.symlink(tmp_path / "real", tmp_path / "link")
    assert walked(tmp_path) == [
        ("link/a.jsonl", None),
        ("real", "already scanned: a second way to the same folder (a symbolic link loop or a second link)"),
    ]


def test_a_symlink_loop_is_reported(tmp_path):
    write(tmp_path / "a.jsonl", jsonl([record()]))
    os.symlink(tmp_path, tmp_path / "loop")
    os.symlink(tmp_path / "self", tmp_path / "self")
    assert walked(tmp_path) == [
        ("a.jsonl", None),
        ("loop", "already scanned: a second way to the same folder (a symbolic link loop or a second link)"),
        ("self", "symbolic link loop"),
    ]


def test_dangling_links_fifos_and_empty_folders_are_reported(tmp_path):
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "empty").mkdir()
    (tmp_path / "hidden").mkdir()
    (tmp_path / "hidden" / ".DS_Store").write_bytes(b"")
    assert walked(tmp_path) == [
        ("dangling", "dangling symbolic link"),
        ("empty", "empty folder"),
        ("fifo", "not a regular file (a FIFO, socket or device): not read"),
        ("hidden", "folder holds only hidden files"),
    ]


def test_a_fifo_given_directly_is_never_opened(tmp_path):
    """Opening a FIFO waits for a writer: scan must report it, not hang."""
    os.mkfifo(tmp_path / "fifo")
    summary = Summary()
    assert list(scan([tmp_path / "fifo"], _pack(), jobs=1, summary=summary)) == []
    assert summary.skipped == [(str(tmp_path / "fifo"), "not a regular file (a FIFO, socket or device): not read")]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files and folders whatever their mode")
def test_unreadable_folders_and_files_are_reported(tmp_path):
    write(tmp_path / "locked" / "a.jsonl", jsonl([record()]))
    write(tmp_path / "secret.jsonl", jsonl([record()]))
    os.chmod(tmp_path / "secret.jsonl", 0)
    os.chmod(tmp_path / "locked", 0)
    try:
        assert walked(tmp_path) == [("locked", "cannot read folder (Permission denied)"),
                                    ("secret.jsonl", "cannot read (permission denied)")]
    finally:
        os.chmod(tmp_path / "locked", 0o755)


def test_the_same_file_twice_is_read_once(tmp_path):
    write(tmp_path / "a.jsonl", jsonl([record()]))
    summary = Summary()
    matches = list(scan([tmp_path / "a.jsonl", tmp_path], _pack(), jobs=1, summary=summary))
    assert [m.rule_id for m in matches] == [DELETE_USER]
    assert summary.skipped == [(str(tmp_path / "a.jsonl"), "already scanned: a second way to the same file (a symbolic link loop or a second link)")]


def _pack():
    from pathlib import Path

    from cloudtrail_pack.pack import load_pack

    return load_pack(Path(__file__).resolve().parents[2] / "sigma")
