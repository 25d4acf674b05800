"""The exceptions of the AWS helper: each one's message is a complete, one-line explanation."""

from __future__ import annotations


class HelperError(Exception):
    """A failure the command line reports as one line and exit status 1."""


class AwsCallError(HelperError):
    """An AWS API call failed; the message names the operation and the resource.

    Args:
        operation: the API operation, e.g. ``ec2.RunInstances``.
        resource: what it was about, e.g. ``instance i-0123`` or ``key pair CARLA_RLLIB``.
        code: the AWS error code (``InvalidAMIID.NotFound``).
        message: AWS's own message.
    """

    def __init__(self, operation: str, resource: str, code: str, message: str) -> None:
        self.operation = operation
        self.resource = resource
        self.code = code
        super().__init__(f"{operation} failed for {resource}: {code}: {message}")


class SshError(HelperError):
    """An SSH/SFTP step failed (connection refused or timed out, host key changed, auth)."""


class RemoteCommandError(HelperError):
    """A command run over SSH exited with a non-zero status (which the CLI exits with)."""

    def __init__(self, command: str, host: str, status: int) -> None:
        self.status = status
        super().__init__(f"remote command on {host} exited with status {status}: {command}")
