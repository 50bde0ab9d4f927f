"""Run a LightningCLI predict config in the lab's interpreter; report as JSON lines.

The caller (:mod:`repro_golden.inference.pipelines.lightning`) writes a spec
and runs ``python .../pipelines/runner/__main__.py SPEC.json`` in the lab's own
environment, which needs torch, lightning, jsonargparse and pyyaml but not
repro-golden. So this package is standard library only at import time (torch
and Lightning are imported inside functions), and it imports nothing of ours
but its own modules and :mod:`repro_golden.inference.probes` (the digests and
environment fields both pipelines record); ``tests/test_layers.py`` checks
both. One module per job:

- :mod:`.protocol` the caller's contract: event marker, exit statuses, names;
- :mod:`.events` event lines on stdout (global rank 0 only);
- :mod:`.offline` the offline switch;
- :mod:`.classes` ``class_path`` blocks and the objects they name;
- :mod:`.provenance` per class: module, file, distribution, version, git state;
- :mod:`.infer01` INFER-01: strict key and shape comparison, one forward pass;
- :mod:`.stages` per-batch stage digests and every DDP rank's rows;
- :mod:`.stop` SIGINT/SIGTERM through Lightning, the parent watch;
- :mod:`.predict` LightningCLI, INFER-01, ``trainer.predict``, failures;
- :mod:`.main` the entry and the steps before LightningCLI;
- ``__main__.py`` run by path: mounts this package under a private name.

What it does, in order (exit statuses in :mod:`.protocol`):

1. checks that this interpreter has torch, lightning, jsonargparse and pyyaml
   (exit 6 naming what is missing); applies the offline switch (timm never
   asked for pretrained weights; any non-loopback connection refused with a
   message naming who tried), the case's thread count and float32 matmul
   precision;
2. reads the config as YAML (exit 4 with line and column) and imports every
   ``class_path`` of it (exit 3 naming the class, this interpreter and the
   import error);
3. reads the checkpoint with ``torch.load(weights_only=True)`` (exit 7: a
   pickle that would run code, a corrupt or absent file);
4. builds the config with ``LightningCLI`` itself (``predict`` subcommand), so an
   unknown or ill-typed key is refused exactly as LightningCLI refuses it
   (exit 4); the case numerics are passed as the same command-line overrides
   LightningCLI accepts; the checkpoint's ``hyper_parameters`` may not switch a
   class the config names (exit 7); every writer callback's ``output_path`` is
   redirected to the private path the caller chose; the classes instantiated
   are reported (``ran``);
5. INFER-01: compares the checkpoint's ``state_dict`` key by key and shape by
   shape with the instantiated module, then runs one forward pass on an input
   of the case's shape; a failure stops here (exit 8: nothing is predicted);
6. runs ``trainer.predict`` with a callback that records, per batch, digests
   of the ``anchor`` the model receives, of its outputs and of the row keys,
   streams progress in cells, and gathers every rank's records and row keys
   at the end (rank 0 writes the keys to ``predicted-rows.json`` in the
   caller's private folder); a crash is reported with its traceback tail
   (exit 5), with ``storage`` (errno) when a filesystem fault is behind it and
   ``missing_module`` for a ``ModuleNotFoundError``.

SIGINT and SIGTERM raise through Lightning (which re-raises a
``BaseException`` after its teardown; its own SIGTERM handler only takes note)
and end the runner with 128 + the signal and a ``stopped`` event.

Stopping: the caller starts the runner as the leader of its own process group
and stops the group; the runner watches the read end of a pipe whose write end
only the caller holds (``REPRO_GOLDEN_RUNNER_WATCH_FD``). End of file there
means the caller died: the whole group gets SIGTERM, the caller's private
folder is removed, and SIGKILL follows after ``STOP_GRACE`` seconds. Under
DDP, Lightning relaunches ``__main__.py`` by path with the same arguments (the
spec) for every rank.
"""
