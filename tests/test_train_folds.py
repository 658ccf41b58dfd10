"""How many networks a run trains when --folds is not given."""
import pytest

from dropout_layers_higgs.cli.train_args import (
    DEFAULTS,
    build_parser,
    folds_note,
    implied_folds,
    parse_args,
    pipeline_options,
    settle_folds,
)
from dropout_layers_higgs.options import BAG_MAX_EVENTS, default_folds


def _args(*argv):
    return parse_args(build_parser("train-higgs"), list(argv))


def test_a_bag_up_to_the_limit_and_one_network_above():
    assert default_folds(1) == default_folds(BAG_MAX_EVENTS) == DEFAULTS.folds == 5
    assert default_folds(BAG_MAX_EVENTS + 1) == 1


@pytest.mark.parametrize("argv, folds", [
    ((), None),
    (("--data", "a.csv"), None),
    (("--folds", "3"), 3),
    (("--folds", "1"), 1),
    (("--valid-fraction", "0.3"), 1),
    (("--resume", "old/model.h5"), 1),
    (("--repeats", "2"), 5),
    (("--max-concurrent", "2"), 5),
    (("--resume",), 5),
])
def test_options_that_fix_the_folds(argv, folds):
    assert implied_folds(_args(*argv)) == folds


@pytest.mark.parametrize("argv, events, folds", [
    ((), 100_000, 1),                      # the built-in demo: one network
    (("--data", "a.csv"), 8_000, 5),       # a small file: a bag
    (("--data", "a.csv"), 200_000, 1),     # a large file: one network
    (("--data", "a.csv", "--folds", "2"), 200_000, 2),
    (("--data", "a.csv", "--valid-fraction", "0.25"), 8_000, 1),
])
def test_the_data_size_decides_only_where_no_option_did(argv, events, folds):
    args = _args(*argv)
    options = settle_folds(args, pipeline_options(args), events)
    assert options.folds == folds
    assert options.n_members == folds


def test_the_run_says_what_the_size_chose():
    args = _args("--data", "a.csv")

    def from_size(events):
        return folds_note(settle_folds(args, pipeline_options(args), events), events)

    assert from_size(80_000) == ("80,000 training events, more than 50,000: one network "
                                 "(--folds 5 trains a bag)")
    assert from_size(5_600) == ("5,600 training events, at most 50,000: a bag of 5 networks "
                                "(--folds 1 trains one)")
