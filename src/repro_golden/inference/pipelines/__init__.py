"""Pipelines under test: ``builtin`` (this library's VisCy 0.4.1 oracle) and ``lightning``.

Importing this package is cheap: it imports nothing. The ``runner`` package
imports only the standard library at import time (its ``__main__.py`` runs, by
path, in interpreters without repro-golden); ``base`` holds the
:class:`~repro_golden.inference.pipelines.base.Pipeline` protocol both
pipelines follow.
"""
