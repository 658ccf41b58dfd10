"""The README's examples run as written."""
import re

import numpy as np

from conftest import REPO, run_python


def python_blocks():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_layer_example_trains_and_predicts():
    example = next(b for b in python_blocks() if "SwitchDropoutLayer" in b and "train_fn" in b)
    proc = run_python(example)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.strip().splitlines()
    losses = [float(line.split()[1]) for line in lines[:5]]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]


def test_quick_start_has_exactly_the_two_command_lines():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    quick = text.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in quick.strip().splitlines()]
    assert commands == ['pip install -e . && python scripts/train_higgs.py', 'pip install -e ".[test]" && pytest']
