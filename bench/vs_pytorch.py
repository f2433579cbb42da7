#!/usr/bin/python3
"""bench/vs_pytorch: the example models trained by oneflow_like and by PyTorch, head to head.

Usage (Debian's /usr/bin/python3 with numpy and python3-torch; OFL_WITH_TORCH=1 scripts/setup.sh):

    /usr/bin/python3 bench/vs_pytorch.py [--build build] [--models mlp,cnn,gpt] [--setups 1,2]
        [--steps 50] [--warmup-steps 5] [--timed-steps K] [--batch B] [--json FILE] [--dir DIR]
        [--ofl-binary PATH] [--keep]

For each model and setup it runs the C++ side (build/bench/vs_pytorch_ofl), which builds the model
exactly as the example does (examples/common/fashion_models.h, examples/common/gpt_model.h), writes
its initial variables (init.safetensors) and the feeds of the loss-check steps (batches.safetensors),
trains, and reports its losses, speed and memory (ofl.json). Then it runs this file again as a
subprocess (--torch-worker, so the peak RSS is PyTorch's own) that loads the same initial weights and
feeds, trains the same model with torch.optim.Adam(lr, betas=(0.9, 0.999), eps=1e-8), and reports
the same figures.

Setups (thread counts are the cores each side may use):
    1   oneflow_like on 1 device, 1 OpenMP thread  vs  PyTorch with 1 thread.   Goal: ratio >= 1.5
    2   oneflow_like data parallel on 2 devices, 1 OpenMP thread each (2 cores)
        vs  PyTorch with 2 threads.                                           Goal: ratio >= 1.0
oneflow_like's CPU kernels (its own and oneDNN's) use OpenMP: the C++ side calls
ofl::SetCpuThreadCount(1), which every runtime thread applies to itself, and runs with
OMP_NUM_THREADS=1. PyTorch runs with torch.set_num_threads(T), set_num_interop_threads(1) and
OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = MKL_NUM_THREADS = T in its environment.

Models (batch default: mlp/cnn 128, gpt 16):
    mlp  MLP 784-256-128-10 (ReLU), Adam lr 1e-3, Fashion-MNIST training images
    cnn  conv5x5x32-pool-conv5x5x64-pool-1024-10, Adam lr 1e-3, Fashion-MNIST training images
    gpt  4 pre-LN blocks, d 256, 4 heads, context 128, byte vocabulary (256), Adam lr 3e-4, random
         windows (seed 0) of the fortunes text (/usr/share/games/fortunes; uniformly random tokens,
         seed 0, when it is not installed)

Both sides run the same sequence: S loss-check steps (each step's loss recorded), W warm-up steps,
then K timed steps (steps/s = K / their wall time; K defaults to mlp 200, cnn 20, gpt 10); warm-up
and timed steps reuse the S batches cyclically. The loss check passes when
max_s |loss_ofl(s) - loss_torch(s)| <= the model's tolerance (TOLERANCE below): the same start,
data and update rule leave only float32 rounding differences, which training lets grow slowly.
Peak RSS is each process's VmHWM after training, with the high-water mark reset once the data and
the initial weights are loaded.

Output: one table (model | setup | max |loss diff| and the check | steps/s each | ratio | goal |
peak RSS MB each), JSON with --json. Exit status: 0 all loss checks passed, 1 a loss check failed
or a side failed, 77 skipped (torch not importable from this python, or the Fashion-MNIST data
missing) -- ctest's skip code.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

# Loss-agreement tolerances, absolute, on each step's mean cross entropy over the loss-check steps.
# Only float32 rounding differs (summation order in matmul/conv reductions, softmax); training lets
# it grow, most where ReLU/max-pool decisions flip. Measured maxima (50 steps, batch 128/16):
# mlp 7e-7; cnn 1.3e-3 (1 device), 3e-4 (2 devices); gpt 8e-6 (first 8 steps). A learning rate
# only 10% off already differs by 0.057 after 5 MLP steps, so these bounds still catch real bugs.
TOLERANCE = {"mlp": 1e-3, "cnn": 1e-2, "gpt": 5e-3}
# Throughput goals (ofl steps/s divided by PyTorch steps/s) per setup.
GOAL = {1: 1.5, 2: 1.0}
DEFAULT_BATCH = {"mlp": 128, "cnn": 128, "gpt": 16}
DEFAULT_LR = {"mlp": 1e-3, "cnn": 1e-3, "gpt": 3e-4}
# Timed steps when --timed-steps is not given: a few seconds per side on one core.
DEFAULT_TIMED_STEPS = {"mlp": 200, "cnn": 20, "gpt": 10}
GPT = {"vocab": 256, "context": 128, "layers": 4, "dim": 256, "heads": 4}
FASHION_DATA = "/usr/share/datasets/fashion-mnist"
SKIP = 77

_DTYPES = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "I32": "<i4", "I8": "i1", "U8": "u1", "BOOL": "?"}


def read_safetensors(path):
    """Tensors of a safetensors file as numpy arrays: 8-byte little-endian header length N, N bytes
    of JSON header {name: {dtype, shape, data_offsets}}, then the raw data."""
    import numpy as np

    with open(path, "rb") as f:
        blob = f.read()
    header_length = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + header_length])
    data = memoryview(blob)[8 + header_length :]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry["dtype"] not in _DTYPES:
            raise ValueError(
                f"{path}: tensor {name} has dtype {entry['dtype']}, expected one of {list(_DTYPES)}")
        begin, end = entry["data_offsets"]
        array = np.frombuffer(data[begin:end], dtype=_DTYPES[entry["dtype"]]).reshape(entry["shape"])
        tensors[name] = array.copy()
    return tensors


def _status_mb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return float(line.split()[1]) / 1024.0
    return -1.0


def _reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# ---- the PyTorch side (runs in its own process) -------------------------------------------------


def _torch_models():
    """Module classes mirroring examples/common/fashion_models.h and gpt_model.h (api/nn.cc)."""
    import math

    import torch
    import torch.nn.functional as F
    from torch import nn

    class Mlp(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc0, self.fc1, self.fc2 = nn.Linear(784, 256), nn.Linear(256, 128), nn.Linear(128, 10)

        def forward(self, x):
            return self.fc2(F.relu(self.fc1(F.relu(self.fc0(x)))))

    class Cnn(nn.Module):
        def __init__(self, conv1=32, conv2=64, hidden=1024):
            super().__init__()
            self.conv0 = nn.Conv2d(1, conv1, 5, padding=2)
            self.conv1 = nn.Conv2d(conv1, conv2, 5, padding=2)
            self.fc0 = nn.Linear(conv2 * 7 * 7, hidden)
            self.fc1 = nn.Linear(hidden, 10)

        def forward(self, x):
            h = F.max_pool2d(F.relu(self.conv0(x)), 2)
            h = F.max_pool2d(F.relu(self.conv1(h)), 2)
            return self.fc1(F.relu(self.fc0(h.flatten(1))))

    class Block(nn.Module):
        """Pre-LN: h = x + out(attn(ln1(x))); y = h + fc1(gelu(fc0(ln2(h)))); qkv columns [H, 3, Dh]."""

        def __init__(self, dim, heads):
            super().__init__()
            self.heads = heads
            self.ln1, self.ln2 = nn.LayerNorm(dim, eps=1e-5), nn.LayerNorm(dim, eps=1e-5)
            self.qkv, self.out = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
            self.fc0, self.fc1 = nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)

        def forward(self, x):
            batch, time_steps, dim = x.shape
            head_dim = dim // self.heads
            qkv = self.qkv(self.ln1(x)).view(batch, time_steps, self.heads, 3, head_dim)
            q, k, v = (t.transpose(1, 2) for t in qkv.unbind(3))  # [B, H, T, Dh]
            scores = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(head_dim))
            mask = torch.ones(time_steps, time_steps, dtype=torch.bool).triu(1)
            attended = torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1) @ v
            h = x + self.out(attended.transpose(1, 2).reshape(batch, time_steps, dim))
            return h + self.fc1(F.gelu(self.fc0(self.ln2(h))))

    class Gpt(nn.Module):
        def __init__(self, vocab, context, layers, dim, heads):
            super().__init__()
            self.wte = nn.Embedding(vocab, dim)
            self.wpe = nn.Parameter(torch.zeros(context, dim))
            self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(layers))
            self.ln_f = nn.LayerNorm(dim, eps=1e-5)
            self.head = nn.Linear(dim, vocab)

        def forward(self, tokens):
            h = self.wte(tokens) + self.wpe
            for block in self.blocks:
                h = block(h)
            return self.head(self.ln_f(h))

    return Mlp, Cnn, Gpt


def _ofl_name(model, torch_name):
    """The oneflow_like variable of a torch parameter name (examples/common/*.h state the names)."""
    if model in ("mlp", "cnn"):
        return f"{model}/{torch_name}"
    parts = torch_name.split(".")
    if parts[0] == "blocks":
        layer, module, field = parts[1], parts[2], parts[3]
        sub = {"ln1": "ln1", "ln2": "ln2", "qkv": "attn/qkv", "out": "attn/out", "fc0": "mlp/fc0",
               "fc1": "mlp/fc1"}[module]
        return f"gpt/h{layer}/{sub}.{field}"
    if parts[0] == "wpe":
        return "gpt/wpe"
    return "gpt/" + torch_name


def _load_initial(model, module, init):
    """Copies init.safetensors into `module`; every parameter must be there with the right layout and
    every oneflow_like parameter must be used (optimizer state aside)."""
    import torch

    used = set()
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            key = _ofl_name(model, name)
            if key not in init:
                raise KeyError(f"[vs_pytorch] init.safetensors has no '{key}' for torch parameter '{name}'")
            value = init[key]
            # oneflow_like Linear weights are [in, out]; torch.nn.Linear's are [out, in].
            is_linear = isinstance(_owner(module, name), torch.nn.Linear) and name.endswith("weight")
            if is_linear:
                value = value.T
            if tuple(value.shape) != tuple(parameter.shape):
                raise ValueError(
                    f"[vs_pytorch] '{key}': expected shape {tuple(parameter.shape)} (torch '{name}'"
                    f"{', transposed' if is_linear else ''}), found {tuple(value.shape)}")
            parameter.copy_(torch.from_numpy(value.copy()))
            used.add(key)
    unused = [k for k in init if k not in used and ".adam_" not in k and not k.startswith("optimizer.")]
    if unused:
        raise ValueError(f"[vs_pytorch] init.safetensors variables without a torch parameter: {unused}")


def _owner(module, parameter_name):
    owner = module
    for part in parameter_name.split(".")[:-1]:
        owner = getattr(owner, part)
    return owner


def torch_worker(args):
    """Trains the model in this process with `args.threads` threads; prints and writes torch.json."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)  # the weights come from init.safetensors; this only fixes module construction
    init = read_safetensors(os.path.join(args.dir, "init.safetensors"))
    batches = read_safetensors(os.path.join(args.dir, "batches.safetensors"))
    batches = {name: torch.from_numpy(value) for name, value in batches.items()}
    baseline_rss = _status_mb("VmRSS:")

    Mlp, Cnn, Gpt = _torch_models()
    if args.model == "mlp":
        module, inputs, targets = Mlp(), batches["x"], batches["labels"]
    elif args.model == "cnn":
        module, inputs, targets = Cnn(), batches["x"], batches["labels"]
    else:
        module, inputs, targets = Gpt(**GPT), batches["tokens"], batches["targets"]
    _load_initial(args.model, module, init)
    del init
    optimizer = torch.optim.Adam(module.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
    peak_reset = _reset_peak_rss()
    steps = inputs.shape[0]

    def step(s):
        optimizer.zero_grad(set_to_none=True)
        logits = module(inputs[s % steps])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets[s % steps].reshape(-1))
        loss.backward()
        optimizer.step()
        return loss

    start = time.perf_counter()
    losses = [float(step(s).item()) for s in range(steps)]
    loss_phase_seconds = time.perf_counter() - start
    for s in range(args.warmup_steps):
        step(steps + s)
    start = time.perf_counter()
    for s in range(args.timed_steps):
        loss = step(steps + args.warmup_steps + s)
    loss.item()
    timed_seconds = time.perf_counter() - start
    result = {
        "threads": args.threads, "torch": torch.__version__, "losses": losses,
        "loss_phase_seconds": loss_phase_seconds, "warmup_steps": args.warmup_steps,
        "timed_steps": args.timed_steps, "timed_seconds": timed_seconds,
        "steps_per_second": args.timed_steps / timed_seconds, "peak_rss_mb": _status_mb("VmHWM:"),
        "baseline_rss_mb": baseline_rss, "peak_reset": peak_reset,
    }
    with open(os.path.join(args.dir, f"torch{args.threads}.json"), "w") as f:
        json.dump(result, f)
    return 0


# ---- the driver -------------------------------------------------------------------------------------


def _thread_env(threads):
    env = dict(os.environ)
    for key in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[key] = str(threads)
    return env


def _run(command, env, what):
    completed = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"[vs_pytorch] {what} failed (exit {completed.returncode}): {' '.join(command)}\n"
                           f"{completed.stderr.strip()[-2000:]}")


def run_pair(args, model, devices, workdir):
    """One table row: the C++ side on `devices` devices, then PyTorch on as many threads."""
    directory = os.path.join(workdir, f"{model}-{devices}")
    os.makedirs(directory, exist_ok=True)
    batch = args.batch or DEFAULT_BATCH[model]
    lr = DEFAULT_LR[model]
    timed_steps = args.timed_steps or DEFAULT_TIMED_STEPS[model]
    common = ["--steps", str(args.steps), "--warmup-steps", str(args.warmup_steps),
              "--timed-steps", str(timed_steps)]
    _run([args.ofl_binary, "--model", model, "--devices", str(devices), "--threads-per-device", "1",
          "--batch", str(batch), "--lr", repr(lr), "--dir", directory] + common,
         _thread_env(1), f"vs_pytorch_ofl --model {model} --devices {devices}")
    _run([sys.executable, os.path.abspath(__file__), "--torch-worker", "--model", model,
          "--threads", str(devices), "--lr", repr(lr), "--dir", directory] + common,
         _thread_env(devices), f"PyTorch worker --model {model} --threads {devices}")
    with open(os.path.join(directory, "ofl.json")) as f:
        ofl = json.load(f)
    with open(os.path.join(directory, f"torch{devices}.json")) as f:
        torch_result = json.load(f)
    differences = [abs(a - b) for a, b in zip(ofl["losses"], torch_result["losses"])]
    max_difference = max(differences) if differences else float("inf")
    worst_step = differences.index(max_difference) if differences else -1
    ratio = ofl["steps_per_second"] / torch_result["steps_per_second"]
    return {
        "model": model, "devices": devices, "torch_threads": devices, "batch": batch, "learning_rate": lr,
        "data": ofl["data"], "steps": args.steps, "timed_steps": timed_steps,
        "max_loss_difference": max_difference, "worst_step": worst_step,
        "tolerance": TOLERANCE[model], "loss_check": max_difference <= TOLERANCE[model],
        "ofl_steps_per_second": ofl["steps_per_second"],
        "torch_steps_per_second": torch_result["steps_per_second"],
        "ratio": ratio, "goal": GOAL[devices], "meets_goal": ratio >= GOAL[devices],
        "ofl_peak_rss_mb": ofl["peak_rss_mb"], "torch_peak_rss_mb": torch_result["peak_rss_mb"],
        "ofl_baseline_rss_mb": ofl["baseline_rss_mb"],
        "torch_baseline_rss_mb": torch_result["baseline_rss_mb"],
        "ofl_losses": ofl["losses"], "torch_losses": torch_result["losses"],
        "torch_version": torch_result["torch"],
    }


def print_table(rows, args):
    print(f"vs_pytorch: {args.steps} loss-check steps, {args.warmup_steps} warm-up steps, then the timed "
          "steps;\nofl: N devices x 1 OpenMP thread; torch: N threads (set_num_threads, "
          "OMP/OpenBLAS_NUM_THREADS)")
    header = (f"{'model':<5} {'setup':<16} {'max|dloss|':>10} {'tol':>7} {'check':<5} {'ofl st/s':>9} "
              f"{'torch st/s':>10} {'ratio':>6} {'goal':>5} {'ofl MB':>7} {'torch MB':>8}")
    print(header)
    print("-" * len(header))
    for row in rows:
        if "error" in row:
            print(f"{row['model']:<5} {row['setup']:<16} ERROR: {row['error'].splitlines()[0]}")
            continue
        setup = f"{row['devices']}dev vs {row['torch_threads']}thr"
        print(f"{row['model']:<5} {setup:<16} {row['max_loss_difference']:>10.2e} {row['tolerance']:>7.0e} "
              f"{'pass' if row['loss_check'] else 'FAIL':<5} {row['ofl_steps_per_second']:>9.2f} "
              f"{row['torch_steps_per_second']:>10.2f} {row['ratio']:>6.2f} "
              f"{('>=' if row['meets_goal'] else '< ') + format(row['goal'], 'g'):>5} "
              f"{row['ofl_peak_rss_mb']:>7.0f} {row['torch_peak_rss_mb']:>8.0f}")
    print("ratio = ofl steps/s / torch steps/s; goal met when ratio >= goal; MB = peak RSS (VmHWM) of each "
          "process")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default="build", help="build directory holding bench/vs_pytorch_ofl")
    parser.add_argument("--ofl-binary", help="path of vs_pytorch_ofl (default: BUILD/bench/vs_pytorch_ofl)")
    parser.add_argument("--models", default="mlp,cnn,gpt")
    parser.add_argument("--setups", default="1,2", help="device counts: 1 (vs 1 thread), 2 (DP vs 2 threads)")
    parser.add_argument("--steps", type=int, default=50, help="loss-check steps")
    parser.add_argument("--warmup-steps", type=int, default=5)
    parser.add_argument("--timed-steps", type=int, default=0,
                        help="timed steps (default: mlp 200, cnn 20, gpt 10)")
    parser.add_argument("--batch", type=int, default=0, help="batch size (default: mlp/cnn 128, gpt 16)")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--dir", help="working directory for the exchanged files (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary working directory")
    # The PyTorch side, run by the driver as a subprocess of this file.
    parser.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--lr", type=float, default=1e-3, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    if args.torch_worker:
        return torch_worker(args)
    models = [m for m in args.models.split(",") if m]
    setups = [int(s) for s in args.setups.split(",") if s]
    for model in models:
        if model not in TOLERANCE:
            print(f"[vs_pytorch] --models expects a list of mlp, cnn, gpt, found '{model}'", file=sys.stderr)
            return 2
    for setup in setups:
        if setup not in GOAL:
            print(f"[vs_pytorch] --setups expects a list of 1, 2, found '{setup}'", file=sys.stderr)
            return 2
    probe = subprocess.run([sys.executable, "-c", "import numpy, torch"], capture_output=True, text=True)
    if probe.returncode != 0:
        print(f"SKIP: numpy and torch are not importable from {sys.executable} "
              f"(OFL_WITH_TORCH=1 scripts/setup.sh installs python3-torch)")
        return SKIP
    fashion_images = os.path.join(FASHION_DATA, "train-images-idx3-ubyte.gz")
    if any(m != "gpt" for m in models) and not os.path.exists(fashion_images):
        print(f"SKIP: {FASHION_DATA} not found (install the Debian package dataset-fashion-mnist)")
        return SKIP
    args.ofl_binary = args.ofl_binary or os.path.join(args.build, "bench", "vs_pytorch_ofl")
    if not os.access(args.ofl_binary, os.X_OK):
        print(f"[vs_pytorch] '{args.ofl_binary}' is not an executable (build the target vs_pytorch_ofl, "
              "or pass --build DIR / --ofl-binary PATH)", file=sys.stderr)
        return 1

    workdir = args.dir or tempfile.mkdtemp(prefix="vs_pytorch.")
    rows = []
    try:
        for model in models:
            for devices in setups:
                try:
                    rows.append(run_pair(args, model, devices, workdir))
                except (RuntimeError, OSError, ValueError, KeyError) as error:
                    setup = f"{devices}dev vs {devices}thr"
                    rows.append({"model": model, "setup": setup, "error": str(error)})
                    print(error, file=sys.stderr)
    finally:
        if not args.dir and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        elif not args.dir:
            print(f"kept {workdir}")
    print_table(rows, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"steps": args.steps, "warmup_steps": args.warmup_steps, "rows": rows}, f, indent=1)
    failed = [r for r in rows if "error" in r or not r["loss_check"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
