"""Atomic writes: readable by the group as the umask allows, a full disk named as such, bad files named with the fix."""

import errno
import os
import pickle
from pathlib import Path

import pytest
import torch

from advrepro import io


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_get_the_mode_the_umask_allows(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        io.write_json(tmp_path / "a.json", {"x": 1})
        io.save_tensors(tmp_path / "b.pt", {"w": torch.ones(2)})
    finally:
        os.umask(previous)
    assert {oct((tmp_path / name).stat().st_mode & 0o777) for name in ("a.json", "b.pt")} == {oct(mode)}


def test_a_full_disk_is_reported_as_enospc_with_the_path(tmp_path, monkeypatch):
    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    target = tmp_path / "model.pt"
    with pytest.raises(OSError, match=rf"No space left on device while writing {target} \(.* bytes free") as error:
        io.save_tensors(target, {"w": torch.ones(3)})
    assert error.value.errno == errno.ENOSPC and "free some space and rerun" in str(error.value)
    assert not target.exists() and not list(tmp_path.glob(".model.pt.*"))  # nothing half-written left


def test_a_truncated_archive_is_named_with_the_fix(tmp_path):
    path = tmp_path / "model.pt"
    io.save_tensors(path, {"w": torch.ones(100)})
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(io.UnreadableFile, match=rf"{path} is truncated or corrupt .*Delete it and rerun"):
        io.load_tensors(path)


def test_an_archive_with_arbitrary_objects_is_refused_by_name(tmp_path):
    class Payload:
        def __reduce__(self):
            return (os.getcwd, ())

    path = tmp_path / "checkpoint.pt"
    path.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(io.UnreadableFile, match=rf"{path} holds objects other than tensors"):
        io.load_tensors(path)


def test_a_missing_archive_stays_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        io.load_tensors(tmp_path / "nothing.pt")


def test_a_really_full_filesystem_is_reported_as_enospc(tmp_path):
    """On a 64 KiB tmpfs (needs root and mount rights, as in CI; skipped elsewhere)."""
    mount = tmp_path / "full"
    mount.mkdir()
    if os.geteuid() != 0 or os.system(f"mount -t tmpfs -o size=64k tmpfs {mount} 2>/dev/null") != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root with mount rights)")
    try:
        with pytest.raises(OSError, match=rf"No space left on device while writing {mount}/model.pt"):
            io.save_tensors(mount / "model.pt", {"w": torch.ones(100_000)})
        assert os.listdir(mount) == []
    finally:
        os.system(f"umount {mount}")
