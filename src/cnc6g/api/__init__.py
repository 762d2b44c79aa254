"""The control plane's HTTP API (FastAPI): thin routes over :mod:`cnc6g.control`."""

from cnc6g.api.app import create_app

__all__ = ["create_app"]
