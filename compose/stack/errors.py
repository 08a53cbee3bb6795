"""Errors of the local stack that a user can act on: each message says how to fix it."""

from __future__ import annotations


class StackError(RuntimeError):
    """A stack operation failed; ``str(err)`` is meant for the user, fix included."""


class MissingPrerequisite(StackError):
    """A binary, a JDK or an artefact the stack needs is not on this machine."""


class PortInUse(StackError):
    """A port a service must bind is taken by a process the stack did not start."""


class ServiceUnhealthy(StackError):
    """A service did not pass its health check in time, or its process exited."""
