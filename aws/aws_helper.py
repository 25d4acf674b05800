"""Build the training image and manage instances on AWS (EC2 through boto3, SSH through paramiko).

Commands (the original's): ``create-image`` (launch a builder instance from today's Ubuntu or
Deep Learning AMI, upload this project, run the installation scripts, save an image and print
the ``ImageId`` and ``SecurityGroupIds`` the autoscaler yaml needs), ``launch``, ``start``,
``info``, ``get``, ``put``, ``exec`` and ``stop``.

Region and credentials come from the AWS configuration (``aws configure``, ``AWS_PROFILE``,
``AWS_REGION``) or ``--region``/``--profile``; ``AWS_ENDPOINT_URL`` points boto3 at another
endpoint. Runs from the repository root (``python aws/aws_helper.py``) or from ``aws/``
(``python aws_helper.py``) alike. ``--dry-run`` prints the calls it would make and creates
nothing.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as a script (from the repository root or from aws/): make the package importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3
from botocore.exceptions import BotoCoreError

from aws import autoscaler_yaml, images
from aws.ec2 import DRY_RUN_ID, Cleanup, Ec2, ssh_cidr
from aws.errors import HelperError, RemoteCommandError
from aws.ssh import DEFAULT_EXCLUDE, SshSession, SshTarget, remote_path

log = logging.getLogger("aws.helper")

AWS_DIR = Path(__file__).resolve().parent
REPO_ROOT = AWS_DIR.parent
ACTIONS = ("create-image", "start", "launch", "info", "get", "put", "exec", "stop")
INFO_FIELDS = (
    "instance_id",
    "state",
    "public_ip",
    "private_ip",
    "pem_file",
    "key_name",
    "image_id",
    "instance_type",
    "availability_zone",
    "security_group_ids",
)
#: Default instance types: 2 vCPUs and 8 GiB install torch and Ray comfortably (the original's
#: t2.micro has 1 GiB); the GPU one has an NVIDIA T4 for the Deep Learning AMI's driver.
CPU_INSTANCE_TYPE = "t3.large"
GPU_INSTANCE_TYPE = "g4dn.xlarge"
#: Where the caller's public address is looked up when --ssh-cidr is not given.
CHECKIP_URL = "https://checkip.amazonaws.com"


def lookup_public_ip() -> str:
    """The caller's public IPv4 address as AWS sees it (checkip.amazonaws.com)."""
    try:
        with urllib.request.urlopen(CHECKIP_URL, timeout=10) as reply:
            return str(reply.read().decode().strip())
    except OSError as e:
        raise HelperError(
            f"cannot look up your public address at {CHECKIP_URL} ({e}): pass --ssh-cidr"
        ) from e


def build_parser() -> argparse.ArgumentParser:
    """The command line (the original's arguments, plus region/SSH/dry-run options)."""
    p = argparse.ArgumentParser(
        prog="aws_helper.py",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    p.add_argument("action", choices=ACTIONS)
    aws = p.add_argument_group("AWS")
    aws.add_argument("--region", default=None, help="region (default: the AWS configuration's)")
    aws.add_argument("--profile", default=None, help="AWS configuration profile")
    aws.add_argument(
        "--availability-zone", default=None, help="availability zone (default: EC2 chooses)"
    )
    aws.add_argument("--subnet-id", default=None, help="subnet (default: the default VPC's)")
    aws.add_argument("--instance-id", default="", help="instance of start/info/get/put/exec/stop")
    aws.add_argument(
        "--name",
        default="CARLA_RLLIB",
        help="image name and instance Name tag (default: %(default)s)",
    )
    aws.add_argument(
        "--image-id",
        "--base-ami-id",
        "--ami-id",
        dest="image_id",
        default="",
        help="image to start from (default: today's Ubuntu 22.04, or Deep Learning AMI with --gpu)",
    )
    aws.add_argument("--gpu", action="store_true", help="base image: the Deep Learning AMI")
    aws.add_argument("--image-parameter", default=None, help="SSM parameter holding the base image")
    aws.add_argument("--key-name", default=None, help="key pair (default: --name)")
    aws.add_argument(
        "--key-dir",
        type=Path,
        default=Path("~/rllib_keys"),
        help="private keys and known_hosts (default: %(default)s)",
    )
    aws.add_argument(
        "--key-type", choices=("ed25519", "rsa"), default="ed25519", help="(default: %(default)s)"
    )
    aws.add_argument("--security-group-name", default=None, help="security group (default: --name)")
    aws.add_argument(
        "--ssh-cidr",
        default=None,
        help="who may SSH in: an address or CIDR (default: your public address /32)",
    )
    aws.add_argument(
        "--instance-type",
        default=None,
        help=f"default: {CPU_INSTANCE_TYPE}, or {GPU_INSTANCE_TYPE} with --gpu",
    )
    aws.add_argument(
        "--volume-size", type=int, default=150, help="root volume [GiB] (default: %(default)s)"
    )
    aws.add_argument("--user-data", default="", help="cloud-init user data for the instance")
    aws.add_argument(
        "--write-yaml",
        type=Path,
        default=None,
        help="autoscaler yaml to write ImageId and SecurityGroupIds into (create-image)",
    )
    aws.add_argument("--dry-run", action="store_true", help="print the calls, create nothing")
    ssh = p.add_argument_group("SSH")
    ssh.add_argument(
        "--installation-scripts",
        nargs="+",
        default=["install/install.sh"],
        help="scripts run on the builder, in order; relative paths: to here or to aws/ "
        "(default: %(default)s)",
    )
    ssh.add_argument(
        "--remote-dir",
        default="rllib-integration",
        help="where create-image uploads the project, from the login directory "
        "(default: %(default)s)",
    )
    ssh.add_argument("--field", default="", help=f"info: one of {', '.join(INFO_FIELDS)}")
    ssh.add_argument("--source", default=".", help="get/put: what to copy (default: %(default)s)")
    ssh.add_argument(
        "--target", default=".", help="get/put/exec: where to copy it (default: %(default)s)"
    )
    ssh.add_argument(
        "--exclude",
        nargs="*",
        default=list(DEFAULT_EXCLUDE),
        help="put/create-image: names to skip (default: %(default)s)",
    )
    ssh.add_argument("--script", default=None, help="exec: local script to upload and run")
    ssh.add_argument("--script-args", default="", help="arguments of --script / install scripts")
    ssh.add_argument("--command", default=None, help="exec: a command line to run instead")
    ssh.add_argument("--host", default=None, help="SSH address (default: the public IP)")
    ssh.add_argument("--port", type=int, default=22, help="SSH port (default: %(default)s)")
    ssh.add_argument("--ssh-user", default="ubuntu", help="(default: %(default)s)")
    ssh.add_argument("--key-file", type=Path, default=None, help="default: <key-dir>/<key>.pem")
    ssh.add_argument(
        "--ssh-timeout",
        type=float,
        default=300.0,
        help="retry SSH this long [s] (default: %(default)s)",
    )
    p.add_argument("--debug", action="store_true", help="debug logging (never of AWS replies)")
    return p


class Helper:
    """The commands, on one parsed command line.

    Args:
        args: the parsed arguments.
        lookup_ip: returns the caller's public address (injectable for tests).
        out: where results are printed.
    """

    def __init__(
        self,
        args: argparse.Namespace,
        *,
        lookup_ip: Callable[[], str] = lookup_public_ip,
        out: Callable[[str], None] = print,
    ) -> None:
        self.args = args
        self.lookup_ip = lookup_ip
        self.out = out
        try:
            session = boto3.session.Session(region_name=args.region, profile_name=args.profile)
        except BotoCoreError as e:
            raise HelperError(f"AWS configuration: {e}") from e
        self.ec2 = Ec2(session, dry_run=args.dry_run, out=out)
        self.key_dir = args.key_dir.expanduser()

    # -- shared steps -------------------------------------------------------------------------
    def _cidr(self) -> str:
        if self.args.ssh_cidr:
            cidr = ssh_cidr(self.args.ssh_cidr)
            if cidr.endswith("/0"):
                log.warning("--ssh-cidr %s opens SSH to the whole internet", cidr)
            return cidr
        if self.args.dry_run:
            return f"{DRY_RUN_ID} your public address>/32"
        return ssh_cidr(self.lookup_ip())

    def _scripts(self) -> list[Path]:
        scripts = []
        for name in self.args.installation_scripts:
            candidates = [Path(name), AWS_DIR / name, REPO_ROOT / name]
            found = next((c.resolve() for c in candidates if c.is_file()), None)
            if found is None:
                raise HelperError(f"installation script not found: {name}")
            scripts.append(found)
        return scripts

    def _launch(self, cleanup: Cleanup) -> tuple[str, str, Path]:
        """Key pair, security group and a running instance; returns (instance, group, key)."""
        a = self.args
        if a.instance_type is None:
            a.instance_type = GPU_INSTANCE_TYPE if a.gpu else CPU_INSTANCE_TYPE
        self.ec2.check_instance_type(a.instance_type)
        image = images.resolve_base_image(
            self.ec2, image_id=a.image_id or None, gpu=a.gpu, parameter=a.image_parameter
        )
        self.out(f"Base image: {image['ImageId']} ({image.get('Name', '?')})")
        vpc_id = self.ec2.vpc_id(a.subnet_id)
        cidr = self._cidr()
        key = self.ec2.ensure_key_pair(a.key_name or a.name, self.key_dir, a.key_type, cleanup)
        group_id, _ = self.ec2.ensure_security_group(
            a.security_group_name or a.name, vpc_id, cidr, cleanup
        )
        instance_id = self.ec2.run_instance(
            name=a.name,
            image=image,
            instance_type=a.instance_type,
            key_name=key.name,
            group_id=group_id,
            volume_size=a.volume_size,
            user_data=a.user_data,
            availability_zone=a.availability_zone,
            subnet_id=a.subnet_id,
            cleanup=cleanup,
        )
        return instance_id, group_id, key.path

    def _target(self, instance: dict[str, Any], key_file: Path | None = None) -> SshTarget:
        a = self.args
        host = a.host or instance.get("PublicIpAddress")
        if not host:
            raise HelperError(
                f"instance {instance['InstanceId']} has no public address "
                f"(state: {instance.get('State', {}).get('Name', '?')}): start it, or pass --host"
            )
        if key_file is None:
            key_file = a.key_file or self.key_dir / f"{instance.get('KeyName', a.name)}.pem"
        key_file = key_file.expanduser()
        if not key_file.is_file():
            raise HelperError(f"private key {key_file} not found: pass --key-file or --key-dir")
        return SshTarget(
            host=host,
            port=a.port,
            user=a.ssh_user,
            key_file=key_file,
            known_hosts=self.key_dir / "known_hosts",
            host_key_alias=str(instance["InstanceId"]),
        )

    def _session(self, target: SshTarget) -> SshSession:
        deadline = self.args.ssh_timeout
        return SshSession(target, deadline_s=deadline, connect_timeout_s=min(10.0, deadline))

    def _dry(self, what: str) -> bool:
        """In dry-run mode, prints the SSH step instead of doing it."""
        if self.args.dry_run:
            self.out(f"DRY RUN: {what}")
        return bool(self.args.dry_run)

    def _instance(self) -> dict[str, Any]:
        if not self.args.instance_id:
            raise HelperError(f"{self.args.action} needs --instance-id")
        return self.ec2.describe_instance(self.args.instance_id)

    # -- commands -----------------------------------------------------------------------------
    def create_image(self) -> int:
        """Builder instance -> project upload -> installation scripts -> image; prints the ids."""
        a = self.args
        scripts = self._scripts()
        self.ec2.check_image_name_free(a.name)
        cleanup = Cleanup()
        try:
            instance_id, group_id, key_file = self._launch(cleanup)
            self._provision(instance_id, key_file, scripts)
            image_id = self.ec2.create_image(instance_id, a.name, cleanup)
        except BaseException:
            cleanup.run()
            raise
        # The image is made: from here on nothing is undone.
        self.out(f"ImageId: {image_id}")
        self.out(f"SecurityGroupIds: [{group_id}]")
        if a.write_yaml is not None:
            if a.dry_run:
                self.out(f"DRY RUN: write ImageId and SecurityGroupIds into {a.write_yaml}")
            else:
                types = autoscaler_yaml.write_ids(a.write_yaml, image_id, [group_id])
                self.out(f"Wrote them into {a.write_yaml} (node types: {', '.join(types)})")
        # The builder is kept stopped, as the original did (start it again to change the image).
        self.ec2.stop_instance(instance_id)
        self.out(f"Builder instance {instance_id} (stopped), key pair file {key_file}")
        return 0

    def _provision(self, instance_id: str, key_file: Path, scripts: list[Path]) -> None:
        a = self.args
        remote = remote_path(a.remote_dir).rstrip("/") or "."
        runs = []
        for script in scripts:
            if script.is_relative_to(REPO_ROOT):
                relative = f"./{script.relative_to(REPO_ROOT).as_posix()}"
            else:
                relative = f"./.aws_helper/{script.name}"
            runs.append((script, relative))
        if a.dry_run:
            self.out(f"DRY RUN: upload {REPO_ROOT} to {remote} over SSH")
            for _, relative in runs:
                shown = shlex.join([relative, *shlex.split(a.script_args)])
                self.out(f"DRY RUN: run {shown} in {remote}")
            return
        instance = self.ec2.describe_instance(instance_id)
        with self._session(self._target(instance, key_file)) as ssh:
            count = ssh.put_tree(REPO_ROOT, remote, a.exclude)
            log.info("uploaded %d files of %s to %s", count, REPO_ROOT, remote)
            for script, relative in runs:
                if not script.is_relative_to(REPO_ROOT):
                    ssh.makedirs(f"{remote}/.aws_helper")
                    ssh.put_file(script, f"{remote}/{relative[2:]}")
                self.out(f"Running {script.name} on {instance_id}")
                command = f"cd {shlex.quote(remote)} && chmod +x {shlex.quote(relative)} && "
                command += shlex.join([relative, *shlex.split(a.script_args)])
                ssh.run(command)

    def launch(self) -> int:
        """Starts one instance from ``--image-id`` (or the base image) and prints how to log in."""
        cleanup = Cleanup()
        try:
            instance_id, group_id, key_file = self._launch(cleanup)
            ip = None
            if not self.args.dry_run:
                ip = self.ec2.describe_instance(instance_id).get("PublicIpAddress")
        except BaseException:
            cleanup.run()
            raise
        self.out(f"InstanceId: {instance_id}")
        self.out(f"SecurityGroupIds: [{group_id}]")
        self.out(f"PublicIp: {ip}")
        self.out(
            # The same known_hosts as aws_helper, entries named by instance id.
            f"ssh -i {key_file} -o UserKnownHostsFile={self.key_dir / 'known_hosts'} "
            f"-o HostKeyAlias={instance_id} -o StrictHostKeyChecking=accept-new "
            f"{self.args.ssh_user}@{ip}"
        )
        return 0

    def start(self) -> int:
        """Starts a stopped instance and prints its new public address."""
        instance = self._instance()
        self.ec2.start_instance(instance["InstanceId"])
        if not self.args.dry_run:
            instance = self.ec2.describe_instance(instance["InstanceId"])
        self.out(f"PublicIp: {instance.get('PublicIpAddress')}")
        return 0

    def stop(self) -> int:
        """Stops an instance."""
        self.ec2.stop_instance(self._instance()["InstanceId"])
        return 0

    def info(self) -> int:
        """Prints the instance's fields (or the one ``--field``) on stdout."""
        instance = self._instance()
        key_name = instance.get("KeyName", "")
        values = {
            "instance_id": instance["InstanceId"],
            "state": instance.get("State", {}).get("Name", ""),
            "public_ip": instance.get("PublicIpAddress", ""),
            "private_ip": instance.get("PrivateIpAddress", ""),
            "pem_file": str(self.args.key_file or self.key_dir / f"{key_name}.pem"),
            "key_name": key_name,
            "image_id": instance.get("ImageId", ""),
            "instance_type": instance.get("InstanceType", ""),
            "availability_zone": instance.get("Placement", {}).get("AvailabilityZone", ""),
            "security_group_ids": ",".join(
                g["GroupId"] for g in instance.get("SecurityGroups", [])
            ),
        }
        if self.args.field:
            if self.args.field not in values:
                raise HelperError(
                    f"unknown --field {self.args.field!r}; valid: {', '.join(INFO_FIELDS)}"
                )
            self.out(str(values[self.args.field]))
        else:
            for name in INFO_FIELDS:
                self.out(f"{name}: {values[name]}")
        return 0

    def get(self) -> int:
        """Downloads ``--source`` from the instance into ``--target``."""
        target = self._target(self._instance())
        if self._dry(f"download {self.args.source} from {target.where} to {self.args.target}"):
            return 0
        with self._session(target) as ssh:
            count = ssh.get(self.args.source, Path(self.args.target))
        self.out(f"downloaded {count} file(s) from {target.where}")
        return 0

    def put(self) -> int:
        """Uploads ``--source`` to ``--target`` on the instance, skipping ``--exclude``."""
        target = self._target(self._instance())
        if self._dry(f"upload {self.args.source} to {target.where}, into {self.args.target}"):
            return 0
        with self._session(target) as ssh:
            count = ssh.put(Path(self.args.source), self.args.target, self.args.exclude)
        self.out(f"uploaded {count} file(s) to {target.where}")
        return 0

    def exec(self) -> int:
        """Runs ``--command``, or uploads ``--script`` to ``--target`` and runs it there.

        Returns:
            the remote exit status.
        """
        a = self.args
        if (a.script is None) == (a.command is None):
            raise HelperError("exec needs exactly one of --script and --command")
        target = self._target(self._instance())
        if self._dry(
            f"run {a.command or a.script} {a.script_args}".rstrip() + f" on {target.where}"
        ):
            return 0
        with self._session(target) as ssh:
            if a.command is not None:
                return ssh.run(a.command)
            script = Path(a.script)
            if not script.is_file():
                raise HelperError(f"script not found: {script}")
            remote_dir = remote_path(a.target).rstrip("/") or "."
            ssh.makedirs(remote_dir)
            ssh.put_file(script, f"{remote_dir}/{script.name}")
            command = f"cd {shlex.quote(remote_dir)} && "
            command += shlex.join([f"./{script.name}", *shlex.split(a.script_args)])
            return ssh.run(command)


def main(argv: list[str] | None = None, *, lookup_ip: Callable[[], str] = lookup_public_ip) -> int:
    """Runs one command; returns the exit status (a failed remote command's own status)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    # Only our own loggers go to DEBUG: botocore's debug output would include key material.
    logging.getLogger("aws").setLevel(logging.DEBUG if args.debug else logging.INFO)
    for noisy in ("botocore", "boto3", "urllib3", "paramiko"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        helper = Helper(args, lookup_ip=lookup_ip)
        command = getattr(helper, args.action.replace("-", "_"))
        return int(command())
    except RemoteCommandError as e:
        print(f"aws_helper: error: {e}", file=sys.stderr)
        return e.status
    except HelperError as e:
        print(f"aws_helper: error: {e}", file=sys.stderr)
        return 1
    except BotoCoreError as e:
        print(f"aws_helper: error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("aws_helper: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
