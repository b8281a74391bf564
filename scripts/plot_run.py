#!/usr/bin/env python3
"""Plots of one run from the coordinator's metrics file (`output.metrics_file`): `cohort plot` and `cohort launch`
(into `output.plot_directory`) call it.

usage: plot_run.py METRICS.jsonl OUT_DIR

Writes, each 1000x600 pixels:
  loss.png        training loss (progress windows) and test loss (epoch ends), over steps and over wall time
  accuracy.png    training and test accuracy, the same two ways
  samples_per_rank.png   samples/s of every rank over wall time
  time_split.png  each rank's seconds stacked: compute, waiting on the all-reduce, the rest (loading, updates)
Installs matplotlib with pip when missing. Lines that are not JSON objects are skipped and counted.
"""
import json
import os
import subprocess
import sys

WIDTH, HEIGHT, DPI = 10, 6, 100  # inches at DPI: 1000x600 pixels


def load_matplotlib():
    try:
        import matplotlib
    except ImportError:
        print("plot_run.py: installing matplotlib (python3 -m pip install matplotlib)", file=sys.stderr)
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "matplotlib"]
        if subprocess.call(cmd) != 0 and subprocess.call(cmd + ["--break-system-packages"]) != 0:
            sys.exit("plot_run.py: matplotlib is missing and pip could not install it")
        import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def read(path):
    """The file's records by event; a run resumed into the same file continues its wall-time axis."""
    records = {"progress": [], "epoch": [], "rank": [], "done": []}
    skipped, offset, last_t = 0, 0.0, 0.0
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            try:
                r = json.loads(line)
            except ValueError:
                skipped += 1
                continue
            if not isinstance(r, dict) or r.get("event") not in records:
                skipped += 1
                continue
            t = r.get("t")
            if isinstance(t, (int, float)):
                if t + offset < last_t:
                    offset = last_t
                last_t = t + offset
                r["t"] = last_t
            records[r["event"]].append(r)
    if skipped:
        print(f"plot_run.py: {path}: skipped {skipped} lines that are not metrics records", file=sys.stderr)
    return records


def num(x):
    return x if isinstance(x, (int, float)) else float("nan")


def curves(plt, records, key, test_key, title, out):
    progress = [r["progress"] for r in records["progress"]]
    times = [num(r.get("t")) for r in records["progress"]]
    epochs = [r["epoch"] for r in records["epoch"]]
    per_epoch = progress[0]["stepsPerEpoch"] if progress else 1
    epoch_steps = [(e["epoch"] + 1) * per_epoch for e in epochs]
    epoch_times = [num(r.get("t")) for r in records["epoch"]]
    fig, (by_step, by_time) = plt.subplots(1, 2, figsize=(WIDTH, HEIGHT), dpi=DPI)
    for ax, xs, exs, label in ((by_step, [p["step"] for p in progress], epoch_steps, "step"),
                               (by_time, times, epoch_times, "wall time (s)")):
        ax.plot(xs, [num(p[key]) for p in progress], label="train", color="#1f77b4", linewidth=1)
        ax.plot(exs, [num(e[test_key]) for e in epochs], "o-", label="test", color="#d62728", markersize=3)
        ax.set_xlabel(label)
        ax.set_ylabel(title)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"{title} over steps and wall time")
    fig.savefig(out, dpi=DPI)
    plt.close(fig)


def samples_per_rank(plt, records, out):
    fig, ax = plt.subplots(figsize=(WIDTH, HEIGHT), dpi=DPI)
    by_rank = {}
    for r in records["rank"]:
        p = r["rank"]
        if p.get("seconds", 0) > 0:
            by_rank.setdefault(p["rank"], []).append((num(r.get("t")), p["samples"] / p["seconds"]))
    for rank in sorted(by_rank):
        pts = by_rank[rank]
        ax.plot([t for t, _ in pts], [v for _, v in pts], label=f"rank {rank}", linewidth=1)
    ax.set_xlabel("wall time (s)")
    ax.set_ylabel("samples/s")
    ax.set_title("samples per second of each rank")
    ax.grid(alpha=0.3)
    if by_rank:
        ax.legend()
    else:
        ax.text(0.5, 0.5, "no per-rank records in this file", ha="center", transform=ax.transAxes)
    fig.savefig(out, dpi=DPI)
    plt.close(fig)


def time_split(plt, records, out):
    totals = {}
    for r in records["rank"]:
        p = r["rank"]
        t = totals.setdefault(p["rank"], [0.0, 0.0, 0.0, 0.0])
        t[0] += p.get("computeSeconds", 0)
        t[1] += p.get("waitSeconds", 0)
        t[2] += p.get("seconds", 0)
        t[3] += p.get("allReduceSeconds", 0)
    ranks = sorted(totals)
    compute = [totals[r][0] for r in ranks]
    wait = [totals[r][1] for r in ranks]
    rest = [max(totals[r][2] - totals[r][0] - totals[r][1], 0) for r in ranks]
    fig, ax = plt.subplots(figsize=(WIDTH, HEIGHT), dpi=DPI)
    labels = [str(r) for r in ranks]
    ax.bar(labels, compute, label="compute", color="#2ca02c")
    ax.bar(labels, wait, bottom=compute, label="waiting on the all-reduce", color="#d62728")
    ax.bar(labels, rest, bottom=[c + w for c, w in zip(compute, wait)], label="other", color="#bbbbbb")
    for i, r in enumerate(ranks):
        ax.annotate(f"all-reduce ran {totals[r][3]:.1f} s", (i, totals[r][2]), ha="center", va="bottom", fontsize=8)
    ax.set_xlabel("rank")
    ax.set_ylabel("seconds")
    ax.set_title("time split per rank (all-reduce overlaps backward; only its wait adds to the step)")
    ax.legend()
    fig.savefig(out, dpi=DPI)
    plt.close(fig)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2])
    path, out_dir = sys.argv[1], sys.argv[2]
    records = read(path)
    if not records["progress"] and not records["epoch"]:
        sys.exit(f"plot_run.py: {path} has no progress or epoch records to plot")
    plt = load_matplotlib()
    os.makedirs(out_dir, exist_ok=True)
    outputs = {name: os.path.join(out_dir, name) for name in
               ("loss.png", "accuracy.png", "samples_per_rank.png", "time_split.png")}
    curves(plt, records, "loss", "testLoss", "loss", outputs["loss.png"])
    curves(plt, records, "accuracy", "testAccuracy", "accuracy", outputs["accuracy.png"])
    samples_per_rank(plt, records, outputs["samples_per_rank.png"])
    time_split(plt, records, outputs["time_split.png"])
    for p in outputs.values():
        print(p)


if __name__ == "__main__":
    main()
