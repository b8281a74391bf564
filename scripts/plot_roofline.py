#!/usr/bin/env python3
"""Roofline plot for `cohort bench roofline --plot-dir D`: reads its CSV, writes a PNG.

usage: plot_roofline.py ROOFLINE.csv OUT.png

Log-log axes: arithmetic intensity (FLOP/byte) against GFLOP/s. Each FMA peak is a horizontal roof, each triad
bandwidth (L1, L2, DRAM) a slanted one; every operation of the step is a dot sized by its share of the step time.
Operations without FLOPs (the bias broadcast) cannot sit on log axes and are listed in the title instead.
Installs matplotlib with pip when missing.
"""
import csv
import subprocess
import sys


def load_matplotlib():
    try:
        import matplotlib
    except ImportError:
        print("plot_roofline.py: installing matplotlib (python3 -m pip install matplotlib)", file=sys.stderr)
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "matplotlib"]
        if subprocess.call(cmd) != 0 and subprocess.call(cmd + ["--break-system-packages"]) != 0:
            sys.exit("plot_roofline.py: matplotlib is missing and pip could not install it")
        import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    rows = list(csv.DictReader(open(sys.argv[1])))
    plt = load_matplotlib()
    peaks = [(r["name"], float(r["gflops"])) for r in rows if r["kind"] == "peak"]
    bws = [(r["name"], float(r["gflops"])) for r in rows if r["kind"] == "bandwidth"]
    ops = [r for r in rows if r["kind"] == "op"]
    shown = [r for r in ops if float(r["flops"]) > 0]
    hidden = [r["name"] for r in ops if float(r["flops"]) <= 0]
    total = sum(float(r["seconds"]) for r in ops) or 1
    fig, ax = plt.subplots(figsize=(9, 6))
    xs = [2 ** (i / 4) for i in range(-40, 41)]
    top = max(p for _, p in peaks) if peaks else 1
    for name, p in peaks:
        ax.plot(xs, [p] * len(xs), linewidth=1.5, label=f"{name} FMA peak {p:.0f} GFLOP/s")
    for name, bw in bws:
        ax.plot(xs, [min(top, bw * x) for x in xs], linestyle="--", linewidth=1, label=f"{name} triad {bw:.0f} GB/s")
    for r in shown:
        x, y = float(r["intensity"]), float(r["gflops"])
        ax.scatter([x], [y], s=20 + 2000 * float(r["seconds"]) / total, alpha=0.6)
        ax.annotate(r["name"], (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP/byte)")
    ax.set_ylabel("GFLOP/s")
    title = "cohort bench roofline: one training step (dot area = share of step time)"
    if hidden:
        title += "\nno FLOPs (not shown): " + ", ".join(hidden)
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.2)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=120)


if __name__ == "__main__":
    main()
