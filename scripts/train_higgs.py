#!/usr/bin/env python
"""Train a dropout network on Higgs challenge data; see ``--help``.

The command lives in :mod:`dropout_layers_higgs.cli.train`; ``pip install -e .``
installs it as the ``train-higgs`` console command too.
"""
import sys

try:
    from dropout_layers_higgs.cli.train import run
except ModuleNotFoundError as exc:
    sys.exit(f"train_higgs.py: error: {exc.name} is not installed; run pip install -e . in the "
             "repository first")

if __name__ == "__main__":
    sys.exit(run(prog="train_higgs.py"))
