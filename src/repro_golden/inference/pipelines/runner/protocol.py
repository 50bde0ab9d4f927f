"""The contract between the runner and its caller: event marker, exit statuses, names.

:mod:`repro_golden.inference.pipelines.lightning` reads these in our
interpreter; the runner's modules use them in the lab's. Standard library only
(nothing is imported at all).
"""

from __future__ import annotations

#: Prefix of an event line on stdout: ``@@repro-golden@@ {json}``.
MARKER = "@@repro-golden@@ "
EXIT_IMPORT = 3
EXIT_CONFIG = 4
EXIT_PIPELINE = 5
EXIT_ENVIRONMENT = 6
EXIT_CHECKPOINT = 7
EXIT_INFER01 = 8
#: The variable naming the read end of the pipe whose write end only the caller holds.
WATCH_FD_VARIABLE = "REPRO_GOLDEN_RUNNER_WATCH_FD"
#: Seconds between SIGTERM and SIGKILL when the runner (or its caller) stops the group.
STOP_GRACE = 5.0
#: Where rank 0 writes the row keys every rank predicted (in the caller's private folder).
PREDICTED_ROWS = "predicted-rows.json"
