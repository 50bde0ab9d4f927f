"""The offline switch (``numerics.offline``): timm never asked for pretrained weights, and
any connection beyond this host refused with a message naming who tried."""

from __future__ import annotations

import os
import socket
import sys
import traceback
from collections.abc import Callable
from typing import Any

_LOOPBACK = ("127.", "::1", "localhost", "0.0.0.0")
#: This package's folder: its own frames are never the caller to name.
_HERE = os.path.dirname(os.path.abspath(__file__))


def _offline_connect(original: Callable[..., Any]) -> Callable[..., Any]:
    def connect(self: socket.socket, address: Any) -> Any:
        host = str(address[0]) if isinstance(address, tuple) else str(address)
        if self.family == socket.AF_UNIX or host.startswith(_LOOPBACK):
            return original(self, address)
        caller = _first_foreign_frame()
        raise ConnectionRefusedError(
            f"offline (numerics.offline): a connection to {address!r} was refused; "
            f"attempted from {caller}"
        )

    return connect


def _first_foreign_frame() -> str:
    """``file:line in function`` of the innermost caller outside socket/ssl/http internals."""
    skip = ("socket.py", "ssl.py", "connection.py", "client.py", "_http", "urllib")
    for frame in reversed(traceback.extract_stack()[:-2]):
        ours = os.path.dirname(os.path.abspath(frame.filename)) == _HERE
        if not ours and not any(part in frame.filename for part in skip):
            return f"{frame.filename}:{frame.lineno} in {frame.name}"
    return "unknown caller"  # pragma: no cover


def apply_offline() -> None:
    """No pretrained-weight requests from timm; no connection beyond this host."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    socket.socket.connect = _offline_connect(socket.socket.connect)  # type: ignore[method-assign]
    try:
        import timm
    except ImportError:
        return
    create_model = timm.create_model

    def create_model_offline(*args: Any, **kwargs: Any) -> Any:
        kwargs["pretrained"] = False
        return create_model(*args, **kwargs)

    timm.create_model = create_model_offline
    models = sys.modules.get("timm.models")
    if models is not None and getattr(models, "create_model", None) is create_model:
        models.create_model = create_model_offline  # type: ignore[attr-defined]
