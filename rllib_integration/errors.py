"""The exceptions of rllib_integration.

Every failure of the simulator connection is a ``CarlaServerError`` so that RLlib's env-runner
fault tolerance (and user code) can catch one family and restart; configuration mistakes are
``ConfigError`` (a ``ValueError``) and are never retried.
"""

from __future__ import annotations


class RllibIntegrationError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(RllibIntegrationError, ValueError):
    """A configuration value is missing, unknown or of the wrong type."""


class CarlaServerError(RllibIntegrationError, RuntimeError):
    """The simulator could not be started, reached, or stopped responding."""


class ServerStartError(CarlaServerError):
    """A server process could not be launched or never became ready."""


class ServerConnectionError(CarlaServerError):
    """No connection to the server after the configured retries."""


class ServerLostError(CarlaServerError):
    """The server died or timed out during an episode; the next reset restarts it."""


class SpawnError(RllibIntegrationError, RuntimeError):
    """The hero could not be placed: every spawn point was occupied."""


class SensorError(RllibIntegrationError, RuntimeError):
    """A sensor's data could not be parsed (a bug in a parser or a corrupt message)."""


class SensorTimeoutError(CarlaServerError):
    """A sensor's data for the tick just run did not arrive in time."""
