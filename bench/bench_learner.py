"""Learner benchmark: one double-DQN SGD step of the example's Q networks. Prints JSON.

Usage: python bench/bench_learner.py [--batch 64] [--devices cpu,cuda] [--cpu-size 84]
       [--min-seconds 5] [--max-steps 200] [--threads N]

Needs torch only (no Ray), so it also runs on a GPU machine without RLlib. One step is
what RLlib 2.60's DQN learner does per update with this repo's RL module:

  online forward on cat(obs, next_obs) (one pass, as ``CarlaDQNTorchRLModule``),
  target forward on next_obs (no grad), double-Q bootstrap, PER-weighted Huber loss,
  backward, global-norm clip 40, Adam step.

Observations are uint8 tensors on the device (the cast to float is inside the network), so
host-to-device copies of the replay batch are not timed. Profiles: ``original`` (the
§7.2.2 network, 300x300x12) and ``cpu`` (``cpu_network`` at ``--cpu-size`` px, 4 frames).
For each profile and device it reports ms/step (median and mean over the timed steps),
steps/s and samples/s; plus device name and torch thread count.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dqn_example.q_network import (  # noqa: E402
    ORIGINAL_NETWORK,
    QNetwork,
    QNetworkConfig,
    cpu_network,
)

GAMMA = 0.99
GRAD_CLIP = 40.0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_profile(
    config: QNetworkConfig,
    device: torch.device,
    batch: int,
    min_seconds: float,
    max_steps: int,
) -> dict[str, Any]:
    """Times SGD steps of one network on one device.

    Args:
        config: The network.
        device: Where to run.
        batch: Train batch size.
        min_seconds: Keep stepping until this much time is measured (after warm-up)...
        max_steps: ...or this many steps were timed, whichever comes first (min 3 steps).

    Returns:
        The measurements.
    """
    torch.manual_seed(0)
    online = QNetwork(config).to(device)
    target = QNetwork(config).to(device)
    target.load_state_dict(online.state_dict())
    target.requires_grad_(False)
    optimizer = torch.optim.Adam(online.parameters(), lr=2.5e-3, eps=1e-8)

    gen = torch.Generator(device="cpu").manual_seed(1)
    shape = (batch, *config.obs_shape)
    obs = torch.randint(0, 256, shape, dtype=torch.uint8, generator=gen).to(device)
    next_obs = torch.randint(0, 256, shape, dtype=torch.uint8, generator=gen).to(device)
    actions = torch.randint(0, config.num_actions, (batch,), generator=gen).to(device)
    rewards = torch.randn(batch, generator=gen).to(device)
    terminated = (torch.rand(batch, generator=gen) < 0.05).float().to(device)
    weights = torch.rand(batch, generator=gen).to(device)  # PER importance weights

    def step() -> float:
        q_all = online(torch.cat([obs, next_obs], dim=0))
        q, q_next_online = torch.chunk(q_all, 2, dim=0)
        with torch.no_grad():
            q_next_target = target(next_obs)
            best = torch.argmax(q_next_online, dim=-1, keepdim=True)
            bootstrap = q_next_target.gather(-1, best).squeeze(-1)
            q_target = rewards + GAMMA * (1.0 - terminated) * bootstrap
        q_selected = q.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        loss = torch.mean(weights * F.huber_loss(q_selected, q_target, reduction="none"))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(online.parameters(), GRAD_CLIP)
        optimizer.step()
        return float(loss.detach())

    # Warm-up: allocator, cuDNN autotuning and Adam state creation are one-off costs.
    warmup = 3 if device.type == "cuda" else 1
    for _ in range(warmup):
        step()
    _sync(device)

    times: list[float] = []
    start = time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - start < min_seconds and len(times) < max_steps):
        t0 = time.perf_counter()
        loss = step()  # float() of the loss synchronises the device
        _sync(device)
        times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    return {
        "obs_shape": list(config.obs_shape),
        # Compact "out/kernel/stride" strings keep the printed JSON readable.
        "conv_filters": " ".join("/".join(map(str, layer)) for layer in config.conv_filters),
        "parameters": sum(p.numel() for p in online.parameters()),
        "timed_steps": len(times),
        "ms_per_step_median": round(median * 1e3, 2),
        "ms_per_step_mean": round(statistics.fmean(times) * 1e3, 2),
        "steps_per_s": round(1.0 / median, 3),
        "samples_per_s": round(batch / median, 1),
        "final_loss": round(loss, 5),
    }


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


def main() -> None:
    """Parses arguments, runs every profile on every available device, prints JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--devices", default="cpu,cuda", help="comma list; cuda skipped if absent")
    parser.add_argument("--profiles", default="original,cpu")
    parser.add_argument("--cpu-size", type=int, default=84, help="BirdView px of the cpu profile")
    parser.add_argument("--frames", type=int, default=4, help="framestack of the cpu profile")
    parser.add_argument("--min-seconds", type=float, default=5.0)
    parser.add_argument("--max-steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    # cuDNN picks the fastest conv algorithms for these fixed shapes.
    torch.backends.cudnn.benchmark = True

    profiles = {
        "original": ORIGINAL_NETWORK,
        "cpu": cpu_network((args.cpu_size, args.cpu_size, 3 * args.frames), 29),
    }
    result: dict[str, Any] = {
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "batch": args.batch,
        "devices": {},
    }
    for name in args.devices.split(","):
        if name == "cuda" and not torch.cuda.is_available():
            continue
        device = torch.device(name)
        entry: dict[str, Any] = {"device_name": _device_name(device)}
        for profile in args.profiles.split(","):
            entry[profile] = bench_profile(
                profiles[profile], device, args.batch, args.min_seconds, args.max_steps
            )
        result["devices"][name] = entry
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
