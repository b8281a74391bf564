#!/usr/bin/env python3
"""Speedup plot for `cohort bench scaling`: reads its CSV, writes a PNG.

usage: plot_scaling.py SCALING.csv OUT.png

Measured speedup and the compute-only ceiling at the measured worker counts, the alpha-beta prediction for
1..1024 workers, and ideal linear speedup, on log-log axes. Installs matplotlib with pip when missing.
"""
import csv
import subprocess
import sys


def load_matplotlib():
    try:
        import matplotlib
    except ImportError:
        print("plot_scaling.py: installing matplotlib (python3 -m pip install matplotlib)", file=sys.stderr)
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "matplotlib"]
        if subprocess.call(cmd) != 0 and subprocess.call(cmd + ["--break-system-packages"]) != 0:
            sys.exit("plot_scaling.py: matplotlib is missing and pip could not install it")
        import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def number(row, key):
    v = row.get(key, "")
    return float(v) if v not in ("", None) else None


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2])
    src, out = sys.argv[1], sys.argv[2]
    with open(src, newline="") as f:
        rows = list(csv.DictReader(f))
    measured = [r for r in rows if r["kind"] == "measured"]
    predicted = [r for r in rows if r["kind"] == "predicted"]
    if not measured and not predicted:
        sys.exit(f"plot_scaling.py: {src} has no rows")
    workload = (measured or predicted)[0]["workload"]
    plt = load_matplotlib()

    fig, ax = plt.subplots(figsize=(7, 4.5))
    if predicted:
        n = [int(r["workers"]) for r in predicted]
        ax.plot(n, n, ":", color="gray", label="ideal")
        ax.plot(n, [number(r, "predicted_speedup") for r in predicted], "-", color="tab:blue", label="alpha-beta prediction")
    if measured:
        n = [int(r["workers"]) for r in measured]
        ax.plot(n, [number(r, "speedup") for r in measured], "o-", color="tab:red", label="measured")
        ax.plot(n, [number(r, "ceiling_speedup") for r in measured], "s--", color="tab:green", label="compute-only ceiling")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xlabel("workers (same global batch)")
    ax.set_ylabel("speedup over 1 worker")
    ax.set_title(f"cohort bench scaling: {workload}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"plot_scaling.py: wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
