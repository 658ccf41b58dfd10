"""The command-line tools: ``train-higgs``, ``predict-higgs`` and ``make-toy-higgs``.

Each module's ``run(argv)`` parses the arguments, does the work and returns
the exit status; ``scripts/*.py`` and the installed console commands call it.
"""
