#!/usr/bin/env python3
"""Accuracy against model size for `cohort compress report`: reads its CSV, writes a PNG.

usage: plot_compression.py compression-report.csv OUT.png

One point per model file (x: bytes on disk, log scale; y: test accuracy in %), one colour per workload, one marker
per method, with each workload's fp32 accuracy as a dotted line. Installs matplotlib with pip when missing.
"""
import csv
import subprocess
import sys


def load_matplotlib():
    try:
        import matplotlib
    except ImportError:
        print("plot_compression.py: installing matplotlib (python3 -m pip install matplotlib)", file=sys.stderr)
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "matplotlib"]
        if subprocess.call(cmd) != 0 and subprocess.call(cmd + ["--break-system-packages"]) != 0:
            sys.exit("plot_compression.py: matplotlib is missing and pip could not install it")
        import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


MARKERS = ["o", "s", "D", "^", "v", "P", "X", "*"]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    rows = list(csv.DictReader(open(sys.argv[1])))
    if not rows:
        sys.exit("plot_compression.py: no rows in " + sys.argv[1])
    plt = load_matplotlib()
    methods = list(dict.fromkeys(r["method"] for r in rows))
    workloads = list(dict.fromkeys(r["workload"] for r in rows))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, ax = plt.subplots(figsize=(11, 5.5))
    for wi, w in enumerate(workloads):
        colour = colours[wi % len(colours)]
        for r in rows:
            if r["workload"] != w:
                continue
            m = MARKERS[methods.index(r["method"]) % len(MARKERS)]
            ax.scatter(int(r["bytes"]), 100 * float(r["test_accuracy"]), color=colour, marker=m, s=60,
                       label=f"{w} {r['method']}")
        base = [r for r in rows if r["workload"] == w and r["method"] == "fp32"]
        if base:
            ax.axhline(100 * float(base[0]["test_accuracy"]), color=colour, linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.set_xlabel("model file size (bytes, log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("cohort compress report: accuracy against size (dotted: fp32)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=120)
    print(sys.argv[2])


if __name__ == "__main__":
    main()
