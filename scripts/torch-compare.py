#!/usr/bin/env python3
"""PyTorch CPU side of `cohort bench train --workload W3`: the same model and recipe, timed the same way.

The recipe (Sources/Config/Job/Workloads.swift, JobSpec.w3), reproduced exactly:
  input 1x28x28 Fashion-MNIST, pixels / 255, standardised with the training set's global mean and std;
  conv 32 3x3 pad 1 -> ReLU -> max pool 2 -> conv 64 3x3 pad 1 -> ReLU -> max pool 2 -> flatten (64*7*7)
  -> dense 128 -> ReLU -> dense 10; softmax cross-entropy (mean over the batch);
  He-normal weights (kaiming_normal_, fan_in, ReLU gain), zero biases;
  SGD momentum 0.9 (PyTorch's form, as Cohort's: v = mu*v + g, w -= lr*v), lr 0.05 cosine-decayed to 0 over the
  run's steps; batch 128.
Timing as Cohort's TrainingBenchmark: 4 batches held in memory and cycled (data loading excluded), a fresh model
per run, WARMUP untimed steps, then STEPS timed steps; samples/s = STEPS*128/seconds, and the CPU share
(process CPU time / (wall * threads)) tells whether other processes took the core. Each step also counts the
correct predictions, as Cohort's step does. Cohort times synthetic rows of the same shape; this script uses the
real Fashion-MNIST rows (from the same Debian folder Cohort reads); a dense step's cost does not depend on them.

  python3 scripts/torch-compare.py --install          # pip-installs torch 2.13.0+cpu (PyPI, or the PyTorch index)
  python3 scripts/torch-compare.py [--threads 1] [--runs 3] [--steps 400] [--warmup 20] [--json]
  python3 scripts/torch-compare.py --epochs 2         # also train on the whole set and print the test accuracy
"""
import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import time

DATA = os.environ.get("COHORT_FASHION_MNIST", "/usr/share/datasets/fashion-mnist")
TORCH_VERSION = "2.13.0+cpu"


def install():
    """torch CPU: PyPI's local version (pip's find-links may hold the wheel), else the PyTorch CPU index."""
    for extra in ([], ["--index-url", "https://download.pytorch.org/whl/cpu"]):
        cmd = [sys.executable, "-m", "pip", "install", f"torch=={TORCH_VERSION}", *extra]
        print("+", " ".join(cmd), file=sys.stderr)
        if subprocess.call(cmd) == 0:
            return
    sys.exit("torch-compare.py: could not install torch (see pip's output above)")


def read_idx(base):
    """An IDX file (base or base.gz) in DATA as (dims, bytes)."""
    for name, opener in ((base + ".gz", gzip.open), (base, open)):
        path = os.path.join(DATA, name)
        if os.path.exists(path):
            with opener(path, "rb") as f:
                raw = f.read()
            break
    else:
        sys.exit(f"torch-compare.py: {os.path.join(DATA, base)}(.gz): no such file (set COHORT_FASHION_MNIST)")
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 8:
        sys.exit(f"torch-compare.py: {path}: not an unsigned-byte IDX file")
    rank = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(rank)]
    body = raw[4 + 4 * rank:]
    count = 1
    for d in dims:
        count *= d
    if len(body) != count:
        sys.exit(f"torch-compare.py: {path}: {len(body)} bytes of data, dimensions {dims} need {count}")
    return dims, body


def load(torch, split):
    dims, images = read_idx(f"{split}-images-idx3-ubyte")
    _, labels = read_idx(f"{split}-labels-idx1-ubyte")
    x = torch.frombuffer(bytearray(images), dtype=torch.uint8).reshape(dims[0], 1, dims[1], dims[2]).float() / 255
    y = torch.frombuffer(bytearray(labels), dtype=torch.uint8).long()
    return x, y


def model(torch):
    nn = torch.nn
    m = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))
    for layer in m:
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")
            nn.init.zeros_(layer.bias)
    return m


def trainer(torch, total_steps, seed):
    torch.manual_seed(seed)
    m = model(torch)
    opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps, eta_min=0)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad(set_to_none=False)
        logits = m(x)
        loss = loss_fn(logits, y)
        loss.backward()
        opt.step()
        sched.step()
        return loss.item(), int((logits.argmax(1) == y).sum())

    return m, step


def bench_run(torch, batches, args, seed):
    _, step = trainer(torch, args.warmup + args.steps, seed)
    for i in range(args.warmup):
        step(*batches[i % 4])
    c0, t0 = time.process_time(), time.perf_counter()
    for i in range(args.steps):
        step(*batches[i % 4])
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0
    return args.steps * 128 / seconds, cpu / (seconds * args.threads)


def train_epochs(torch, x, y, xt, yt, args):
    """The whole recipe over `epochs` epochs (shuffled each epoch), then the test accuracy."""
    steps_per_epoch = (len(x) + 127) // 128
    m, step = trainer(torch, args.epochs * steps_per_epoch, args.seed)
    g = torch.Generator().manual_seed(args.seed)
    for e in range(args.epochs):
        m.train()
        order = torch.randperm(len(x), generator=g)
        for i in range(steps_per_epoch):
            idx = order[i * 128:(i + 1) * 128]
            step(x[idx], y[idx])
        m.eval()
        with torch.no_grad():
            acc = sum(int((m(xt[i:i + 1000]).argmax(1) == yt[i:i + 1000]).sum()) for i in range(0, len(xt), 1000))
        print(f"epoch {e + 1}: test accuracy {acc / len(xt):.4f}", file=sys.stderr)
    return acc / len(xt)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--install", action="store_true", help=f"pip-install torch {TORCH_VERSION} first")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--epochs", type=int, default=0, help="also train this many epochs and report test accuracy")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.threads < 1 or args.runs < 1 or args.steps < 1 or args.warmup < 0:
        sys.exit("torch-compare.py: --threads, --runs and --steps must be >= 1, --warmup >= 0")
    if args.install:
        install()
    try:
        import torch
    except ImportError:
        sys.exit("torch-compare.py: torch is not installed; run with --install")
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    x, y = load(torch, "train")
    mean, std = x.mean(), x.std()
    x = (x - mean) / std
    batches = [(x[i * 128:(i + 1) * 128].contiguous(), y[i * 128:(i + 1) * 128]) for i in range(4)]
    rates, shares = [], []
    for r in range(args.runs):
        rate, share = bench_run(torch, batches, args, seed=r + 1)
        rates.append(rate)
        shares.append(share)
        if not args.json:
            print(f"run {r + 1}: {rate:.0f} samples/s (CPU share {share:.2f})", file=sys.stderr)
    median = statistics.median(rates)
    record = {
        "bench": "train", "side": "torch", "workload": "W3", "threads": args.threads, "torch": torch.__version__,
        "mkldnn": torch.backends.mkldnn.is_available(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "samples_per_s": round(median, 1), "batch": 128, "steps": args.steps,
        "runs": [round(v, 1) for v in rates], "cpu_share": round(statistics.median(shares), 2),
    }
    if args.epochs > 0:
        xt, yt = load(torch, "t10k")
        record["epochs"] = args.epochs
        record["test_accuracy"] = round(train_epochs(torch, x, y, (xt - mean) / std, yt, args), 4)
    if args.json:
        print(json.dumps(record))
    else:
        print(f"torch {torch.__version__} W3 (batch 128, {args.steps} steps x {args.runs} runs, {args.threads} thread(s), "
              f"{record['cpu_capability']}): median {median:.0f} samples/s (min {min(rates):.0f}, max {max(rates):.0f}; "
              f"CPU share {record['cpu_share']:.2f})")
        if args.epochs > 0:
            print(f"torch W3 {args.epochs} epochs: test accuracy {record['test_accuracy']:.4f}")


if __name__ == "__main__":
    main()
