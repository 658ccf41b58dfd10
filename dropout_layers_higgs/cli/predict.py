"""Score Higgs events with a checkpoint written by ``train_higgs.py``.

::

    python scripts/predict_higgs.py higgs_out/model.h5 test.csv --out submission.csv
    python scripts/predict_higgs.py higgs_out/model.h5 HIGGS.csv.gz --out scores.csv
    python scripts/predict_higgs.py higgs_out/model.h5 test.csv --mc 30
    python scripts/predict_higgs.py higgs_out/ensemble.h5 test.csv --mc 30

For Kaggle and open-data files it writes a challenge submission
(``EventId,RankOrder,Class``: RankOrder a permutation of 1..N with N the most
signal-like event, Class ``s`` or ``b`` at the checkpoint's threshold). For
UCI files, which have no event ids, it writes one score per row
(``Row,Score``). With ``--mc N`` a second file, ``<out stem>_mc.csv``, gives
each event's mean and standard deviation over N stochastic (dropout-on)
passes: events whose standard deviation is large next to their distance from
the threshold have an unstable class. The submission itself keeps the
deterministic scores, on which the threshold was chosen: through the
sigmoid, the mean of dropout passes is pulled towards 0.5 and the stored cut
would select a different share of events.

An ensemble checkpoint (``ensemble.h5`` from ``train_higgs.py --folds``)
scores each event with the mean of its members; with ``--mc N`` every member
runs N passes and the standard deviation pools them all.

The checkpoint is self-contained: the network is rebuilt by
:func:`dropout_layers.checkpoint.load_checkpoint` and the preprocessing from
its stored state; no model code is imported. When the file has labels, the
AUC (and the AMS at the checkpoint's threshold for weighted data) is printed.
"""
import functools
import time
from pathlib import Path

from dropout_layers.files import atomic_path

from .common import OneLineParser, UsageError, limit_blas_threads, positive_int, run_main


def build_parser(prog="predict-higgs"):
    """The command line of :func:`main`."""
    parser = OneLineParser(prog=prog,
                     description="Write a Kaggle submission (or a scores file for UCI data) "
                                 "from a train_higgs.py checkpoint.")
    parser.add_argument("checkpoint", help="checkpoint written by train_higgs.py (model.h5)")
    parser.add_argument("data", help="events to score: Kaggle test.csv or training.csv, the "
                                     "open-data file or a UCI file")
    parser.add_argument("--out", metavar="FILE",
                        help="output file (default submission.csv, or scores.csv for UCI data)")
    parser.add_argument("--format", choices=("kaggle-train", "kaggle-test", "opendata", "uci"),
                        help="override the format detected from the first line")
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
    return parser


def load_model(path):
    """The checkpoint, its fitted preprocessing and threshold."""
    from dropout_layers.checkpoint import load_checkpoint
    from dropout_layers_higgs.preprocessing import HiggsPreprocessor

    checkpoint = load_checkpoint(path)
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
    return checkpoint, preprocessor, float(metadata["threshold"])


def score(checkpoint, X, batch_size, mc=None, seed=0):
    """Deterministic scores, or MC-dropout (mean, std) with ``mc`` passes."""
    import numpy as np

    if mc is None:
        parts = [np.asarray(checkpoint.predict(X[start:start + batch_size])).reshape(-1)
                 for start in range(0, len(X), batch_size)]
        return np.concatenate(parts).astype(np.float64), None
    if hasattr(checkpoint, "predict_mc"):
        # An ensemble (ensemble.h5 of train_higgs.py --folds): the spread of
        # all members' passes together, dropout noise and member disagreement.
        mean, std = checkpoint.predict_mc(X, n_samples=mc, batch_size=batch_size, seed=seed)
        return mean.reshape(-1), std.reshape(-1)
    from dropout_layers.uncertainty import predict_mc

    mean, std = predict_mc(checkpoint.network, X, n_samples=mc, batch_size=batch_size,
                           seed=seed)
    return mean.reshape(-1), std.reshape(-1)


def write_scores(path, scores, std=None, ids=None, id_name="Row"):
    """A CSV of one score (and optionally its MC standard deviation) per event."""
    import numpy as np

    ids = np.arange(len(scores)) if ids is None else ids
    columns = [ids.astype(np.int64), scores] + ([] if std is None else [std])
    header = ",".join([id_name, "Score"] + ([] if std is None else ["Std"]))
    formats = ["%d", "%.9g"] + ([] if std is None else ["%.9g"])
    with atomic_path(path) as temporary:
        np.savetxt(temporary, np.column_stack(columns), fmt=formats, delimiter=",",
                   header=header, comments="")


def main(argv=None, prog="predict-higgs"):
    """Score the events as the options say; return the exit status."""
    start = time.perf_counter()
    args = build_parser(prog).parse_args(argv)
    limit_blas_threads(args.threads)
    import numpy as np

    from dropout_layers.metrics import roc_auc
    from dropout_layers_higgs import load_higgs
    from dropout_layers_higgs.data import write_submission
    from dropout_layers_higgs.metrics import ams_at_threshold, leaderboard_ams

    checkpoint, preprocessor, threshold = load_model(args.checkpoint)
    data = load_higgs(args.data, format=args.format, allow_single_class=True)
    try:
        preprocessor.check_feature_names(data.feature_names)
    except ValueError as exc:
        raise UsageError(f"{args.data}: does not match {args.checkpoint} ({exc})") from None
    submission = data.event_ids is not None
    out = Path(args.out or ("submission.csv" if submission else "scores.csv"))
    if not out.resolve().parent.is_dir():
        raise UsageError(f"--out {out}: directory {out.resolve().parent} does not exist")

    X = preprocessor.transform(data.X, data.feature_names)
    scores, _ = score(checkpoint, X, args.batch_size)
    mc_mean = std = None
    if args.mc:
        mc_mean, std = score(checkpoint, X, args.batch_size, args.mc, args.seed)
    written = [out]
    if submission:
        write_submission(out, data.event_ids, scores, threshold)
        kind = f"submission ({int((scores >= threshold).sum()):,} of {len(scores):,} as signal)"
    else:
        write_scores(out, scores)
        kind = f"scores of {len(scores):,} events"
    if std is not None:
        mc_path = out.with_name(f"{out.stem}_mc.csv")
        write_scores(mc_path, mc_mean, std, data.event_ids,
                     "EventId" if submission else "Row")
        written.append(mc_path)
        unstable = int((np.abs(scores - threshold) < std).sum())
    mode = "deterministic" + (f"; MC dropout, {args.mc} passes" if args.mc else "")
    if hasattr(checkpoint, "members"):
        mode = f"ensemble of {len(checkpoint.members)} members, " + mode + (
            " each" if args.mc else "")
    print(f"wrote {kind} to {', '.join(map(str, written))} ({mode}, threshold "
          f"{threshold:.6g}) in {time.perf_counter() - start:.1f} s")
    if args.mc:
        print(f"{unstable:,} of {len(scores):,} events score within one MC standard deviation of "
              "the threshold: their class is unstable")
    if data.y is not None and 0 < data.y.sum() < len(data.y):
        figures = [f"AUC {roc_auc(data.y, scores):.4f}"]
        if data.weights is not None:
            value = ams_at_threshold(scores, data.y, data.weights, threshold)
            figures.append(f"AMS at threshold {value:.4f}")
        if data.kaggle_set is not None:
            try:
                boards = leaderboard_ams(data, scores, threshold)
                figures.append(f"public AMS {boards['public']:.4f}, private AMS "
                               f"{boards['private']:.4f}")
            except ValueError:
                pass
        print(f"labelled data ({data.n_events:,} events): {'; '.join(figures)}")
    return 0


def run(argv=None, prog="predict-higgs"):
    """Run :func:`main`, turning expected errors into one line on stderr."""
    return run_main(functools.partial(main, prog=prog), prog, argv)
