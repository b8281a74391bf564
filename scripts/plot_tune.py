#!/usr/bin/env python3
"""Metric over budget for `cohort tune`: reads its results CSV, writes a PNG.

usage: plot_tune.py RESULTS.csv OUT.png [METRIC]

One line per trial through its finished runs (rung 0, then each promotion), so ASHA's promotions show as lines
climbing to the next budget; trials never promoted stay single dots. The best run is ringed. Failed runs
(empty metric) are left out. METRIC (default test_accuracy) names the y axis; a *_loss is minimised, so its best is
the lowest. Installs matplotlib with pip when missing.
"""
import csv
import subprocess
import sys


def load_matplotlib():
    try:
        import matplotlib
    except ImportError:
        print("plot_tune.py: installing matplotlib (python3 -m pip install matplotlib)", file=sys.stderr)
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "matplotlib"]
        if subprocess.call(cmd) != 0 and subprocess.call(cmd + ["--break-system-packages"]) != 0:
            sys.exit("plot_tune.py: matplotlib is missing and pip could not install it")
        import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    metric = sys.argv[3] if len(sys.argv) == 4 else "test_accuracy"
    sign = -1 if metric.endswith("_loss") else 1
    rows = [r for r in csv.DictReader(open(sys.argv[1])) if r.get("metric")]
    plt = load_matplotlib()
    trials = {}
    for r in rows:
        trials.setdefault(int(r["trial"]), []).append((int(r["budget"]), float(r["metric"]), int(r["rung"])))
    fig, ax = plt.subplots(figsize=(8, 5))
    for t, points in sorted(trials.items()):
        points.sort()
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        promoted = len(points) > 1
        ax.plot(xs, ys, marker="o", markersize=4, linewidth=1.2 if promoted else 0, alpha=0.9 if promoted else 0.5,
                label=f"trial {t}" if promoted else None)
    if rows:
        best = max(rows, key=lambda r: (sign * float(r["metric"]), int(r["budget"]), -int(r["trial"])))
        ax.scatter([int(best["budget"])], [float(best["metric"])], s=160, facecolors="none", edgecolors="black",
                   label=f"best: trial {best['trial']} ({float(best['metric']):.4f})")
    budgets = sorted({int(r["budget"]) for r in rows})
    if len(budgets) > 1 and budgets[-1] / max(1, budgets[0]) >= 4:
        ax.set_xscale("log")
        ax.minorticks_off()
    ax.set_xticks(budgets)
    ax.set_xticklabels([str(b) for b in budgets])
    ax.set_xlabel("budget (epochs or steps)")
    ax.set_ylabel(metric.replace("_", " "))
    ax.set_title(f"cohort tune: {len(trials)} trials, {len(rows)} runs; lines are promotions")
    ax.grid(True, alpha=0.3)
    if len(ax.get_legend_handles_labels()[0]) <= 16:
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=120)


if __name__ == "__main__":
    main()
