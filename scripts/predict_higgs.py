#!/usr/bin/env python
"""Score Higgs events with a checkpoint of train_higgs.py; see ``--help``.

The command lives in :mod:`dropout_layers_higgs.cli.predict`; ``pip install -e .``
installs it as the ``predict-higgs`` console command too.
"""
import sys

try:
    from dropout_layers_higgs.cli.predict import run
except ModuleNotFoundError as exc:
    sys.exit(f"predict_higgs.py: error: {exc.name} is not installed; run pip install -e . in the "
             "repository first")

if __name__ == "__main__":
    sys.exit(run(prog="predict_higgs.py"))
