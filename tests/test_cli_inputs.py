"""The command-line tools' building blocks: data paths, split.csv, cuts, the run directory."""
import argparse
import errno
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytensor
import pytest
from helpers import REPO

from dropout_layers import compilation
from dropout_layers.executors import ExecutorError
from dropout_layers.files import temporary_name
from dropout_layers_higgs.cli.common import (
    DiskFullError,
    UsageError,
    describe_files,
    reporting_full_disk,
)
from dropout_layers_higgs.cli.predict import choose_cut, compiling_with
from dropout_layers_higgs.cli.rundir import LOCK_NAME, OutputInUseError, RunDirectory
from dropout_layers_higgs.cli.train import load_training_data
from dropout_layers_higgs.cli.train_args import DEFAULTS, build_parser, parse_args, pipeline_options
from dropout_layers_higgs.cli.train_modes import check_ray_address
from dropout_layers_higgs.errors import HiggsDataError
from dropout_layers_higgs.options import BAG_MAX_EVENTS
from dropout_layers_higgs.pipeline import PipelineOptions
from dropout_layers_higgs.splitfile import part_index, read_split, write_split

# --------------------------------------------------------------------------
# Data paths (load_higgs expands directories and globs; see test_higgs_data)
# --------------------------------------------------------------------------


def test_repeated_data_option_accumulates_and_one_option_takes_several_files():
    parser = build_parser("train-higgs")
    assert parser.parse_args(["--data", "sig.csv", "bg.csv"]).data == ["sig.csv", "bg.csv"]
    assert parser.parse_args(["--data", "sig.csv", "--data", "bg.csv"]).data == [
        "sig.csv", "bg.csv"]
    assert parser.parse_args([]).data is None


def test_describe_files():
    assert describe_files(["x/sig.csv"]) == "sig.csv"
    assert describe_files(["sig.csv", "bg.csv", "more.csv"]) == "sig.csv + bg.csv + more.csv"
    assert describe_files([f"p{i}.csv" for i in range(9)]) == "p0.csv + 8 more"


# --------------------------------------------------------------------------
# Options: one source of defaults
# --------------------------------------------------------------------------


def test_left_out_options_keep_the_pipeline_defaults():
    parser = build_parser("train-higgs")
    options = pipeline_options(parse_args(parser, ["--data", "x.csv"]))
    expected = PipelineOptions(drop_phi=False, log_transform=True, progress=True)
    assert options == expected
    given = pipeline_options(parse_args(parser, ["--data", "x.csv", "--hidden", "16,16",
                                                 "--learning-rate", "0.01", "--quiet"]))
    assert given.hidden == (16, 16) and given.learning_rate == 0.01 and given.progress is False
    assert given.batch_size == DEFAULTS.batch_size


def test_backend_option_reaches_the_trainer_and_a_missing_package_is_one_line(monkeypatch):
    parser = build_parser("train-higgs")
    monkeypatch.setattr(compilation, "user_set", lambda key: False)
    monkeypatch.setattr(compilation, "_installed", lambda backend: backend == "numba")
    assert pipeline_options(parse_args(parser, ["--data", "x.csv"])).mode is None
    assert pipeline_options(parse_args(parser, ["--backend", "numba"])).mode == "NUMBA"
    with pytest.raises(UsageError, match=r"^the jax backend needs jax, which is not installed "
                                         r"\(the 'jax' extra installs it\)$"):
        pipeline_options(parse_args(parser, ["--backend", "jax"]))
    monkeypatch.setattr(compilation, "_installed", lambda backend: True)
    assert pipeline_options(parse_args(parser, [])).mode == "JAX"


def test_predict_compiles_with_the_chosen_backend_or_says_what_is_missing(monkeypatch):
    monkeypatch.setattr(compilation, "user_set", lambda key: False)
    monkeypatch.setattr(compilation, "_installed", lambda backend: backend == "numba")
    with compiling_with("numba"):
        assert pytensor.config.mode == "NUMBA"
    with pytest.raises(UsageError, match=r"^the jax backend needs jax"):
        compiling_with("jax")


def test_help_shows_the_pipeline_defaults_and_the_advice_on_rate_and_width(capsys):
    with pytest.raises(SystemExit):
        build_parser("train-higgs").parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"default {','.join(map(str, DEFAULTS.hidden))}" in text
    assert f"update rule (default {DEFAULTS.update})" in text
    assert (f"networks of the bag, one per fold (default {DEFAULTS.folds} up to "
            f"{BAG_MAX_EVENTS:,} training events, else 1;") in text
    assert f"maximum epochs per network (default {DEFAULTS.epochs};" in text
    assert "learning rate and width:" in text and "600,600,600" in text
    assert f"default rate ({PipelineOptions(update='adam').rate:g}) suits every width" in text
    assert "lower --learning-rate" in text and "model.h5" in text


# --------------------------------------------------------------------------
# split.csv
# --------------------------------------------------------------------------


def test_split_round_trip_and_part_lookup_by_id_and_by_row(tmp_path):
    path = tmp_path / "split.csv"
    ids = np.array([500, 501, 502, 503, 504, 505])
    write_split(path, {"train": [0, 3, 5], "valid": [1], "test": [2, 4]}, ids)
    split = read_split(path)
    assert split.rows.tolist() == [0, 1, 2, 3, 4, 5]
    assert split.parts.tolist() == ["train", "valid", "test", "train", "test", "train"]
    # By EventId, whatever the order of the data.
    shuffled = ids[[5, 4, 3, 2, 1, 0]]
    np.testing.assert_array_equal(shuffled[part_index(split, "test", 6, shuffled)], [502, 504])
    # By row, for data without ids.
    write_split(path, {"train": [0, 1], "test": [2]})
    assert (tmp_path / "split.csv").read_text() == "Row,Part\n0,train\n1,train\n2,test\n"
    assert part_index(read_split(path), "test", 3).tolist() == [2]


@pytest.mark.parametrize("text, message", [
    ("Row,Id\n", "line 1 is 'Row,Id'"),
    ("Row,Part\n0,train\n1,holdout\n", "line 3: part 'holdout' is not one of"),
    ("Row,Part\n0,train\nx,test\n", "line 3, column Row: 'x' is not a non-negative integer"),
    ("Row,EventId,Part\n0,7\n", "line 2: expected 3 fields, found 2"),
    ("Row,Part\n0,train\n0,test\n", "a Row is listed twice"),
])
def test_malformed_split_files_name_the_line(tmp_path, text, message):
    path = tmp_path / "split.csv"
    path.write_text(text)
    with pytest.raises(HiggsDataError) as info:
        read_split(path)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)


def test_split_that_does_not_match_the_data_is_refused(tmp_path):
    path = tmp_path / "split.csv"
    write_split(path, {"train": [0], "test": [1, 2]}, np.array([10, 11, 12]))
    split = read_split(path)
    with pytest.raises(HiggsDataError, match="EventId 12 of part 'test' is not in the data"):
        part_index(split, "test", 2, np.array([10, 11]))
    with pytest.raises(HiggsDataError, match="has no events in part 'valid'"):
        part_index(split, "valid", 3, np.array([10, 11, 12]))
    with pytest.raises(HiggsDataError, match="lists row 2, but the data hold 2 events"):
        part_index(split, "test", 2)


# --------------------------------------------------------------------------
# Cuts at prediction
# --------------------------------------------------------------------------


def test_cut_from_the_checkpoint_a_threshold_or_a_fraction():
    scores = np.linspace(0.0, 1.0, 101)
    args = argparse.Namespace(threshold=None, top_fraction=None)
    assert choose_cut(args, scores, 0.7).threshold == 0.7
    assert "of the checkpoint" in choose_cut(args, scores, 0.7).description
    args.threshold = 0.25
    assert choose_cut(args, scores, 0.7).threshold == 0.25
    args.threshold, args.top_fraction = None, 0.15
    cut = choose_cut(args, scores, 0.7)
    assert np.sum(scores >= cut.threshold) == 15 and cut.description.startswith("--top-fraction")


# --------------------------------------------------------------------------
# The run directory: lock, stale temporaries, run id, full disk
# --------------------------------------------------------------------------


def dead_pid():
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def test_run_directory_refuses_a_second_holder_and_frees_the_lock_on_exit(tmp_path):
    out = tmp_path / "out"
    with RunDirectory(out, "train-higgs") as first:
        assert (out / LOCK_NAME).read_text().startswith(f"PID {os.getpid()} (train-higgs, ")
        with pytest.raises(OutputInUseError) as info:
            RunDirectory(out, "train-higgs").__enter__()
        assert f"{out} is in use by another run: PID {os.getpid()}" in str(info.value)
        assert first.run_id
    with RunDirectory(out, "train-higgs") as second:
        assert second.run_id != first.run_id


def test_a_lock_held_by_another_process_names_its_pid(tmp_path):
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from dropout_layers_higgs.cli.rundir import RunDirectory\n"
         f"with RunDirectory({str(out)!r}, 'train_higgs.py'):\n"
         "    print('locked', flush=True)\n"
         "    time.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(OutputInUseError, match=f"PID {holder.pid} \\(train_higgs.py"):
            RunDirectory(out, "train-higgs").__enter__()
    finally:
        holder.kill()
        holder.wait()
    # A killed holder leaves the file but no lock.
    with RunDirectory(out, "train-higgs"):
        pass


def test_stale_temporaries_of_dead_writers_are_removed_at_start(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    stale = out / f".model.{dead_pid()}.0123abcd.tmp.h5"
    live = out / os.path.basename(temporary_name(out / "metrics.json"))
    foreign = out / "notes.tmp"
    for path in (stale, live, foreign):
        path.write_text("x")
    with RunDirectory(out, "train-higgs") as run_dir:
        assert run_dir.removed == [str(stale)]
    assert not stale.exists() and live.exists() and foreign.exists()


def test_a_full_disk_becomes_one_line_naming_the_directory_and_the_kept_files(tmp_path):
    written = [tmp_path / "model.h5"]
    with pytest.raises(DiskFullError) as info:
        with reporting_full_disk(tmp_path, written):
            raise OSError(errno.ENOSPC, "No space left on device")
    assert str(info.value) == f"no space left on {tmp_path}; kept model.h5"
    with pytest.raises(PermissionError):
        with reporting_full_disk(tmp_path):
            raise PermissionError(errno.EACCES, "denied")


# --------------------------------------------------------------------------
# Ray addresses
# --------------------------------------------------------------------------


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("form", ["127.0.0.1:{port}", "ray://127.0.0.1:{port}"])
def test_a_dead_ray_address_fails_in_one_line_within_seconds(form):
    address = form.format(port=free_port())
    started = time.perf_counter()
    with pytest.raises(ExecutorError) as info:
        check_ray_address(address, timeout=2.0)
    assert time.perf_counter() - started < 3.0
    assert str(info.value).startswith(f"--ray-address {address}: no Ray cluster answers at ")
    assert "\n" not in str(info.value)


def test_ray_address_checks_accept_auto_and_a_listening_port():
    check_ray_address(None)
    check_ray_address("auto")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        check_ray_address(f"127.0.0.1:{server.getsockname()[1]}")
    with pytest.raises(ExecutorError, match="expected 'auto', 'HOST:PORT'"):
        check_ray_address("127.0.0.1:notaport")


def test_the_built_in_data_are_named_synthetic(capsys):
    args = build_parser("train-higgs").parse_args([])
    data, name = load_training_data(args)
    assert name.startswith("synthetic ") and f"{data.n_events:,}" in name
    assert "SYNTHETIC events" in capsys.readouterr().out
