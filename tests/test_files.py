"""Files written whole or not at all (vcsep.files)."""

from __future__ import annotations

import pytest

from vcsep.files import atomic_path, copy_file, temporary_name, write_json


def test_atomic_path_renames_on_success_and_keeps_the_suffix(tmp_path):
    target = tmp_path / "vn.wav"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".wav" and tmp.name.startswith(".vn.")
        tmp.write_bytes(b"whole")
        assert not target.exists()
    assert target.read_bytes() == b"whole"
    assert [p.name for p in tmp_path.iterdir()] == ["vn.wav"]


def test_atomic_path_leaves_nothing_on_failure_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "vn.wav"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["vn.wav"]


def test_atomic_path_replaces_a_folder_whole(tmp_path):
    target = tmp_path / "piece"
    target.mkdir()
    (target / "stale.txt").write_text("stale")
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.mkdir()
        raise RuntimeError("render failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["piece"]


def test_temporary_names_are_unique_for_one_target(tmp_path):
    names = {temporary_name(tmp_path / "vn.wav") for _ in range(50)}
    assert len(names) == 50


def test_write_json_and_copy_file(tmp_path):
    path = write_json(tmp_path / "a.json", {"x": [1, 2]})
    assert path.read_text() == '{\n  "x": [\n    1,\n    2\n  ]\n}\n'
    assert copy_file(path, tmp_path / "b.json").read_text() == path.read_text()
