"""A full disk while a checkpoint is written: one library error, the old file kept, no temporary."""

import errno
import os
import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest

import dropout_layers as dl
from dropout_layers import checkpoint as ckpt
from dropout_layers import files
from dropout_layers.checkpoint import save as ckpt_save
from dropout_layers.ensemble import Ensemble
from dropout_layers.errors import DropoutLayersError
from dropout_layers_higgs.cli.common import DiskFullError, is_disk_full, reporting_full_disk

# What HDF5 says through h5py when write(2) fails with ENOSPC (from a run on a full tmpfs).
HDF5_FULL = ("file write failed: time = Wed Dec  2 00:54:34 2026\n, filename = '{}', file "
             "descriptor = 3, errno = 28, error message = 'No space left on device', buf = "
             "0x563d12a317d8, total write size = 48, bytes this sub-write = 48, offset = 512")


def network(hidden=8):
    with dl.random.seeded(0):
        layer = dl.ReLUDenseLayer(dl.InputLayer((None, 5), name="input"), hidden, name="hidden")
        return dl.DenseLayer(layer, 1, name="output")


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.h5"
    ckpt.save_checkpoint(path, network(), metadata={"version": "old"})
    return path


def assert_refused_and_kept(path, save, errno_code=errno.ENOSPC, text="no space left on device"):
    before = path.read_bytes()
    with pytest.raises(ckpt.CheckpointWriteError) as refused:
        save()
    error = refused.value
    assert isinstance(error, DropoutLayersError) and isinstance(error, OSError)
    assert error.errno == errno_code and error.path == str(path)
    assert str(error) == f"{path}: {text}; nothing written, the file (if any) is as it was"
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary left
    return error


def test_enospc_from_h5py_while_writing_datasets(saved, monkeypatch):
    create_dataset = ckpt_save._create_dataset
    calls = []

    def fill_up(*args):
        calls.append(create_dataset(*args).name)
        raise OSError(errno.ENOSPC, "Can't write data (" + HDF5_FULL.format(saved) + ")")

    monkeypatch.setattr(ckpt_save, "_create_dataset", fill_up)
    error = assert_refused_and_kept(saved, lambda: ckpt.save_checkpoint(saved, network(30)))
    assert calls == ["/params/hidden/W"]
    # The command-line tools' test for a full disk recognises it, and it crosses processes.
    assert is_disk_full(error)
    with pytest.raises(DiskFullError, match=f"^no space left on {saved.parent}$"):
        with reporting_full_disk(saved.parent):
            raise error
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and str(copy) == str(error) and copy.errno == errno.ENOSPC
    assert dl.load_checkpoint(saved).metadata == {"version": "old"}


def test_hdf5_runtime_error_on_closing_a_full_file(saved, monkeypatch):
    close = h5py.File.close

    def close_then_fail(self):
        writing = bool(self.id) and self.mode == "r+"
        close(self)
        if writing:
            raise RuntimeError("Disable slist on flush dest failure failed ("
                               + HDF5_FULL.format(saved) + ")")

    monkeypatch.setattr(h5py.File, "close", close_then_fail)
    ensemble = Ensemble([network(), network(4)], threshold=0.5)
    assert_refused_and_kept(saved, lambda: ckpt.save_ensemble(saved, ensemble))


def test_enospc_from_fsync_and_quota_exceeded(saved, monkeypatch):
    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)
    assert_refused_and_kept(saved, lambda: ckpt.save_checkpoint(saved, network(3)))
    monkeypatch.undo()

    def over_quota(*args):
        raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))

    monkeypatch.setattr(ckpt_save, "_create_dataset", over_quota)
    error = assert_refused_and_kept(saved, lambda: ckpt.save_checkpoint(saved, network(3)),
                                    errno.EDQUOT, "disk quota exceeded")
    assert is_disk_full(error)


def test_other_write_errors_pass_through_unchanged(saved, monkeypatch):
    def denied(*args):
        raise OSError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(ckpt_save, "_create_dataset", denied)
    before = saved.read_bytes()
    with pytest.raises(PermissionError) as raised:
        ckpt.save_checkpoint(saved, network(3))
    assert not isinstance(raised.value, DropoutLayersError)
    assert saved.read_bytes() == before and sorted(os.listdir(saved.parent)) == [saved.name]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_real_enospc_from_hdf5(saved, monkeypatch):
    """The temporary file is /dev/full, where every write fails with ENOSPC."""
    temporary = saved.parent / f".model.{os.getpid()}.0badf00d.tmp.h5"
    assert files.TEMPORARY_PATTERN.match(temporary.name)
    os.symlink("/dev/full", temporary)
    monkeypatch.setattr(files, "temporary_name", lambda path: str(temporary))
    chmod = os.chmod

    def chmod_except_dev_full(target, mode, **kwargs):
        # Never reached after a failed write; a guard for a process that may be root.
        assert os.path.realpath(target) != "/dev/full"
        chmod(target, mode, **kwargs)

    monkeypatch.setattr(os, "chmod", chmod_except_dev_full)
    assert_refused_and_kept(saved, lambda: ckpt.save_checkpoint(saved, network()))
    assert not os.path.lexists(temporary)
    assert Path("/dev/full").is_char_device()
    np.testing.assert_array_equal(dl.load_checkpoint(saved).network.W.get_value(),
                                  network().W.get_value())
