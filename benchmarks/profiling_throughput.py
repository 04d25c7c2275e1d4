"""Orders scored per second and peak memory: mixture vs separate vs batched profiling.

Run:  python benchmarks/profiling_throughput.py [--task square --length 10] [--device auto]
Writes benchmarks/results/profiling_throughput.md. Each measurement runs in a fresh process so
that its peak memory (max RSS on CPU, max allocated on CUDA) is its own. Candidates are forward
plus T-1 distinct random orders; the table also gives forward's rank in that run.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

from _common import write_table

from orderopt.orders import identity, random_orders
from orderopt.presets import get_preset
from orderopt.profiling import config_from_preset, profile
from orderopt.tasks import make_task

PLAN = [("mixture", 1), ("mixture", 32), ("mixture", 128), ("mixture", 1024),
        ("separate", 8), ("batched", 1), ("batched", 8)]
GPU_PLAN = [("batched", 32), ("batched", 128)]  # stacked models only pay off on a GPU


def measure(task_name: str, length: int, mode: str, count: int, preset: str, device: str, seed: int) -> dict:
    import torch

    task = make_task(task_name, length)
    fwd = identity(length)
    orders = [fwd, *random_orders(length, count - 1, seed, exclude=[fwd])]
    config = config_from_preset(get_preset(preset), mode=mode, seed=seed, device=device)
    res = profile(task, orders, config, progress=False)
    if res.device.startswith("cuda"):
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"mode": mode, "T": count, "seconds": res.seconds, "orders_per_s": count / res.seconds,
            "peak_mib": peak, "device": res.device, "forward_rank": res.rank_of(fwd),
            "steps": config.train.total_steps()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="square")
    ap.add_argument("--length", type=int, default=10)
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plan", default=None, help="MODE:T,... (default: the CPU plan, plus batched 32/128 on CUDA)")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        mode, count = args.one.split(":")
        print(json.dumps(measure(args.task, args.length, mode, int(count), args.preset, args.device, args.seed)))
        return
    import torch

    from orderopt.training import pick_device

    on_gpu = pick_device(args.device).type == "cuda"
    plan = args.plan or ",".join(f"{m}:{t}" for m, t in PLAN + (GPU_PLAN if on_gpu else []))
    results = []
    for item in plan.split(","):
        cmd = [sys.executable, __file__, "--one", item, "--task", args.task, "--length", str(args.length),
               "--preset", args.preset, "--device", args.device, "--seed", str(args.seed)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        results.append(json.loads(out))
        print(results[-1], flush=True)
    per_order_separate = next(r["seconds"] / r["T"] for r in results if r["mode"] == "separate")
    mix = max((r for r in results if r["mode"] == "mixture"), key=lambda r: r["T"])
    rows = []
    for r in results:
        rows.append([r["mode"], r["T"], f"{r['seconds']:.1f}", f"{r['orders_per_s']:.3f}", f"{r['peak_mib']:.0f}",
                     r["forward_rank"], r["device"]])
    rows.append(["separate (extrapolated)", mix["T"], f"{per_order_separate * mix['T']:.0f}", f"{1 / per_order_separate:.3f}",
                 "same as T=8", "-", results[0]["device"]])
    speedup = mix["orders_per_s"] * per_order_separate
    write_table(
        "profiling_throughput",
        f"Profiling throughput ({args.task}, L={args.length}, preset {args.preset} profile model, {mix['steps']} steps)",
        ["mode", "orders T", "seconds", "orders / s", "peak memory MiB", "forward rank", "device"],
        rows,
        notes=f"Mixture at T={mix['T']} scores **{speedup:.0f}x** more orders per second than separate mode. Separate "
        "mode's cost per order is constant (one full short run per order): it was measured on 8 orders and the "
        "extrapolated row is computed from it. Peak memory is the process's max RSS on CPU, max allocated memory on "
        f"CUDA. Torch threads per process: {torch.get_num_threads()}.",
    )


if __name__ == "__main__":
    main()
