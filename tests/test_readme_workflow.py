"""The README's physicist's workflow: its commands, run one after another in a fresh directory.

The commands are those of the README's "The physicist's workflow" block, and
must stay equal to :data:`WORKFLOW`. They run as written, with flags appended
that only make them small and quick (fewer events, three small networks, few
epochs): argparse takes the last value of an option, so the appended flags
change the size of the work, not its meaning.
"""
import re
import shlex
import subprocess
import sys

import pytest
from helpers import REPO

from dropout_layers.checkpoint import load_ensemble

WORKFLOW = [
    "python scripts/make_toy_higgs.py sig.csv --only signal",
    "python scripts/make_toy_higgs.py bg.csv --only background",
    "python scripts/make_toy_higgs.py test.csv --test --seed 1",
    "python scripts/train_higgs.py --data sig.csv bg.csv",
    "python scripts/predict_higgs.py higgs_out/model.h5 sig.csv bg.csv "
    "--split higgs_out/split.csv --out held_out.csv",
    "python scripts/predict_higgs.py higgs_out/model.h5 test.csv --top-fraction 0.15 "
    "--out submission.csv",
]
QUICK = {
    "make_toy_higgs.py": ["--events", "1500"],
    "train_higgs.py": ["--folds", "3", "--hidden", "16", "--epochs", "3", "--learning-rate",
                       "0.01", "--quiet"],
    "predict_higgs.py": [],
}


def readme_workflow():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(r"### The physicist's workflow\n.*?```bash\n(.*?)```", text, flags=re.S)
    if match is None:
        return None
    lines = [line.split("#")[0].strip() for line in match.group(1).splitlines()]
    return [line for line in lines if line]


def test_readme_shows_the_workflow_that_is_tested():
    assert readme_workflow() == WORKFLOW, (
        "the README's \"### The physicist's workflow\" bash block must hold exactly the "
        "commands of WORKFLOW in tests/test_readme_workflow.py")


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    """Run every command of the workflow in a fresh directory; return it and the outputs."""
    directory = tmp_path_factory.mktemp("workflow")
    outputs = []
    for command in WORKFLOW:
        words = shlex.split(command)
        assert words[0] == "python" and words[1].startswith("scripts/")
        script = REPO / words[1]
        proc = subprocess.run([sys.executable, str(script), *words[2:], *QUICK[script.name]],
                              capture_output=True, text=True, cwd=directory, timeout=600)
        assert proc.returncode == 0, f"{command}: {proc.stderr}"
        outputs.append(proc)
    return directory, outputs


@pytest.mark.slow
def test_every_command_runs_and_writes_what_the_readme_says(workflow):
    directory, outputs = workflow
    for name in ("sig.csv", "bg.csv", "test.csv", "held_out.csv", "submission.csv"):
        assert (directory / name).is_file()
    out = directory / "higgs_out"
    for name in ("model.h5", "metrics.json", "split.csv", "loss.png", "overtraining.png",
                 "roc.png", "ams.png"):
        assert (out / name).is_file()
    assert len(load_ensemble(out / "model.h5").members) == 3
    held_out, submission = outputs[4], outputs[5]
    assert "labelled data (300 events): AUC " in held_out.stdout
    assert "cut: --top-fraction 0.15 (threshold " in submission.stdout
    assert "(225 of 1,500 as signal)" in submission.stdout
    assert all(proc.stderr == "" for proc in outputs)
