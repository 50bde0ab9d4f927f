"""Case files and VisCy configs parsed into typed, frozen values.

Importing anything here imports no torch: loading a case must stay cheap for
the CLI's refusals and for pytest collection. :meth:`NumericalMode.apply
<repro_golden.config.numerics.NumericalMode.apply>` imports torch when called.
Depends on :mod:`repro_golden.core` only, never on :mod:`repro_golden.inference`.
"""
