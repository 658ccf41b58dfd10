"""The command line of ``train-higgs``: its options, their checks, and the options they give.

Every default of the network and its training comes from the fields of
:class:`~dropout_layers_higgs.pipeline.PipelineOptions`: an option left out
is not passed on, so the dataclass is the one place a default lives, and
``--help`` shows its values.
"""
import argparse
import dataclasses

from dropout_layers.executors import RAY_INSTALL_HINT, ray_available

from ..pipeline import PipelineOptions
from ..search import TUNE_INSTALL_HINT, tune_available
from .common import OneLineParser, UsageError, fraction, positive_float, positive_int, probability

__all__ = ["build_parser", "parse_args", "pipeline_options", "hidden_sizes", "SYNTHETIC_EVENTS",
           "SYNTHETIC_EPOCHS", "DEFAULTS"]

#: The defaults, one source for the parser and the pipeline.
DEFAULTS = PipelineOptions()
# The built-in demo: events generated in memory, and few enough epochs that
# generation, compilation and training take well under 90 s on 2 cores.
SYNTHETIC_EVENTS = 100_000
SYNTHETIC_EPOCHS = 20

_ADVICE = f"""\
learning rate and width:
  The default learning rate ({DEFAULTS.learning_rate:g}) suits the default width
  ({','.join(map(str, DEFAULTS.hidden))}). Wider layers sum more inputs and need a smaller rate:
  the challenge winner's 600,600,600 trains with --learning-rate 0.01 (at 0.05 it dies).
  A run whose loss turns NaN or stops falling, or whose validation AUC stays
  near 0.5, is a failed run: it stops with an error that says so, exits
  non-zero and leaves an earlier model.h5 in --out as it was; lower
  --learning-rate (by 3-10x) or narrow --hidden and run again.

outputs in --out: model.h5 (network, preprocessing, cut), metrics.json,
  split.csv (the events of each part), loss.png, overtraining.png, roc.png,
  ams.png. One run at a time holds --out (a lock file names its PID).
"""


def hidden_sizes(text):
    """Argparse type: comma-separated positive layer sizes, ``600,600,600``."""
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer sizes such as 600,600,600, got {text!r}") from None
    if any(size <= 0 for size in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive integers, got {text!r}")
    return sizes


def folds_count(text):
    """Argparse type: an integer of at least 2."""
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be at least 2, got {text}")
    return value


def _hidden_default():
    return ",".join(map(str, DEFAULTS.hidden))


def _add_data_arguments(parser):
    group = parser.add_argument_group("data")
    group.add_argument("--data", metavar="PATH", nargs="+", action="extend",
                       help="training data: one or more files of one format (signal and "
                            "background files, a directory of *.csv files, or a quoted glob "
                            "such as 'part*.csv'; --data may be repeated): Kaggle "
                            "training.csv, the open-data atlas-higgs-challenge-2014-v2.csv(.gz) "
                            f"or UCI HIGGS.csv(.gz); default: {SYNTHETIC_EVENTS:,} synthetic "
                            "events")
    group.add_argument("--format", choices=("kaggle-train", "opendata", "uci"),
                       help="override the format detected from the first line")


def _add_network_arguments(parser):
    group = parser.add_argument_group("network and training (defaults of PipelineOptions)")
    group.add_argument("--hidden", type=hidden_sizes, metavar="N,N,...",
                       help=f"hidden layer sizes (default {_hidden_default()}; the challenge "
                            "winner used 600,600,600 with a smaller --learning-rate)")
    group.add_argument("--dropout", type=probability,
                       help=f"dropout after each hidden layer (default {DEFAULTS.dropout:g})")
    group.add_argument("--input-dropout", type=probability,
                       help=f"dropout on the inputs (default {DEFAULTS.input_dropout:g})")
    group.add_argument("--learning-rate", type=positive_float,
                       help=f"learning rate (default {DEFAULTS.learning_rate:g}; see below)")
    group.add_argument("--momentum", type=probability,
                       help=f"Nesterov momentum (default {DEFAULTS.momentum:g})")
    group.add_argument("--epochs", type=positive_int,
                       help=f"maximum epochs (default {DEFAULTS.epochs}; {SYNTHETIC_EPOCHS} on "
                            "the built-in data)")
    group.add_argument("--batch-size", type=positive_int,
                       help=f"mini-batch size (default {DEFAULTS.batch_size})")
    group.add_argument("--patience", type=positive_int,
                       help="stop after this many epochs without a better validation score "
                            f"(default {DEFAULTS.patience})")
    group.add_argument("--valid-fraction", type=fraction,
                       help="share of the labelled events for early stopping and the "
                            f"threshold (default {DEFAULTS.valid_fraction:g})")
    group.add_argument("--test-fraction", type=float,
                       help="share held out and scored once at the end (default 0.2; 0 for "
                            "the open-data file, whose leaderboard sets are held out)")
    group.add_argument("--drop-phi", action="store_true",
                       help="leave out the azimuthal angles (*_phi), as the winner did")
    group.add_argument("--no-log-transform", action="store_true",
                       help="do not log-transform long-tailed positive features")
    group.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")


def _add_run_arguments(parser):
    group = parser.add_argument_group("run")
    group.add_argument("--out", default="higgs_out", metavar="DIR",
                       help="output directory (default %(default)s)")
    group.add_argument("--resume", metavar="CHECKPOINT", nargs="?", const="",
                       help="continue training from a checkpoint written by this command; "
                            "with --folds, give no CHECKPOINT: finished members in --out are "
                            "kept")
    group.add_argument("--log-dir", metavar="DIR",
                       help="write TensorBoard logs (loss, validation figures, learning rate "
                            "per epoch) to DIR; needs the log extra (tensorboardX)")
    group.add_argument("--threads", type=positive_int,
                       help="BLAS threads (default 1 unless OPENBLAS_NUM_THREADS or "
                            "OMP_NUM_THREADS is set; more only pays for wide networks on "
                            "idle cores)")
    group.add_argument("--quiet", action="store_true",
                       help="no progress bars or per-epoch lines; only the summary")


def _add_ensemble_arguments(parser):
    group = parser.add_argument_group(
        "ensembles", "train folds x repeats members on repeated stratified K-fold splits and "
                     "average them; --resume (without a CHECKPOINT) trains only the members "
                     "missing from --out")
    group.add_argument("--folds", type=folds_count, metavar="K",
                       help="folds per repeat (at least 2); turns on ensemble training")
    group.add_argument("--repeats", type=positive_int, default=1, metavar="R",
                       help="repeats of the K-fold split (default %(default)s)")
    group.add_argument("--executor", choices=("local", "ray"), default="local",
                       help="local: members one after another in this process (or in "
                            "--max-concurrent processes); ray: one Ray task per member "
                            "(default %(default)s)")
    group.add_argument("--ray-address", metavar="ADDR",
                       help="Ray cluster to run on (also for --search): 'auto' (the cluster "
                            "of this node), 'HOST:6379' or 'ray://HOST:10001'; default: a "
                            "local Ray instance")
    group.add_argument("--cpus-per-member", type=positive_int, default=1, metavar="N",
                       help="CPUs each Ray task asks for, and BLAS threads per member unless "
                            "--threads says otherwise (default %(default)s)")
    group.add_argument("--max-concurrent", type=positive_int, metavar="N",
                       help="most members training at once (default: as many as the CPUs "
                            "allow with ray, 1 with local)")


def _add_search_arguments(parser):
    group = parser.add_argument_group(
        "search", "train N sampled configurations of --dropout, the width of the --hidden "
                  "layers and --learning-rate with Ray Tune, stopping poor ones early (ASHA); "
                  "writes search.json and search.csv")
    group.add_argument("--search", type=positive_int, metavar="N",
                       help="number of trials; turns on the hyper-parameter search")
    group.add_argument("--search-max-concurrent", type=positive_int, metavar="N",
                       help="most trials training at once (default: one per CPU)")


def build_parser(prog="train-higgs"):
    """Build the command line of ``train-higgs``."""
    parser = OneLineParser(
        prog=prog, formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_ADVICE,
        description="Train a dropout MLP on Higgs challenge data (Kaggle, CERN open data or "
                    "UCI); without --data, on built-in synthetic events.")
    for add in (_add_data_arguments, _add_network_arguments, _add_run_arguments,
                _add_ensemble_arguments, _add_search_arguments):
        add(parser)
    return parser


def _check_fractions(args):
    valid = DEFAULTS.valid_fraction if args.valid_fraction is None else args.valid_fraction
    if args.test_fraction is not None and not 0.0 <= args.test_fraction < 1.0:
        raise UsageError(f"--test-fraction must be in [0, 1), got {args.test_fraction}")
    if args.test_fraction is not None and valid + args.test_fraction >= 1.0:
        raise UsageError(f"--valid-fraction + --test-fraction must be below 1, got "
                         f"{valid} + {args.test_fraction}")
    if args.seed < 0:
        raise UsageError(f"--seed must be a non-negative integer, got {args.seed}")


def _check_ensemble_options(args):
    if args.folds is None:
        given = [name for name, value in (("--executor ray", args.executor == "ray"),
                                          ("--ray-address",
                                           args.ray_address and args.search is None),
                                          ("--max-concurrent", args.max_concurrent),
                                          ("--repeats", args.repeats != 1)) if value]
        if given:
            raise UsageError(f"{given[0]} needs --folds K (ensemble training)")
        if args.resume == "":
            raise UsageError("--resume needs a CHECKPOINT (or --folds K to resume an ensemble "
                             "in --out)")
        return
    if args.resume:
        raise UsageError(f"with --folds, --resume takes no CHECKPOINT (got {args.resume}): it "
                         "keeps the finished members in --out")
    if args.test_fraction is not None:
        raise UsageError("--test-fraction does not apply with --folds: every event is held out "
                         "by some members, and the out-of-fold scores are the estimate")
    if args.ray_address and args.executor != "ray":
        raise UsageError("--ray-address needs --executor ray")
    if args.executor == "ray" and not ray_available():
        raise UsageError(RAY_INSTALL_HINT)


def _check_search_options(args):
    if args.search is None:
        if args.search_max_concurrent is not None:
            raise UsageError("--search-max-concurrent needs --search N")
        return
    for option, given in (("--folds", args.folds is not None),
                          ("--resume", args.resume is not None)):
        if given:
            raise UsageError(f"--search does not combine with {option}: search first, then "
                             "train the printed configuration")
    if not tune_available():
        raise UsageError(TUNE_INSTALL_HINT)


def parse_args(parser, argv=None):
    """Parse ``argv`` and refuse every bad option or combination before anything is loaded."""
    args = parser.parse_args(argv)
    _check_fractions(args)
    _check_search_options(args)
    _check_ensemble_options(args)
    return args


# Options whose value goes to PipelineOptions unchanged, when given.
_PASSED_ON = ("hidden", "dropout", "input_dropout", "epochs", "batch_size", "learning_rate",
              "momentum", "patience", "valid_fraction", "test_fraction")


def pipeline_options(args):
    """Build the :class:`PipelineOptions` of the command line; left-out options keep defaults.

    Without ``--data`` (the built-in demo) training stops after
    :data:`SYNTHETIC_EPOCHS` epochs unless ``--epochs`` says otherwise.
    """
    given = {name: getattr(args, name) for name in _PASSED_ON
             if getattr(args, name) is not None}
    if args.data is None and args.epochs is None:
        given["epochs"] = SYNTHETIC_EPOCHS
    fields = {field.name for field in dataclasses.fields(PipelineOptions)}
    given.update(drop_phi=args.drop_phi, log_transform=not args.no_log_transform,
                 progress=not args.quiet)
    try:
        return PipelineOptions(**{name: value for name, value in given.items()
                                  if name in fields})
    except ValueError as exc:
        raise UsageError(str(exc)) from None
