#!/usr/bin/python3
"""PyTorch CPU reference for bench/kernel_bench: times the same kernels with
the same shapes and thread count, prints one JSON object on stdout.

usage: torch_kernels.py --threads N --matmul 256,512 --conv "N,C,H,W,O,K,P;..." --rows R --cols C
"""
import argparse
import json
import statistics
import time

import torch


def median_seconds(fn, min_time=0.3, max_reps=50):
    fn()
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - start < min_time and len(times) < max_reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--matmul", default="")
    parser.add_argument("--conv", default="")
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--cols", type=int, default=1024)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    result = {"threads": torch.get_num_threads(), "version": torch.__version__,
              "matmul": {}, "conv2d": {}}
    with torch.no_grad():
        for n in [int(x) for x in args.matmul.split(",") if x]:
            a = torch.randn(n, n)
            b = torch.randn(n, n)
            out = torch.empty(n, n)
            seconds = median_seconds(lambda: torch.mm(a, b, out=out))
            result["matmul"][str(n)] = 2.0 * n ** 3 / seconds / 1e9
        for spec in [s for s in args.conv.split(";") if s]:
            n, c, h, w, o, k, p = [int(x) for x in spec.split(",")]
            x = torch.randn(n, c, h, w)
            weight = torch.randn(o, c, k, k)
            seconds = median_seconds(lambda: torch.nn.functional.conv2d(x, weight, padding=p))
            oh, ow = h + 2 * p - k + 1, w + 2 * p - k + 1
            result["conv2d"][spec] = 2.0 * n * o * oh * ow * c * k * k / seconds / 1e9
        x = torch.randn(args.rows, args.cols)
        nbytes = 2.0 * x.numel() * 4
        seconds = median_seconds(lambda: torch.softmax(x, dim=-1))
        result["softmax"] = nbytes / seconds / 1e9
        gamma = torch.randn(args.cols)
        beta = torch.randn(args.cols)
        seconds = median_seconds(
            lambda: torch.nn.functional.layer_norm(x, (args.cols,), gamma, beta))
        result["layer_norm"] = nbytes / seconds / 1e9
    print(json.dumps(result))


if __name__ == "__main__":
    main()
