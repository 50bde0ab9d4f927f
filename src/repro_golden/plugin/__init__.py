"""The pytest plugin: options and settings, cluster paths, markers and fixtures.

The ``pytest11`` entry point is :mod:`repro_golden.plugin.hooks`; this package
imports nothing, so loading the plugin costs only what ``hooks`` imports.
"""
