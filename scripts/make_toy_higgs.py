#!/usr/bin/env python
"""Write synthetic Higgs events in the Kaggle schema; see ``--help``.

The command lives in :mod:`dropout_layers_higgs.cli.make_toy`; ``pip install -e .``
installs it as the ``make-toy-higgs`` console command too.
"""
import sys

try:
    from dropout_layers_higgs.cli.make_toy import run
except ModuleNotFoundError as exc:
    sys.exit(f"make_toy_higgs.py: error: {exc.name} is not installed; run pip install -e . in the "
             "repository first")

if __name__ == "__main__":
    sys.exit(run(prog="make_toy_higgs.py"))
