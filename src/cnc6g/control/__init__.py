"""The control plane's service layer: what registrations, requests, sessions and the slot loop do.

No HTTP here: the API (:mod:`cnc6g.api`), the CLI and agent tools call these operations.
"""

from cnc6g.control.plane import ControlPlane, Settings

__all__ = ["ControlPlane", "Settings"]
