"""Score Higgs events with a checkpoint written by ``train_higgs.py``.

::

    python scripts/predict_higgs.py higgs_out/model.h5 test.csv --out submission.csv
    python scripts/predict_higgs.py higgs_out/model.h5 test.csv --top-fraction 0.15
    python scripts/predict_higgs.py higgs_out/model.h5 sig.csv bg.csv --split higgs_out/split.csv
    python scripts/predict_higgs.py higgs_out/model.h5 HIGGS.csv.gz --out scores.csv
    python scripts/predict_higgs.py higgs_out/ensemble.h5 test.csv --mc 30

For Kaggle and open-data files it writes a challenge submission
(``EventId,RankOrder,Class``: RankOrder a permutation of 1..N with N the most
signal-like event, Class ``s`` or ``b``). For UCI files, which have no event
ids, it writes one score per row (``Row,Score``). Several files (signal and
background, a directory, a quoted glob) are scored as one data set.

The cut: by default the threshold stored in the checkpoint (chosen on the
run's validation events); ``--threshold T`` selects ``score >= T``;
``--top-fraction F`` selects the F most signal-like of the scored events.
The line the command prints names the cut it used.

``--split higgs_out/split.csv`` scores only the events of one part of the
training run (``--part test`` by default: the held-out events), matched by
EventId (or by row for UCI data), so that the figures of ``metrics.json``
can be reproduced, or compared with another classifier on the same events.

With ``--mc N`` a second file, ``<out stem>_mc.csv``, gives each event's mean
and standard deviation over N stochastic (dropout-on) passes: events whose
standard deviation is large next to their distance from the threshold have
an unstable class. The submission itself keeps the deterministic scores, on
which the threshold was chosen. An ensemble checkpoint (``ensemble.h5`` from
``train_higgs.py --folds``) scores each event with the mean of its members.

The checkpoint is self-contained: the network is rebuilt by
:func:`dropout_layers.checkpoint.load_checkpoint` and the preprocessing from
its stored state; no model code is imported. When the data have labels, the
AUC (and the AMS at the cut and of the top 15% for weighted data) is printed.
"""
import argparse
import contextlib
import dataclasses
import functools
import time
from pathlib import Path

import numpy as np
import pytensor

from dropout_layers.checkpoint import is_ensemble_file, load_checkpoint, load_ensemble
from dropout_layers.compilation import BACKENDS, BackendError, keep_jax_programs, resolve_backend
from dropout_layers.files import atomic_path
from dropout_layers.metrics import roc_auc

from ..data import load_higgs, write_submission
from ..data.sources import expand_paths
from ..metrics import ams_at_fraction, ams_at_threshold, leaderboard_ams, threshold_at_fraction
from ..preprocessing import HiggsPreprocessor
from ..splitfile import PARTS, part_index, read_split
from .common import (
    OneLineParser,
    UsageError,
    describe_files,
    fraction,
    limit_blas_threads,
    positive_int,
    reporting_full_disk,
    run_main,
)

__all__ = ["build_parser", "main", "run", "load_model", "score", "choose_cut", "write_scores",
           "Cut"]


def _finite_float(text):
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def build_parser(prog="predict-higgs"):
    """Build the command line of :func:`main`."""
    parser = OneLineParser(prog=prog,
                           description="Write a Kaggle submission (or a scores file for UCI "
                                       "data) from a train_higgs.py checkpoint.")
    parser.add_argument("checkpoint", help="checkpoint written by train_higgs.py (model.h5 or "
                                           "ensemble.h5)")
    parser.add_argument("data", nargs="+", metavar="DATA",
                        help="events to score, one or more files of one format (a directory "
                             "or a quoted glob too): Kaggle test.csv or training.csv, the "
                             "open-data file or UCI files")
    parser.add_argument("--out", metavar="FILE",
                        help="output file (default submission.csv, or scores.csv for UCI data)")
    parser.add_argument("--format", choices=("kaggle-train", "kaggle-test", "opendata", "uci"),
                        help="override the format detected from the first line")
    cut = parser.add_mutually_exclusive_group()
    cut.add_argument("--threshold", type=_finite_float, metavar="T",
                     help="classify score >= T as signal (default: the checkpoint's threshold, "
                          "chosen on the training run's validation events)")
    cut.add_argument("--top-fraction", type=fraction, metavar="F",
                     help="classify the F most signal-like of the scored events as signal, "
                          "for example 0.15")
    parser.add_argument("--split", metavar="SPLIT_CSV",
                        help="score only the events of one part of a training run, as listed "
                             "in its split.csv")
    parser.add_argument("--part", choices=PARTS, default="test",
                        help="the part of --split to score (default %(default)s: the held-out "
                             "events)")
    parser.add_argument("--batch-size", type=positive_int, default=4096,
                        help="events per forward pass (default %(default)s)")
    parser.add_argument("--mc", type=positive_int, metavar="N",
                        help="MC dropout: average N stochastic passes and also write each "
                             "event's standard deviation")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the MC-dropout masks (default %(default)s)")
    parser.add_argument("--threads", type=positive_int,
                        help="BLAS threads (default 1 unless OPENBLAS_NUM_THREADS or "
                             "OMP_NUM_THREADS is set)")
    parser.add_argument("--backend", choices=("auto", *BACKENDS), default="auto",
                        help="PyTensor backend that compiles the network: auto takes jax "
                             "where it is installed, else numba (default %(default)s)")
    return parser


def compiling_with(backend):
    """Return a context in which PyTensor compiles with ``backend`` (see ``resolve_backend``)."""
    try:
        mode = resolve_backend(backend)
    except BackendError as exc:
        raise UsageError(str(exc)) from None
    if mode is None:
        return contextlib.nullcontext()
    if mode == "JAX":
        keep_jax_programs()
    return pytensor.config.change_flags(mode=mode)


def load_model(path):
    """Load the checkpoint, its fitted preprocessing and its stored threshold."""
    checkpoint = (load_ensemble if is_ensemble_file(path) else load_checkpoint)(path)
    if not checkpoint.preprocessing:
        raise UsageError(f"{path}: has no preprocessing state; was it written by "
                         "train_higgs.py?")
    try:
        preprocessor = HiggsPreprocessor.from_state(checkpoint.preprocessing)
    except ValueError as exc:
        raise UsageError(f"{path}: {exc}") from None
    metadata = checkpoint.metadata or {}
    if "threshold" not in metadata:
        raise UsageError(f"{path}: has no decision threshold in its metadata; was it written "
                         "by train_higgs.py?")
    try:
        threshold = float(metadata["threshold"])
    except (TypeError, ValueError):
        threshold = float("nan")
    if not np.isfinite(threshold):
        raise UsageError(f"{path}: its stored threshold {metadata['threshold']!r} is not a "
                         "finite number")
    return checkpoint, preprocessor, threshold


def score(checkpoint, X, batch_size, mc=None, seed=0):
    """Score preprocessed events: deterministic, or MC-dropout (mean, std) of ``mc`` passes."""
    # X is preprocessed already: the stored preprocessing is not applied again.
    if mc is None:
        scores = checkpoint.predict(X, batch_size=batch_size, preprocess=False)
        return np.asarray(scores, dtype=np.float64).reshape(-1), None
    # For a bag, the spread of all members' passes together: dropout noise
    # and the members' disagreement.
    mean, std = checkpoint.predict_mc(X, n_samples=mc, batch_size=batch_size, seed=seed,
                                      preprocess=False)
    return mean.reshape(-1), std.reshape(-1)


def write_scores(path, scores, std=None, ids=None, id_name="Row"):
    """Write a CSV of one score (and optionally its MC standard deviation) per event."""
    ids = np.arange(len(scores)) if ids is None else ids
    columns = [ids.astype(np.int64), scores] + ([] if std is None else [std])
    header = ",".join([id_name, "Score"] + ([] if std is None else ["Std"]))
    formats = ["%d", "%.9g"] + ([] if std is None else ["%.9g"])
    with atomic_path(path) as temporary:
        np.savetxt(temporary, np.column_stack(columns), fmt=formats, delimiter=",",
                   header=header, comments="")


@dataclasses.dataclass
class Cut:
    """The selection ``score >= threshold`` and how it was chosen.

    Attributes
    ----------
    threshold : float
    description : str
        For the printed line: ``threshold 0.82 of the checkpoint``,
        ``--threshold 0.9`` or ``--top-fraction 0.15 (threshold 0.87)``.
    """

    threshold: float
    description: str


def choose_cut(args, scores, stored):
    """Return the :class:`Cut` that the options ask for.

    Examples
    --------
    >>> import argparse
    >>> args = argparse.Namespace(threshold=None, top_fraction=0.25)
    >>> choose_cut(args, np.array([0.1, 0.2, 0.3, 0.4]), 0.5)
    Cut(threshold=0.4, description='--top-fraction 0.25 (threshold 0.4)')
    """
    if args.threshold is not None:
        return Cut(args.threshold, f"--threshold {args.threshold:g}")
    if args.top_fraction is not None:
        threshold = threshold_at_fraction(scores, args.top_fraction)
        return Cut(threshold, f"--top-fraction {args.top_fraction:g} (threshold {threshold:.6g})")
    return Cut(stored, f"threshold {stored:.6g} of the checkpoint")


def _load_events(args, preprocessor):
    paths = expand_paths(args.data)
    data = load_higgs(paths, format=args.format,
                      allow_single_class=True)
    name = describe_files(paths)
    try:
        preprocessor.check_feature_names(data.feature_names)
    except ValueError as exc:
        raise UsageError(f"{name}: does not match {args.checkpoint} ({exc})") from None
    if args.split is not None:
        index = part_index(read_split(args.split), args.part, data.n_events, data.event_ids)
        data = data.subset(index)
        name = f"{name}, part {args.part!r} of {args.split}"
    return data, name


def _output_path(args, data):
    out = Path(args.out or ("submission.csv" if data.event_ids is not None else "scores.csv"))
    if not out.resolve().parent.is_dir():
        raise UsageError(f"--out {out}: directory {out.resolve().parent} does not exist")
    return out


def _write_outputs(out, data, scores, cut, mc):
    """Write the submission (or scores) and the MC file; return the paths and what was written."""
    written = [out]
    if data.event_ids is not None:
        write_submission(out, data.event_ids, scores, cut.threshold)
        kind = (f"submission ({int((scores >= cut.threshold).sum()):,} of {len(scores):,} as "
                "signal)")
    else:
        write_scores(out, scores)
        kind = f"scores of {len(scores):,} events"
    if mc is not None:
        mc_path = out.with_name(f"{out.stem}_mc.csv")
        write_scores(mc_path, *mc, data.event_ids,
                     "EventId" if data.event_ids is not None else "Row")
        written.append(mc_path)
    return written, kind


def _labelled_figures(data, scores, cut):
    """Format the figures of labelled data in one line (None for unlabelled data)."""
    if data.y is None or not 0 < data.y.sum() < len(data.y):
        return None
    figures = [f"AUC {roc_auc(data.y, scores):.4f}"]
    if data.weights is not None:
        at_cut = ams_at_threshold(scores, data.y, data.weights, cut.threshold)
        top = ams_at_fraction(scores, data.y, data.weights, 0.15)
        figures.append(f"AMS at the cut {at_cut:.4f}; AMS of the top 15% {top:.4f}")
    if data.kaggle_set is not None:
        try:
            boards = leaderboard_ams(data, scores, cut.threshold)
            figures.append(f"public AMS {boards['public']:.4f}, private AMS "
                           f"{boards['private']:.4f}")
        except ValueError:
            pass
    return f"labelled data ({data.n_events:,} events): {'; '.join(figures)}"


def _mode(checkpoint, args):
    mode = "deterministic" + (f"; MC dropout, {args.mc} passes" if args.mc else "")
    if hasattr(checkpoint, "members"):
        mode = f"ensemble of {len(checkpoint.members)} members, {mode}" + (
            " each" if args.mc else "")
    return mode


def main(argv=None, prog="predict-higgs"):
    """Score the events as the options say; return the exit status."""
    start = time.perf_counter()
    args = build_parser(prog).parse_args(argv)
    if args.split is None and args.part != "test":
        raise UsageError("--part needs --split SPLIT_CSV")
    limit_blas_threads(args.threads)
    backend = compiling_with(args.backend)
    checkpoint, preprocessor, stored_threshold = load_model(args.checkpoint)
    data, _ = _load_events(args, preprocessor)
    out = _output_path(args, data)
    X = preprocessor.transform(data.X, data.feature_names)
    with backend:
        scores, _ = score(checkpoint, X, args.batch_size)
        mc = score(checkpoint, X, args.batch_size, args.mc, args.seed) if args.mc else None
    cut = choose_cut(args, scores, stored_threshold)
    with reporting_full_disk(out.resolve().parent):
        written, kind = _write_outputs(out, data, scores, cut, mc)
    print(f"wrote {kind} to {', '.join(map(str, written))} ({_mode(checkpoint, args)}; cut: "
          f"{cut.description}) in {time.perf_counter() - start:.1f} s")
    if mc is not None:
        unstable = int((np.abs(scores - cut.threshold) < mc[1]).sum())
        print(f"{unstable:,} of {len(scores):,} events score within one MC standard deviation of "
              "the cut: their class is unstable")
    figures = _labelled_figures(data, scores, cut)
    if figures:
        print(figures)
    return 0


def run(argv=None, prog="predict-higgs"):
    """Run :func:`main`, turning expected errors into one line on stderr."""
    return run_main(functools.partial(main, prog=prog), prog, argv)
