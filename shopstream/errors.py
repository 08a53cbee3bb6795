"""Errors are data: one base error carrying what went wrong and how to fix it.

The core raises them; the ``shopstream`` command turns each into one red line, its hint and an exit
code, in one place (``shopstream.cli``). ``str(error)`` is the message and the hint together, for
logs and for callers that are not the command.
"""

from __future__ import annotations


class ShopstreamError(Exception):
    """Something a user can act on: ``message`` says what failed, ``hint`` how to fix it."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}: {self.hint}" if self.hint else self.message


class SettingsError(ShopstreamError):
    """A setting is invalid; nothing was run."""

    exit_code = 2


class ResourceMissing(ShopstreamError):
    """A data file of the project (Avro contracts, connector JSON, poms, dashboards) is not there."""


class ContractError(ShopstreamError):
    """An Avro contract does not say what the code relies on."""


class StackError(ShopstreamError):
    """A local stack operation failed."""


class MissingPrerequisite(StackError):
    """A binary, a JDK or an artefact the stack needs is not on this machine."""


class PortInUse(StackError):
    """A port a service must bind is taken by a process the stack did not start."""


class ServiceUnhealthy(StackError):
    """A service did not pass its health check in time, or its process exited."""


class RegistryError(ShopstreamError):
    """The schema registry refused or could not be reached."""


class ConnectError(ShopstreamError):
    """Kafka Connect refused a request, or a connector failed."""


class InfluxError(ShopstreamError):
    """InfluxDB refused a request or could not be reached."""


class MonitoringError(ShopstreamError):
    """Prometheus or Alertmanager refused a request or could not be reached."""


class DatabaseError(ShopstreamError):
    """MariaDB/MySQL refused or could not be reached."""


class KafkaUnavailable(ShopstreamError):
    """The Kafka cluster did not answer, or lacks a topic the command needs."""


class KafkaAuthError(KafkaUnavailable):
    """Kafka refused the credentials (or they are missing), or the identity lacks an ACL."""


class Timeout(ShopstreamError):
    """Something waited for did not happen in time."""


class ProcessFailed(ShopstreamError):
    """A program run under the stack's supervisor did not start, or exited."""
