"""The command line of ``train-higgs``: its options, their checks, and the options they give.

Every default of the network and its training comes from the fields of
:class:`~dropout_layers_higgs.pipeline.PipelineOptions`: an option left out
is not passed on, so the dataclass is the one place a default lives, and
``--help`` shows its values.
"""
import argparse
import dataclasses

from dropout_layers.compilation import BACKENDS
from dropout_layers.executors import RAY_INSTALL_HINT, ray_available

from ..options import (
    BAG_MAX_EVENTS,
    THRESHOLD_RULES,
    TRAINING_WEIGHTS,
    UPDATE_RULES,
    default_folds,
    default_learning_rate,
)
from ..pipeline import PipelineOptions
from ..search import TUNE_INSTALL_HINT, tune_available
from .common import OneLineParser, UsageError, fraction, positive_float, positive_int, probability

__all__ = ["build_parser", "parse_args", "pipeline_options", "implied_folds", "settle_folds",
           "folds_note",
           "hidden_sizes", "SYNTHETIC_EVENTS",
           "SYNTHETIC_EPOCHS", "DEFAULTS"]

#: The defaults, one source for the parser and the pipeline.
DEFAULTS = PipelineOptions()
# The built-in demo: events generated in memory, and few enough epochs that
# generation, compilation and training take well under 90 s on 2 cores.
SYNTHETIC_EVENTS = 100_000
SYNTHETIC_EPOCHS = 20

_ADAM_RATE = default_learning_rate("adam", DEFAULTS.hidden)
_NESTEROV_128 = default_learning_rate("nesterov_momentum", (128,))
_NESTEROV_600 = default_learning_rate("nesterov_momentum", (600,))
_ADVICE = f"""\
learning rate and width:
  The default update rule, adam, takes steps normalised per parameter: its
  default rate ({_ADAM_RATE:g}) suits every width, the winner's 600,600,600 too.
  With --update nesterov_momentum a step grows with the width of the layers:
  the default rate is {_NESTEROV_128:g} at 128 units, scaled by 128 / widest layer
  ({_NESTEROV_600:.2g} at 600 units, which die in the first epoch at {_NESTEROV_128:g}).
  A run whose loss turns NaN or stops falling, or whose validation AUC stays
  near 0.5, is a failed run: it stops with an error that says so, exits
  non-zero and leaves an earlier model.h5 in --out as it was; lower
  --learning-rate (by 3-10x) or narrow --hidden and run again.

outputs in --out: model.h5 (network or bag, preprocessing, cut), metrics.json,
  split.csv (the events of each part), loss.png, overtraining.png, roc.png,
  ams.png; members/ for a bag. One run at a time holds --out (a lock file
  names its PID).
"""


class _HelpFormatter(argparse.HelpFormatter):
    """Wrap one-paragraph texts; keep the lines of texts laid out by hand (the epilog)."""

    def _fill_text(self, text, width, indent):
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


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
    group = parser.add_argument_group("network and training (defaults: PipelineOptions)")
    group.add_argument("--hidden", type=hidden_sizes, metavar="N,N,...",
                       help=f"hidden layer sizes (default {_hidden_default()}; the challenge "
                            "winner used 600,600,600)")
    group.add_argument("--dropout", type=probability,
                       help=f"dropout after each hidden layer (default {DEFAULTS.dropout:g})")
    group.add_argument("--input-dropout", type=probability,
                       help=f"dropout on the inputs (default {DEFAULTS.input_dropout:g})")
    group.add_argument("--update", choices=UPDATE_RULES,
                       help=f"update rule (default {DEFAULTS.update})")
    group.add_argument("--learning-rate", type=positive_float,
                       help="learning rate (default: 1e-3 for adam; for nesterov_momentum "
                            "0.05 x 128 / widest layer; see below)")
    group.add_argument("--momentum", type=probability,
                       help=f"Nesterov momentum (default {DEFAULTS.momentum:g})")
    group.add_argument("--epochs", type=positive_int,
                       help=f"maximum epochs per network (default {DEFAULTS.epochs}; "
                            f"{SYNTHETIC_EPOCHS} on the built-in data)")
    group.add_argument("--batch-size", type=positive_int,
                       help=f"mini-batch size (default {DEFAULTS.batch_size})")
    group.add_argument("--patience", type=positive_int,
                       help="stop a network after this many epochs without a better validation "
                            f"score (default {DEFAULTS.patience})")
    group.add_argument("--training-weights", choices=TRAINING_WEIGHTS,
                       help="loss weights: physics weights balanced per class, every event "
                            f"alike, or the mean of both (default {DEFAULTS.training_weights})")
    group.add_argument("--no-augment-phi", action="store_true",
                       help="do not rotate and reflect the azimuthal angles of training events")
    group.add_argument("--drop-phi", action="store_true",
                       help="leave out the azimuthal angles (*_phi), as the winner did")
    group.add_argument("--no-log-transform", action="store_true",
                       help="do not log-transform long-tailed positive features")
    group.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")


def _add_events_arguments(parser):
    group = parser.add_argument_group(
        "events and the cut", f"up to {BAG_MAX_EVENTS:,} training events, by default a bag of "
                              f"{DEFAULTS.folds} networks on stratified folds: every labelled "
                              "event trains all networks but one, which scores it, and the cut "
                              "is chosen on those out-of-fold scores; on more events, one "
                              "network on a train / validation split")
    group.add_argument("--folds", type=positive_int, metavar="K",
                       help=f"networks of the bag, one per fold (default {DEFAULTS.folds} up to "
                            f"{BAG_MAX_EVENTS:,} training events, else 1; --repeats, --executor "
                            "ray and --max-concurrent imply a bag, --valid-fraction one "
                            "network); 1 trains a single network on a train / validation split")
    group.add_argument("--repeats", type=positive_int, metavar="R",
                       help=f"repeats of the K-fold split (K x R networks; default "
                            f"{DEFAULTS.repeats})")
    group.add_argument("--valid-fraction", type=fraction,
                       help="one network (implies --folds 1): share of the labelled events for "
                            "early stopping "
                            f"and the cut (default {DEFAULTS.valid_fraction:g})")
    group.add_argument("--test-fraction", type=float,
                       help="share held out from all training and scored once at the end "
                            "(default 0.2; 0 for the open-data file, whose leaderboard sets are "
                            "held out)")
    group.add_argument("--threshold-rule", choices=THRESHOLD_RULES,
                       help="the cut: the maximum of the smoothed AMS curve, or the top "
                            f"--top-fraction (default {DEFAULTS.threshold_rule})")
    group.add_argument("--top-fraction", type=fraction,
                       help=f"the fixed selection, always reported (default "
                            f"{DEFAULTS.top_fraction:g})")
    group.add_argument("--ams-window", type=positive_int, metavar="EVENTS",
                       help=f"events of the running mean of the AMS curve (default "
                            f"{DEFAULTS.ams_window})")
    group.add_argument("--bootstrap", type=int, metavar="N",
                       help=f"bootstrap resamples of the uncertainties, 0 for none (default "
                            f"{DEFAULTS.bootstrap})")


def _add_run_arguments(parser):
    group = parser.add_argument_group("run")
    group.add_argument("--out", default="higgs_out", metavar="DIR",
                       help="output directory (default %(default)s)")
    group.add_argument("--resume", metavar="CHECKPOINT", nargs="?", const="",
                       help="a bag: give no CHECKPOINT, the finished networks in --out/members "
                            "are kept; a single network (--folds 1): continue training from "
                            "its model.h5")
    group.add_argument("--log-dir", metavar="DIR",
                       help="write each network's epochs (loss, validation figures, learning "
                            "rate) as TensorBoard scalars to DIR (DIR/network_000, ... for a "
                            "bag) as it trains; needs the log extra (tensorboardX)")
    group.add_argument("--threads", type=positive_int,
                       help="BLAS threads of the numba backend (default 1 unless "
                            "OPENBLAS_NUM_THREADS or OMP_NUM_THREADS is set; more only pays "
                            "for wide networks on idle cores); JAX runs its own threads")
    group.add_argument("--backend", choices=("auto", *BACKENDS), default="auto",
                       help="PyTensor backend that compiles the networks: auto takes jax "
                            "where it is installed (the jax extra; it compiles in seconds "
                            "where numba takes half a minute on a first run), else numba "
                            "(default %(default)s)")
    group.add_argument("--quiet", action="store_true",
                       help="no progress bars or per-epoch lines; only the summary")


def _add_executor_arguments(parser):
    group = parser.add_argument_group(
        "where a bag's networks train", "each network's checkpoint is written to --out/members/ "
                                        "as it finishes; --resume (without a CHECKPOINT) trains "
                                        "only the missing ones")
    group.add_argument("--executor", choices=("local", "ray"), default="local",
                       help="local: worker processes on this machine, one per free CPU "
                            "(--max-concurrent 1: one network after another in this process); "
                            "ray: one Ray task per network, "
                            "retried on another node if its node is lost (default "
                            "%(default)s)")
    group.add_argument("--ray-address", metavar="ADDR",
                       help="Ray cluster to run on (also for --search): 'auto' (the cluster "
                            "of this node), 'HOST:6379' or 'ray://HOST:10001'; default: a "
                            "local Ray instance")
    group.add_argument("--cpus-per-member", type=positive_int, default=1, metavar="N",
                       help="CPUs each Ray task asks for, and BLAS threads per network unless "
                            "--threads says otherwise (default %(default)s)")
    group.add_argument("--max-concurrent", type=positive_int, metavar="N",
                       help="most networks training at once (default: as many as the CPUs "
                            "allow, each with --threads or --cpus-per-member threads)")


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
        prog=prog, formatter_class=_HelpFormatter, epilog=_ADVICE,
        description="Train a dropout MLP on Higgs challenge data (Kaggle, CERN open data or "
                    "UCI); without --data, on built-in synthetic events.")
    for add in (_add_data_arguments, _add_network_arguments, _add_events_arguments,
                _add_run_arguments, _add_executor_arguments, _add_search_arguments):
        add(parser)
    return parser


def implied_folds(args):
    """Return the folds the options fix, or None where the data's size decides.

    ``--folds`` decides; without it, options that need a bag imply
    :attr:`PipelineOptions.folds`, options of a single network imply 1.
    """
    if args.folds is not None:
        return args.folds
    if args.valid_fraction is not None or args.resume:
        return 1
    if (args.executor == "ray" or args.max_concurrent or args.repeats is not None
            or args.resume == ""):
        return DEFAULTS.folds
    return None


def settle_folds(args, options, n_training_events):
    """Return ``options`` with the folds of :func:`default_folds` where no option fixed them.

    The built-in demo (100,000 events) trains one network.
    """
    if implied_folds(args) is not None:
        return options
    return dataclasses.replace(options, folds=default_folds(n_training_events))


def folds_note(options, n_training_events):
    """Say what the data's size chose: one network, or a bag, and how to ask for the other."""
    if options.folds == 1:
        return (f"{n_training_events:,} training events, more than {BAG_MAX_EVENTS:,}: one "
                f"network (--folds {DEFAULTS.folds} trains a bag)")
    return (f"{n_training_events:,} training events, at most {BAG_MAX_EVENTS:,}: a bag of "
            f"{options.folds} networks (--folds 1 trains one)")


def _folds(args):
    return implied_folds(args) or DEFAULTS.folds


def _check_fractions(args):
    valid = DEFAULTS.valid_fraction if args.valid_fraction is None else args.valid_fraction
    if args.test_fraction is not None and not 0.0 <= args.test_fraction < 1.0:
        raise UsageError(f"--test-fraction must be in [0, 1), got {args.test_fraction}")
    if (_folds(args) == 1 and args.test_fraction is not None
            and valid + args.test_fraction >= 1.0):
        raise UsageError(f"--valid-fraction + --test-fraction must be below 1, got "
                         f"{valid} + {args.test_fraction}")
    if args.valid_fraction is not None and args.folds not in (None, 1):
        raise UsageError("--valid-fraction needs --folds 1: a bag validates each network on "
                         "its own fold")
    if args.seed < 0:
        raise UsageError(f"--seed must be a non-negative integer, got {args.seed}")
    if args.bootstrap is not None and args.bootstrap < 0:
        raise UsageError(f"--bootstrap must be a non-negative integer, got {args.bootstrap}")


def _check_bag_options(args):
    if args.resume and args.folds not in (None, 1):
        raise UsageError(f"a bag resumes from --out: give --resume without a CHECKPOINT (got "
                         f"{args.resume}); a CHECKPOINT continues a single network")
    if implied_folds(args) == 1:
        given = [name for name, value in (("--executor ray", args.executor == "ray"),
                                          ("--ray-address",
                                           args.ray_address and args.search is None),
                                          ("--max-concurrent", args.max_concurrent),
                                          ("--repeats", args.repeats not in (None, 1)))
                 if value]
        if given:
            raise UsageError(f"{given[0]} needs a bag (--folds 2 or more; --folds 1 trains one "
                             "network)")
        if args.resume == "":
            raise UsageError("--resume without a CHECKPOINT resumes a bag in --out; with --folds "
                             "1 give the CHECKPOINT (model.h5) to continue")
        return
    if args.ray_address and args.executor != "ray" and args.search is None:
        raise UsageError("--ray-address needs --executor ray")
    if args.executor == "ray" and not ray_available():
        raise UsageError(RAY_INSTALL_HINT)


def _check_search_options(args):
    if args.search is None:
        if args.search_max_concurrent is not None:
            raise UsageError("--search-max-concurrent needs --search N")
        return
    for option, given in (("--folds", args.folds is not None),
                          ("--resume", args.resume is not None),
                          ("--log-dir", args.log_dir is not None)):
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
    if args.search is None:
        _check_bag_options(args)
    return args


# Options whose value goes to PipelineOptions unchanged, when given.
_PASSED_ON = ("hidden", "dropout", "input_dropout", "update", "learning_rate", "momentum",
              "epochs", "batch_size", "patience", "training_weights", "folds", "repeats",
              "valid_fraction", "test_fraction", "threshold_rule", "top_fraction", "ams_window",
              "bootstrap", "backend")
# Switches that turn a default of PipelineOptions off or on.
_SWITCHES = (("no_augment_phi", "augment_phi", False), ("drop_phi", "drop_phi", True),
             ("no_log_transform", "log_transform", False))


def pipeline_options(args):
    """Build the :class:`PipelineOptions` of the command line; left-out options keep defaults.

    Without ``--data`` (the built-in demo) each network stops after
    :data:`SYNTHETIC_EPOCHS` epochs unless ``--epochs`` says otherwise.
    """
    given = {name: getattr(args, name) for name in _PASSED_ON
             if getattr(args, name) is not None}
    if args.data is None and args.epochs is None:
        given["epochs"] = SYNTHETIC_EPOCHS
    for flag, field, value in _SWITCHES:
        if getattr(args, flag):
            given[field] = value
    given["progress"] = not args.quiet
    given["folds"] = implied_folds(args) or DEFAULTS.folds
    try:
        return PipelineOptions(**given)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
