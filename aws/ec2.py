"""EC2 calls of the AWS helper: key pairs, security groups, instances and images, on boto3.

Every call goes through :meth:`Ec2.call`, which turns a ``ClientError`` into one
:class:`~aws.errors.AwsCallError` line naming the operation and the resource, and which, in
dry-run mode, prints the mutating calls instead of making them (sending them with EC2's own
``DryRun=True`` when all their arguments are known, so AWS checks the permissions). Read-only
calls (``Describe*``, SSM ``GetParameter``) are made in dry-run mode too: they create nothing.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import logging
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from aws.errors import AwsCallError, HelperError

log = logging.getLogger(__name__)

#: Placeholder prefix for ids that a dry run cannot know (the resource is never created).
DRY_RUN_ID = "<dry-run"
#: Image builds take minutes to an hour: poll every 15 s for up to 90 minutes.
IMAGE_WAITER = {"Delay": 15, "MaxAttempts": 360}
#: Instances start/stop in about a minute: poll every 5 s for up to 10 minutes.
INSTANCE_WAITER = {"Delay": 5, "MaxAttempts": 120}


def _is_placeholder(value: Any) -> bool:
    if isinstance(value, str):
        return value.startswith(DRY_RUN_ID)
    if isinstance(value, dict):
        return any(_is_placeholder(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_is_placeholder(v) for v in value)
    return False


def _shown(params: dict[str, Any]) -> str:
    """The call's arguments for a dry-run line; user data is shown by size only."""
    parts = []
    for key, value in params.items():
        if key == "UserData":
            value = f"<{len(value)} bytes>"
        parts.append(f"{key}={value!r}")
    return ", ".join(parts)


def ssh_cidr(address: str) -> str:
    """The CIDR block for one address (``/32`` or ``/128``), or a CIDR block checked as given.

    Raises:
        HelperError: ``address`` is neither an IP address nor a CIDR block.
    """
    try:
        if "/" in address:
            return str(ipaddress.ip_network(address, strict=False))
        ip = ipaddress.ip_address(address)
    except ValueError as e:
        raise HelperError(f"not an IP address or CIDR block: {address!r}") from e
    return f"{ip}/{ip.max_prefixlen}"


@dataclass
class Cleanup:
    """Undo steps for what a command created, run in reverse order when the command fails."""

    steps: list[tuple[str, Callable[[], None]]] = field(default_factory=list)

    def add(self, what: str, undo: Callable[[], None]) -> None:
        """Registers ``undo`` for the resource described by ``what``."""
        self.steps.append((what, undo))

    def run(self) -> None:
        """Undoes every step, newest first; a failing step is logged and the rest still run."""
        while self.steps:
            what, undo = self.steps.pop()
            log.warning("cleaning up %s", what)
            try:
                undo()
            except (HelperError, OSError, BotoCoreError) as e:
                log.error("could not clean up %s: %s", what, e)


@dataclass
class KeyPair:
    """A key pair in the region and the local file holding its private key."""

    name: str
    path: Path
    created: bool


class Ec2:
    """The EC2 and SSM clients of one region, with dry-run support and clear errors.

    Args:
        session: a ``boto3.session.Session`` (its region and credentials are used).
        dry_run: print mutating calls instead of making them.
        out: where dry-run lines go (``print`` by default).
    """

    def __init__(self, session: Any, *, dry_run: bool = False, out: Callable[[str], None] = print):
        if not session.region_name:
            raise HelperError(
                "no AWS region: pass --region or set one (aws configure, AWS_REGION or "
                "AWS_DEFAULT_REGION)"
            )
        self.region: str = session.region_name
        self.client = session.client("ec2")
        self.ssm = session.client("ssm")
        self.dry_run = dry_run
        self.out = out

    # -- the one way calls are made ------------------------------------------------------------
    def call(self, operation: str, resource: str, *, mutating: bool = False, **params: Any) -> Any:
        """Calls ``operation`` (a boto3 method name of the EC2 client, or ``ssm.<name>``).

        In dry-run mode a mutating call is printed and returns ``None``.

        Raises:
            AwsCallError: AWS answered with an error (one line: operation, resource, code).
        """
        client = self.client
        name = operation
        if operation.startswith("ssm."):
            client, name = self.ssm, operation[4:]
        api_name = client.meta.method_to_api_mapping.get(name, name)
        service = "ssm" if client is self.ssm else "ec2"
        if mutating and self.dry_run:
            self.out(f"DRY RUN: {service}.{api_name}({_shown(params)})")
            if not _is_placeholder(params):
                try:
                    getattr(client, name)(DryRun=True, **params)
                except ClientError as e:
                    if e.response.get("Error", {}).get("Code") != "DryRunOperation":
                        raise self._error(f"{service}.{api_name}", resource, e) from e
            return None
        try:
            return getattr(client, name)(**params)
        except ClientError as e:
            raise self._error(f"{service}.{api_name}", resource, e) from e

    def _error(self, operation: str, resource: str, e: ClientError) -> AwsCallError:
        err = e.response.get("Error", {})
        return AwsCallError(
            operation,
            f"{resource} in {self.region}",
            err.get("Code", "Unknown"),
            err.get("Message", str(e)),
        )

    def wait(self, waiter: str, resource: str, config: dict[str, int], **params: Any) -> None:
        """Blocks on a boto3 waiter (never a sleep); a failed or timed-out wait is one line."""
        if self.dry_run:
            self.out(f"DRY RUN: wait {waiter}({_shown(params)})")
            return
        try:
            self.client.get_waiter(waiter).wait(WaiterConfig=config, **params)
        except WaiterError as e:
            raise HelperError(f"waiting for {waiter} of {resource} in {self.region}: {e}") from e

    # -- lookups ------------------------------------------------------------------------------
    def get_parameter(self, name: str) -> str:
        """The value of an SSM (public) parameter."""
        reply = self.call("ssm.get_parameter", f"SSM parameter {name}", Name=name)
        return str(reply["Parameter"]["Value"])

    def describe_image(self, image_id: str) -> dict[str, Any]:
        """The image ``image_id``; an error if it is missing or not ``available``."""
        resource = f"image {image_id}"
        reply = self.call("describe_images", resource, ImageIds=[image_id])
        images = reply.get("Images", [])
        if not images:
            raise HelperError(f"image {image_id} not found in {self.region}")
        image: dict[str, Any] = images[0]
        if image.get("State", "available") != "available":
            raise HelperError(f"image {image_id} is {image['State']}, not available")
        return image

    def check_instance_type(self, instance_type: str) -> None:
        """Fails early, before anything is created, on an instance type the region lacks."""
        self.call(
            "describe_instance_types",
            f"instance type {instance_type}",
            InstanceTypes=[instance_type],
        )

    def check_image_name_free(self, name: str) -> None:
        """Fails early when this account already has an image called ``name`` here."""
        reply = self.call(
            "describe_images",
            f"image named {name}",
            Owners=["self"],
            Filters=[{"Name": "name", "Values": [name]}],
        )
        for image in reply.get("Images", []):
            raise HelperError(
                f"an image named {name!r} already exists in {self.region} "
                f"({image['ImageId']}): pick another --name or deregister it"
            )

    def vpc_id(self, subnet_id: str | None) -> str:
        """The subnet's VPC, or the region's default VPC."""
        if subnet_id:
            reply = self.call("describe_subnets", f"subnet {subnet_id}", SubnetIds=[subnet_id])
            return str(reply["Subnets"][0]["VpcId"])
        reply = self.call(
            "describe_vpcs", "default VPC", Filters=[{"Name": "is-default", "Values": ["true"]}]
        )
        if not reply.get("Vpcs"):
            raise HelperError(f"no default VPC in {self.region}: pass --subnet-id")
        return str(reply["Vpcs"][0]["VpcId"])

    def describe_instance(self, instance_id: str) -> dict[str, Any]:
        """The instance ``instance_id`` (``describe_instances``)."""
        reply = self.call(
            "describe_instances", f"instance {instance_id}", InstanceIds=[instance_id]
        )
        for reservation in reply.get("Reservations", []):
            for instance in reservation.get("Instances", []):
                return dict(instance)
        raise HelperError(f"instance {instance_id} not found in {self.region}")

    # -- key pairs ----------------------------------------------------------------------------
    def ensure_key_pair(self, name: str, key_dir: Path, key_type: str, cleanup: Cleanup) -> KeyPair:
        """Creates key pair ``name`` and writes its private key to ``key_dir/name.pem`` (0600).

        A key pair that already exists in the region is reused when its key file is here;
        otherwise that is an error, as is a key file here without a key pair (never
        overwritten). The key material is written to the key file only, never printed.
        """
        path = key_dir / f"{name}.pem"
        exists = True
        try:
            self.client.describe_key_pairs(KeyNames=[name])
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") != "InvalidKeyPair.NotFound":
                raise self._error("ec2.DescribeKeyPairs", f"key pair {name}", e) from e
            exists = False
        if exists:
            if path.is_file():
                log.info("reusing key pair %s (%s)", name, path)
                return KeyPair(name, path, created=False)
            raise HelperError(
                f"key pair {name!r} already exists in {self.region} but its private key "
                f"{path} is not here: pass --key-name with a new name, --key-dir where the key "
                f"file is, or delete the key pair"
            )
        if path.exists():
            raise HelperError(
                f"{path} exists but key pair {name!r} does not exist in {self.region}: "
                "move the file away or pass another --key-name (a key file is never overwritten)"
            )
        reply = self.call(
            "create_key_pair", f"key pair {name}", mutating=True, KeyName=name, KeyType=key_type
        )
        if reply is None:
            return KeyPair(name, path, created=True)
        cleanup.add(f"key pair {name}", lambda: self.delete_key_pair(name, path))
        key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(key_dir, 0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
        with os.fdopen(fd, "w") as f:
            f.write(reply["KeyMaterial"])
        log.info("key pair %s created, private key in %s", name, path)
        return KeyPair(name, path, created=True)

    def delete_key_pair(self, name: str, path: Path) -> None:
        """Deletes key pair ``name`` and its local key file."""
        self.call("delete_key_pair", f"key pair {name}", mutating=True, KeyName=name)
        if not self.dry_run:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    # -- security groups ----------------------------------------------------------------------
    def ensure_security_group(
        self, name: str, vpc_id: str, cidr: str, cleanup: Cleanup
    ) -> tuple[str, bool]:
        """Security group ``name`` in ``vpc_id``: SSH (TCP 22) from ``cidr`` only, plus all
        traffic between members of the group (Ray's head and workers talk on many ports).

        An existing group of that name is reused and gets the SSH rule if it lacks it; a
        warning names any rule it has that is open to the world. No TensorBoard or dashboard
        port is opened: reach them through ``ray dashboard`` or an SSH tunnel.

        Returns:
            ``(group id, created)``.
        """
        reply = self.call(
            "describe_security_groups",
            f"security group {name}",
            Filters=[
                {"Name": "group-name", "Values": [name]},
                {"Name": "vpc-id", "Values": [vpc_id]},
            ],
        )
        groups = reply.get("SecurityGroups", [])
        if groups:
            group = groups[0]
            group_id = str(group["GroupId"])
            for perm in group.get("IpPermissions", []):
                for rng in perm.get("IpRanges", []) + perm.get("Ipv6Ranges", []):
                    if rng.get("CidrIp", rng.get("CidrIpv6")) in ("0.0.0.0/0", "::/0"):
                        log.warning(
                            "security group %s (%s) has a rule open to the world: %s",
                            name,
                            group_id,
                            {k: perm.get(k) for k in ("IpProtocol", "FromPort", "ToPort")},
                        )
            log.info("reusing security group %s (%s)", name, group_id)
            self._authorize(group_id, cidr)
            return group_id, False
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        created = self.call(
            "create_security_group",
            f"security group {name}",
            mutating=True,
            GroupName=name,
            Description=f"rllib-integration: SSH from {cidr}, all traffic within; {stamp}",
            VpcId=vpc_id,
        )
        group_id = created["GroupId"] if created else f"{DRY_RUN_ID} security group {name}>"
        if created:
            cleanup.add(
                f"security group {name} ({group_id})", lambda: self.delete_security_group(group_id)
            )
        self._authorize(group_id, cidr)
        return group_id, True

    def _authorize(self, group_id: str, cidr: str) -> None:
        ranges: dict[str, Any] = (
            {"Ipv6Ranges": [{"CidrIpv6": cidr, "Description": "SSH (aws_helper)"}]}
            if ":" in cidr
            else {"IpRanges": [{"CidrIp": cidr, "Description": "SSH (aws_helper)"}]}
        )
        wanted = [
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, **ranges},
            {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": group_id}]},
        ]
        for permission in wanted:
            try:
                self.call(
                    "authorize_security_group_ingress",
                    f"security group {group_id}",
                    mutating=True,
                    GroupId=group_id,
                    IpPermissions=[permission],
                )
            except AwsCallError as e:
                if e.code != "InvalidPermission.Duplicate":
                    raise

    def delete_security_group(self, group_id: str) -> None:
        """Deletes the security group ``group_id``."""
        self.call(
            "delete_security_group", f"security group {group_id}", mutating=True, GroupId=group_id
        )

    # -- instances ----------------------------------------------------------------------------
    def run_instance(
        self,
        *,
        name: str,
        image: dict[str, Any],
        instance_type: str,
        key_name: str,
        group_id: str,
        volume_size: int,
        user_data: str,
        availability_zone: str | None,
        subnet_id: str | None,
        cleanup: Cleanup,
    ) -> str:
        """Starts one instance, tagged ``Name=name``, and waits until it is running.

        The root volume (the image's root device, gp3) has ``volume_size`` GiB and goes with
        the instance; IMDSv2 is required. Placement and subnet are EC2's choice unless given.

        Returns:
            the instance id (a placeholder in dry-run mode).
        """
        params: dict[str, Any] = {
            "ImageId": image["ImageId"],
            "InstanceType": instance_type,
            "KeyName": key_name,
            "SecurityGroupIds": [group_id],
            "MinCount": 1,
            "MaxCount": 1,
            "BlockDeviceMappings": [
                {
                    "DeviceName": image.get("RootDeviceName", "/dev/sda1"),
                    "Ebs": {
                        "VolumeSize": volume_size,
                        "VolumeType": "gp3",
                        "DeleteOnTermination": True,
                    },
                }
            ],
            "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
            "TagSpecifications": [
                {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}
            ],
        }
        if availability_zone:
            params["Placement"] = {"AvailabilityZone": availability_zone}
        if subnet_id:
            params["SubnetId"] = subnet_id
        if user_data:
            params["UserData"] = user_data
        reply = self.call("run_instances", f"instance {name}", mutating=True, **params)
        if reply is None:
            return f"{DRY_RUN_ID} instance {name}>"
        instance_id = str(reply["Instances"][0]["InstanceId"])
        cleanup.add(f"instance {instance_id}", lambda: self.terminate_instance(instance_id))
        log.info("instance %s started, waiting until it runs", instance_id)
        self.wait(
            "instance_running",
            f"instance {instance_id}",
            INSTANCE_WAITER,
            InstanceIds=[instance_id],
        )
        return instance_id

    def start_instance(self, instance_id: str) -> None:
        """Starts a stopped instance and waits until it runs (its public address changes)."""
        resource = f"instance {instance_id}"
        self.call("start_instances", resource, mutating=True, InstanceIds=[instance_id])
        self.wait("instance_running", resource, INSTANCE_WAITER, InstanceIds=[instance_id])

    def stop_instance(self, instance_id: str) -> None:
        """Stops an instance and waits until it has stopped."""
        resource = f"instance {instance_id}"
        self.call("stop_instances", resource, mutating=True, InstanceIds=[instance_id])
        self.wait("instance_stopped", resource, INSTANCE_WAITER, InstanceIds=[instance_id])

    def terminate_instance(self, instance_id: str) -> None:
        """Terminates an instance and waits for it (its security group is in use until then)."""
        resource = f"instance {instance_id}"
        self.call("terminate_instances", resource, mutating=True, InstanceIds=[instance_id])
        self.wait("instance_terminated", resource, INSTANCE_WAITER, InstanceIds=[instance_id])

    # -- images -------------------------------------------------------------------------------
    def create_image(self, instance_id: str, name: str, cleanup: Cleanup) -> str:
        """Creates image ``name`` from the instance and waits until it is available."""
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        reply = self.call(
            "create_image",
            f"image {name} of instance {instance_id}",
            mutating=True,
            InstanceId=instance_id,
            Name=name,
            Description=f"rllib-integration training image, built {stamp} by aws_helper.py",
        )
        if reply is None:
            return f"{DRY_RUN_ID} image {name}>"
        image_id = str(reply["ImageId"])
        cleanup.add(f"image {image_id}", lambda: self.deregister_image(image_id))
        log.info("image %s being created, waiting until it is available", image_id)
        self.wait("image_available", f"image {image_id}", IMAGE_WAITER, ImageIds=[image_id])
        return image_id

    def deregister_image(self, image_id: str) -> None:
        """Deregisters an image (a failed or unwanted build)."""
        self.call("deregister_image", f"image {image_id}", mutating=True, ImageId=image_id)
