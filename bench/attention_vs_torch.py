#!/usr/bin/env python3
"""Fused causal attention: oneflow_like's CUDA kernels against PyTorch's
scaled_dot_product_attention on the same GPU (issue 7's goal: >= 0.9x its
speed forward and backward).

Runs `cuda_bench --json` for our figures, then times torch SDPA (bf16,
is_causal=True) on the same shapes with CUDA events (warm-up, median of 7
batches, like cuda_bench) and prints one table.

    python3 bench/attention_vs_torch.py --cuda-bench build/bench/cuda_bench [--json out.json]
    python3 bench/attention_vs_torch.py --cuda-bench-json cuda_bench.json   # figures already measured
Exits 77 (skipped) without torch or a CUDA device.
"""
import argparse
import json
import re
import subprocess
import sys
import tempfile


def median_ms(torch, fn, repeats):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    batches = []
    for _ in range(7):
        start = torch.cuda.Event(enable_timing=True)
        stop = torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(repeats):
            fn()
        stop.record()
        stop.synchronize()
        batches.append(start.elapsed_time(stop) / repeats)
    return sorted(batches)[len(batches) // 2]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--cuda-bench", help="path of the cuda_bench binary (run with --json)")
    source.add_argument("--cuda-bench-json", help="the JSON a cuda_bench run already wrote")
    parser.add_argument("--json", help="write the combined table here")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        print("attention_vs_torch: skipped: no torch")
        return 77
    if not torch.cuda.is_available():
        print("attention_vs_torch: skipped: torch sees no CUDA device")
        return 77

    if args.cuda_bench_json:
        ours = json.load(open(args.cuda_bench_json))
    else:
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            command = [args.cuda_bench, "--json", out.name] + (["--quick"] if args.quick else [])
            subprocess.run(command, check=True)
            ours = json.load(open(out.name))

    rows = []
    for row in ours["rows"]:
        if not row["kernel"].startswith("attention"):
            continue
        b, h, t, d = (int(v) for v in re.match(r"B(\d+) H(\d+) T(\d+) D(\d+)", row["shape"]).groups())
        q, k, v = (torch.randn(b, h, t, d, device="cuda", dtype=torch.bfloat16, requires_grad=True) for _ in range(3))
        dy = torch.randn(b, h, t, d, device="cuda", dtype=torch.bfloat16)
        if "fwd" in row["kernel"]:
            with torch.no_grad():
                torch_ms = median_ms(torch, lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True), 10)
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            torch_ms = median_ms(torch, lambda: torch.autograd.grad(y, (q, k, v), dy, retain_graph=True), 5)
        our_ms = row["ms"]
        rows.append({"kernel": row["kernel"], "shape": row["shape"], "ours_ms": our_ms, "torch_ms": torch_ms,
                     "ours_tflops": row["ours"], "speed_ratio": torch_ms / our_ms, "goal": 0.9})

    print(f"\ndevice: {ours['device']}, torch {torch.__version__}")
    print(f"{'kernel':<22} {'shape':<22} {'ours ms':>9} {'torch ms':>9} {'ours TFLOP/s':>13} {'speed vs torch':>15} goal")
    for r in rows:
        met = "met" if r["speed_ratio"] >= r["goal"] else "MISSED"
        print(f"{r['kernel']:<22} {r['shape']:<22} {r['ours_ms']:9.3f} {r['torch_ms']:9.3f} {r['ours_tflops']:13.1f} "
              f"{r['speed_ratio']:15.3f} {r['goal']} {met}")
    if args.json:
        json.dump({"device": ours["device"], "cuda_bench": ours, "attention": rows}, open(args.json, "w"), indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
