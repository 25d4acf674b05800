"""Real parts on loopback for the AWS helper: moto's EC2/SSM server and an OpenSSH sshd."""

from __future__ import annotations

import datetime
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import paramiko
import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.server import ThreadedMotoServer
from moto.ssm.models import Parameter, ssm_backends

from aws import images
from tests.conftest import ephemeral_port

REGION = "eu-west-3"
SSHD = "/usr/sbin/sshd"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's server mode (EC2, SSM, ...) on 127.0.0.1, one per test session."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@dataclass
class AwsWorld:
    """The emulated account: clients, and the AMIs the public SSM parameters point to."""

    endpoint: str
    ec2: Any
    ubuntu_ami: str
    dlami: str


def _public_parameter(name: str, value: str) -> None:
    # AWS's public parameters cannot be written through the API (moto refuses /aws/...
    # names like AWS does), so the fixture puts them into moto's in-process backend.
    backend = ssm_backends[DEFAULT_ACCOUNT_ID][REGION]
    backend._parameters[name].append(
        Parameter(  # type: ignore[abstract]
            account_id=DEFAULT_ACCOUNT_ID,
            name=name,
            value=value,
            parameter_type="String",
            description=None,
            allowed_pattern=None,
            keyid=None,
            last_modified_date=datetime.datetime.now(datetime.UTC),
            version=1,
            data_type="aws:ec2:image",
        )
    )


def use_emulated_aws(
    monkeypatch: pytest.MonkeyPatch, endpoint: str, region: str, tmp_path: Path
) -> None:
    """Point boto3 (and anything on it, Ray's launcher too) at ``endpoint`` with dummy
    credentials, ignoring the user's own AWS configuration."""
    for var in ("AWS_PROFILE", "AWS_REGION", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AwsWorld:
    """A reset moto account in eu-west-3 with dummy credentials and the public SSM parameters."""
    req = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(req, timeout=10).close()
    use_emulated_aws(monkeypatch, moto_endpoint, REGION, tmp_path)
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=moto_endpoint)
    linux = [
        i
        for i in ec2.describe_images(Owners=["amazon"])["Images"]
        if i.get("Platform") != "windows" and i.get("RootDeviceName")
    ]
    ubuntu, dlami = linux[0]["ImageId"], linux[1]["ImageId"]
    _public_parameter(images.UBUNTU_PARAMETER, ubuntu)
    _public_parameter(images.DLAMI_PARAMETER, dlami)
    return AwsWorld(moto_endpoint, ec2, ubuntu, dlami)


@dataclass
class Sshd:
    """An sshd on 127.0.0.1 that plays the instance; it lets in the key in ``key_file``."""

    port: int
    user: str
    key_file: Path
    directory: Path


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    """Debian's OpenSSH server on a free loopback port, own host key and config, key-only.

    The client key is made here (ed25519, OpenSSH format) and is the only authorized key.
    """
    if not os.path.exists(SSHD) or shutil.which("ssh-keygen") is None:
        pytest.skip("openssh-server is not installed (.ci/run installs it)")
    if os.geteuid() != 0:
        pytest.skip("sshd on a loopback port needs root here (CI runs as root)")
    directory = tmp_path / "sshd"
    directory.mkdir()
    host_key = directory / "host_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
    client_key = paramiko.Ed25519Key.from_private_key_file(
        str(_make_client_key(directory / "client_ed25519"))
    )
    authorized = directory / "authorized_keys"
    authorized.write_text(f"{client_key.get_name()} {client_key.get_base64()} test\n")
    authorized.chmod(0o600)
    # sshd refuses to start without its privilege-separation directory.
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    for _attempt in range(5):
        port = ephemeral_port()
        config = directory / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {host_key}",
                    f"PidFile {directory / 'sshd.pid'}",
                    f"AuthorizedKeysFile {authorized}",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PermitRootLogin prohibit-password",
                    "UsePAM no",
                    "StrictModes no",
                    "Subsystem sftp internal-sftp",
                    "LogLevel VERBOSE",
                    "",
                ]
            )
        )
        log = (directory / "sshd.log").open("w")
        proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config), "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            if _wait_listening(port, proc):
                yield Sshd(port, "root", directory / "client_ed25519", directory)
                return
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            log.close()
    pytest.fail(f"sshd did not start: {(directory / 'sshd.log').read_text()}")


def _make_client_key(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


def _wait_listening(port: int, proc: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.05)
    return False
