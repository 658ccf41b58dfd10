"""Every command of the README runs as written, or is parsed, saying why.

The README's commands are read from its bash blocks (comments dropped, ``&&``
chains split) and from its inline code that starts with ``python``, ``pip`` or
``pytest`` (outside HTML comments, whose ``MEASURE`` markers are notes for
whoever measures the figures), and each must appear in exactly one of these
tables:

* :data:`RUN`: run here, in README order, one after another in one fresh
  directory (``scripts`` and ``tests`` linked into it, ``../shared`` linked to
  the workspace's shared data), the way a reader would type them. Flags are
  appended that only make the work small (fewer events, a tiny network, few
  epochs: argparse takes the last value of an option, so they change the size
  of the work, not its meaning), and ``PATH`` placeholders are replaced by a
  stand-in. Both are listed with each command.
* :data:`WORKFLOW`: run in order by ``tests/test_readme_workflow.py``.
* :data:`PARSED`: too costly or impossible to run here (a Ray cluster, real
  challenge files, minutes of benchmarking); parsed with the script's own
  argument parser, which also checks the combination of options. The reason,
  and the test that runs the same thing on small data, is given with each.
* :data:`NOT_RUN`: installs and the test suite itself; the extras they name
  are checked against ``pyproject.toml``.

After the commands, every Python block of the README runs in the same
directory (the two that ``tests/test_readme.py`` checks on their own
excepted), in one interpreter, each in a fresh namespace: the checkpoint,
ONNX and raw-event examples read the files the commands wrote.
"""
import concurrent.futures
import json
import re
import shlex
import subprocess
import sys

import pytest
from helpers import REPO, SHARED_DATA
from test_readme import python_blocks
from test_readme_workflow import WORKFLOW

from dropout_layers.checkpoint import load_checkpoint, load_ensemble

UCI = "../shared/data/uci-higgs-sample/"
# A bag on a few hundred events: small enough to be quick, big enough not to fail the
# training guard (a cut that selects every event is a failed run).
SMALL_BAG = ["--hidden", "16", "--epochs", "3", "--learning-rate", "0.01", "--quiet"]

DEMO = "python scripts/train_higgs.py"
INSPECT = "python scripts/inspect_checkpoint.py higgs_out/model.h5"
EXPORT = "python scripts/export_onnx.py higgs_out/model.h5 higgs_out/model.onnx"
TOY = "python scripts/make_toy_higgs.py toy.csv --events 20000"
BAG = "python scripts/train_higgs.py --data toy.csv --out higgs_bag"
MC = "python scripts/predict_higgs.py higgs_bag/model.h5 toy.csv --mc 30 --out mc.csv"
UCI_TRAIN = f"python scripts/train_higgs.py --data {UCI}binary.train --out higgs_uci"
UCI_PREDICT = (f"python scripts/predict_higgs.py higgs_uci/model.h5 {UCI}binary.test "
               "--out uci_scores.csv")
UCI_EXAMPLE = "python scripts/train_uci_example.py --seeds 0 1 2 --quiet"

#: Commands run here: the flags appended to each (and what replaces PATH).
RUN = {
    DEMO: ["--epochs", "1", "--hidden", "8", "--quiet"],
    "python scripts/lasagne_compat.py --lasagne PATH --failures":
        ["--files", "input"],  # PATH: a two-test stand-in checkout written by lasagne_checkout
    UCI_EXAMPLE: ["--seeds", "0", "--epochs", "2", "--hidden", "8"],
    TOY: ["--events", "1500"],
    BAG: SMALL_BAG,
    INSPECT: [],
    EXPORT: [],
    UCI_TRAIN: SMALL_BAG,
    UCI_PREDICT: [],
    "python scripts/train_higgs.py --help": [],
    MC: [],
    "python scripts/benchmark_checkpoint.py": ["--repeats", "1"],  # writes to a temporary dir
}
#: Commands of RUN that read what another one wrote, and that one: they run after it.
AFTER = {INSPECT: DEMO, EXPORT: DEMO, BAG: TOY, MC: BAG, UCI_PREDICT: UCI_TRAIN}

#: Commands parsed only, and why.
PARSED = {
    "python scripts/train_higgs.py --folds 2 --repeats 2 --executor ray --out higgs_ray":
        "starts a Ray instance, tens of seconds; tests/test_ensemble_ray.py"
        "::test_script_joins_a_running_cluster runs these options on toy data",
    "python scripts/train_higgs.py --data training.csv --hidden 600,600,600 --folds 2 "
    "--repeats 35 --executor ray --ray-address auto":
        "needs a Ray cluster and the challenge's training.csv; tests/test_ensemble_ray.py"
        "::test_script_joins_a_running_cluster runs it on toy data against a local cluster",
    "python scripts/train_higgs.py --search 20 --data training.csv":
        "needs the challenge's training.csv and Ray Tune trials of minutes; "
        "tests/test_higgs_search.py runs --search 3 on toy data",
    "python scripts/benchmark_dropout.py --mode JAX --json benchmark.json --plot benchmark.png":
        "about 4 minutes of timing; tests/test_benchmark_modes.py runs --mode jax on small sizes",
    "python scripts/benchmark_dropout.py --json benchmark_numba.json":
        "about 4 minutes of timing; tests/test_benchmarks.py runs it on small sizes",
    "python scripts/benchmark_startup.py --rounds 2 --json startup.json":
        "four runs of train_higgs.py, two on empty caches, a minute; tests/test_benchmarks.py "
        "runs one round of a tiny network",
    "python scripts/benchmark_startup.py --rounds 2 --json startup_numba.json -- --backend numba":
        "four runs of train_higgs.py, two of them compiling with numba on empty caches, two "
        "minutes; tests/test_benchmarks.py runs one round of a tiny network",
    "python scripts/benchmark_scale.py --rows 100000 1000000 10000000 --compare --json "
    "scale.json":
        "writes about 5 GB and reads it; tests/test_benchmarks.py runs it on 300 and 1,000 rows",
    "python scripts/benchmark_quality.py --split-seeds 0 1 2 --json quality.json":
        "eighteen trainings of minutes each on the UCI sample, half an hour; "
        "tests/test_benchmarks.py runs two folds of a small network on toy data",
    "python scripts/lasagne_compat.py --lasagne /work/lasagne-src --failures --time-limit 2400":
        "the measurement behind the README's table: Lasagne's checkout and about an hour; the "
        "stand-in run of RUN exercises the same harness",
    "python scripts/train_higgs.py --data FILE":
        "FILE stands for the reader's file; RUN trains on toy.csv and the UCI sample",
}

#: Commands not run by any test here, and why.
NOT_RUN = {
    'pip install -e ".[jax]"': "installs the package with an extra (part of the test extra; "
                               ".ci/run installs the package with the test extra)",
    'pip install -e ".[test]"': "installs the test extra; .ci/run runs exactly this line",
    "pytest": "the test suite itself; .ci/run runs it",
    'pip install -e ".[sklearn]"': "installs an extra (part of the test extra)",
    'pip install -e ".[onnx]"': "installs an extra (part of the test extra)",
    'pip install -e ".[ray]"': "installs an extra (part of the test extra)",
    "pip install torch==2.13.0": "installs PyTorch (about 750 MB; the separate torch extra)",
    'pip install -e ".[plot]"': "installs an extra (part of the test extra)",
    'pip install -e ".[torch]"': "installs the separate torch extra (about 750 MB)",
}

# Python blocks that tests/test_readme.py runs (and checks) on their own.
def _checked_by_test_readme(block):
    return (("SwitchDropoutLayer" in block and "train_fn" in block)
            or ("fit(network" in block and "EarlyStopping" in block and UCI in block))


def readme_text():
    return (REPO / "README.md").read_text(encoding="utf-8")


def readme_commands():
    """The commands of the README's bash blocks, in order."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", readme_text(), flags=re.S):
        for line in block.splitlines():
            line = line.split("#")[0].strip()
            commands += [part.strip() for part in line.split("&&") if part.strip()]
    return commands


def inline_commands():
    """The commands in the README's inline code, outside code blocks and HTML comments."""
    text = re.sub(r"<!--.*?-->|```.*?```", "", readme_text(), flags=re.S)
    spans = (" ".join(span.split()) for span in re.findall(r"`([^`]+)`", text))
    return [span for span in spans if re.match(r"(python|pip|pytest)( |$)", span)]


def all_commands():
    """The bash blocks' commands, then the inline ones, each once."""
    return list(dict.fromkeys(readme_commands() + inline_commands()))


def needs_shared(text):
    return UCI in text or "train_uci_example.py" in text


def test_every_command_of_the_readme_is_run_or_parsed_with_a_reason():
    commands = all_commands()
    tables = {"RUN": set(RUN), "WORKFLOW": set(WORKFLOW), "PARSED": set(PARSED),
              "NOT_RUN": set(NOT_RUN)}
    uncovered = [c for c in commands if not any(c in table for table in tables.values())]
    assert not uncovered, f"README commands no test runs or parses: {uncovered}"
    stale = [c for name, table in tables.items() if name != "WORKFLOW"
             for c in table if c not in commands]
    assert not stale, f"commands listed here that the README no longer has: {stale}"
    named_twice = [c for c in set(commands) if sum(c in t for t in tables.values()) > 1]
    assert not named_twice


def pyproject_extras():
    """{extra: its requirements' text} of pyproject.toml (read without tomllib: Python 3.10)."""
    text = (REPO / "pyproject.toml").read_text()
    section = text.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    return dict(re.findall(r"^(\w+) = (\[.*?\])$", section, flags=re.M | re.S))


def _version(text):
    return tuple(int(part) for part in text.split("."))


def test_the_extras_the_readme_installs_exist():
    extras = pyproject_extras()
    for command in NOT_RUN:
        for extra in re.findall(r'"\.\[(\w+)\]"', command):
            assert extra in extras, command
    low, high = re.search(r'"torch>=([\d.]+),<([\d.]+)"', extras["torch"]).groups()
    assert _version(low) <= _version("2.13.0") < _version(high)  # pip install torch==2.13.0
    assert "torch" not in extras["test"]  # the separate extra, as the README says


# What replaces the PATH of the lasagne_compat.py command: a checkout with Lasagne's layout
# (lasagne/tests/{,layers/}conftest.py) and one test file of two tests in Lasagne's style.
STAND_IN_TEST = '''\
import numpy as np
import theano


def test_input_layer_keeps_its_shape():
    from lasagne.layers import InputLayer
    assert InputLayer((None, 3)).output_shape == (None, 3)


def test_dense_layer_output_in_theano():
    from lasagne.layers import DenseLayer, InputLayer, get_output
    layer = DenseLayer(InputLayer((None, 3)), num_units=2, b=None)
    x = theano.tensor.matrix("x")
    f = theano.function([x], get_output(layer, x))
    assert f(np.ones((1, 3), dtype=theano.config.floatX)).shape == (1, 2)
'''


def lasagne_checkout(directory):
    tests = directory / "lasagne" / "tests"
    (tests / "layers").mkdir(parents=True)
    (tests / "conftest.py").write_text("")
    (tests / "layers" / "conftest.py").write_text("")
    (tests / "layers" / "test_input.py").write_text(STAND_IN_TEST)
    return directory


def _session_directory(tmp_path_factory):
    root = tmp_path_factory.mktemp("readme")
    session = root / "session"
    session.mkdir()
    for name in ("scripts", "tests"):
        (session / name).symlink_to(REPO / name)
    if SHARED_DATA.is_dir():
        (root / "shared").symlink_to(SHARED_DATA.parent)
    return root, session


def command_chains(commands):
    """Split ``commands`` (README order) into chains: a command joins the chain of the
    command of :data:`AFTER` whose files it reads, and every other starts a chain."""
    chains, chain_of = [], {}
    for command in commands:
        if command in AFTER and AFTER[command] in chain_of:
            chain = chain_of[AFTER[command]]
        else:
            chain = []
            chains.append(chain)
        chain.append(command)
        chain_of[command] = chain
    return chains


def _run_chain(chain, directory, checkout):
    done = []
    for command in chain:
        words = [str(checkout) if word == "PATH" else word for word in shlex.split(command)]
        assert words[0] == "python" and words[1].startswith("scripts/")
        proc = subprocess.run([sys.executable, *words[1:], *RUN[command]], capture_output=True,
                              text=True, cwd=directory, timeout=300)
        done.append((command, proc))
        if proc.returncode != 0:
            break
    return done


# Runs the README's Python blocks one after another, each in a fresh namespace.
BLOCK_RUNNER = """\
import json, sys
for number, block in json.load(open(sys.argv[1])):
    for stream in (sys.stdout, sys.stderr):
        print(f"=== block {number}", file=stream, flush=True)
    exec(compile(block, f"README python block {number}", "exec"), {"__name__": "__main__"})
"""


def _run_blocks(blocks, directory, name):
    (directory / f"{name}.json").write_text(json.dumps(blocks))
    return subprocess.run([sys.executable, "-c", BLOCK_RUNNER, f"{name}.json"],
                          capture_output=True, text=True, cwd=directory, timeout=300)


def readme_python_blocks():
    """The README's Python blocks to run here: (number, text), split by whether they read
    files that the commands write."""
    blocks = [(number, block) for number, block in enumerate(python_blocks())
              if not _checked_by_test_readme(block)
              and (SHARED_DATA.is_dir() or not needs_shared(block))]
    reads_outputs = [(n, b) for n, b in blocks if re.search(r"higgs_(out|bag|uci)/", b)]
    return [item for item in blocks if item not in reads_outputs], reads_outputs


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """Run the commands of :data:`RUN` and the README's Python blocks in one directory.

    Chains of commands (see :func:`command_chains`), and the Python blocks that read no
    command's files, run two at a time; then the blocks that read them.
    """
    root, directory = _session_directory(tmp_path_factory)
    checkout = lasagne_checkout(root / "lasagne-stand-in")
    commands = [c for c in all_commands()
                if c in RUN and (SHARED_DATA.is_dir() or not needs_shared(c))]
    independent, dependent = readme_python_blocks()
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        blocks = pool.submit(_run_blocks, independent, directory, "independent")
        chains = [pool.submit(_run_chain, chain, directory, checkout)
                  for chain in command_chains(commands)]
        outputs = dict(item for chain in chains for item in chain.result())
    for command, proc in outputs.items():
        assert proc.returncode == 0, f"{command}: {proc.stdout[-2000:]}{proc.stderr[-2000:]}"
    assert set(outputs) == set(commands)
    block_runs = [(independent, blocks.result()),
                  (dependent, _run_blocks(dependent, directory, "dependent"))]
    return directory, outputs, block_runs


def test_commands_run_and_write_what_the_readme_says(session):
    directory, outputs, _ = session
    for command, proc in outputs.items():
        if "lasagne_compat.py" not in command:  # it reports each file's progress on stderr
            assert proc.stderr == "", f"{command}: {proc.stderr}"
    # The demo's 80,000 events after the test part: one network, 60,000 / 20,000.
    demo = json.loads((directory / "higgs_out" / "metrics.json").read_text())
    assert demo["mode"] == "single"
    assert (demo["data"]["n_train"], demo["data"]["n_valid"], demo["data"]["n_test"]) == (
        60_000, 20_000, 20_000)
    assert load_checkpoint(directory / "higgs_out" / "model.h5").pipeline is not None
    # At most 50,000 training events: a bag of five.
    assert len(load_ensemble(directory / "higgs_bag" / "model.h5")) == 5
    assert len(list((directory / "higgs_bag" / "members").glob("*.h5"))) == 5
    mc = outputs[MC]
    assert "MC dropout, 30 passes" in mc.stdout
    assert (directory / "mc_mc.csv").read_text().startswith("EventId,Score,Std\n")
    assert "format: dropout_layers.checkpoint" in outputs[INSPECT].stdout
    assert (directory / "higgs_out" / "model.onnx").stat().st_size > 0
    assert "learning rate and width:" in outputs["python scripts/train_higgs.py --help"].stdout
    sizes = outputs["python scripts/benchmark_checkpoint.py"].stdout
    assert "float16" in sizes and "gzip" in sizes
    compat = outputs["python scripts/lasagne_compat.py --lasagne PATH --failures"]
    assert "passed 2 of 2 tests run (100.0%)" in compat.stdout
    if SHARED_DATA.is_dir():
        assert len(load_ensemble(directory / "higgs_uci" / "model.h5")) == 5  # 5,600 events
        assert (directory / "uci_scores.csv").read_text().startswith("Row,Score\n")
        assert "test AUC" in outputs[UCI_EXAMPLE].stdout


def block_outputs(block_runs):
    """{block's text: its stdout} of every block run, and the lines of their stderr."""
    outputs, stderr = {}, []
    for blocks, proc in block_runs:
        assert proc.returncode == 0, proc.stderr[-3000:]
        text = dict(blocks)
        pieces = re.split(r"^=== block (\d+)\n", proc.stdout, flags=re.M)[1:]
        outputs.update({text[int(n)]: out for n, out in zip(pieces[::2], pieces[1::2])})
        assert len(pieces) == 2 * len(blocks)
        stderr += proc.stderr.splitlines()
    return outputs, stderr


def output_of(outputs, snippet):
    """The stdout of the one block that contains ``snippet``."""
    (out,) = [out for block, out in outputs.items() if snippet in block]
    return out


def test_python_blocks_run_on_the_files_the_commands_wrote(session):
    outputs, stderr = block_outputs(session[2])
    # Nothing but the markers on stderr: no block warns.
    assert [line for line in stderr if not line.startswith("=== block")] == []
    assert output_of(outputs, "DropoutSchedule(linear_ramp") == "0.5\n"
    assert 0.0 < float(output_of(outputs, "concrete.drop_rate()")) < 1.0
    frames = output_of(outputs, "trainer.feature_names_in_").splitlines()
    assert frames[0] == "['mass', 'pt', 'eta']" and "in another order" in frames[1]
    assert output_of(outputs, 'ckpt = dl.load_checkpoint("higgs_out/model.h5")').startswith(
        "['DER_mass_MMC', 'DER_mass_transverse_met_lep'] ")
    assert output_of(outputs, 'load_ensemble("higgs_bag/model.h5")').startswith("5 ")
    assert output_of(outputs, 'load_checkpoint("signed.h5", key=key)') == ""
    assert float(output_of(outputs, "onnxruntime.InferenceSession")) < 1e-5
    if SHARED_DATA.is_dir():
        read = output_of(outputs, "HiggsData.from_frame").splitlines()
        assert read[0] == "(20, 30) [1 0 0] [100000 100001 100002]"
        assert read[1].startswith("7500 [7000, 500] (") and read[1].endswith("binary.test', 1)")
        best = output_of(outputs, "GridSearchCV(").split()[-1]
        assert 0.5 < float(best) <= 1.0  # a cross-validated AUC that learned something


def _parse_in_a_fresh_interpreter(commands):
    """Parse each command with its script's own parser; return {command: error or None}."""
    code = """\
import json, os, runpy, shlex, sys
from dropout_layers_higgs.cli.train_args import build_parser, parse_args
errors = {}
for command in json.loads(sys.argv[1]):
    words = shlex.split(command)
    try:
        if words[1] == "scripts/train_higgs.py":
            parse_args(build_parser("train_higgs.py"), words[2:])
        else:  # the script's folder first on the path, as when it runs
            sys.path.insert(0, os.path.dirname(os.path.abspath(words[1])))
            runpy.run_path(words[1], run_name="readme_parse")["parse_args"](words[2:])
        errors[command] = None
    except SystemExit as exc:
        errors[command] = f"exit {exc.code}"
print(json.dumps(errors))
"""
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(commands)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1]), proc.stderr


def test_commands_that_are_only_parsed_have_valid_options():
    errors, stderr = _parse_in_a_fresh_interpreter(list(PARSED))
    assert errors == {command: None for command in PARSED}, stderr
