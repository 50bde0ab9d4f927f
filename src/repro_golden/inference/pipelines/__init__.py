"""Pipelines under test: ``builtin`` (this library's VisCy 0.4.1 oracle) and ``lightning``.

Importing this package is cheap: the runner module imports only the standard
library at import time (it also runs, by path, in interpreters without
repro-golden).
"""
