#!/usr/bin/env python3
"""Plot `cohort bench pipeline --csv FILE` output: bubble fraction vs micro-batches per K, measured (dots), the
simulator fed with the same run's costs (crosses), `--simulate`-only rows (solid) and (K-1)/(M+K-1) (dashed), one
panel per schedule; plus the most micro-batches' activations a stage held.

usage: scripts/plot_pipeline.py pipeline.csv [out.png]
"""
import csv
import subprocess
import sys

try:
    import matplotlib
except ImportError:  # installed on first use, as the project's plotting scripts do
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--user", "--quiet", "matplotlib"])
    import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: plot_pipeline.py pipeline.csv [out.png]")
    rows = list(csv.DictReader(open(sys.argv[1])))
    out = sys.argv[2] if len(sys.argv) > 2 else sys.argv[1].rsplit(".", 1)[0] + ".png"
    schedules = sorted({r["schedule"] for r in rows})
    fig, axes = plt.subplots(2, len(schedules), figsize=(6 * len(schedules), 8), squeeze=False)
    for col, sched in enumerate(schedules):
        ax, mem = axes[0][col], axes[1][col]
        for sim_flag, style in (("false", "o"), ("true", "-")):
            sel = [r for r in rows if r["schedule"] == sched and r["simulated"] == sim_flag]
            for k in sorted({int(r["stages"]) for r in sel}):
                pts = sorted((int(r["micro_batches"]), r) for r in sel if int(r["stages"]) == k)
                ms = [m for m, _ in pts]
                if sim_flag == "false":
                    ax.plot(ms, [float(r["bubble_measured"]) for _, r in pts], "o", label=f"K={k} measured")
                    ax.plot(ms, [float(r["bubble_theory"]) for _, r in pts], "k--", lw=0.6)
                    ax.plot(ms, [float(r["bubble_simulated"]) for _, r in pts], "x", label=f"K={k} simulated (same costs)")
                    mem.plot(ms, [int(r["max_stashed"]) for _, r in pts], "o", label=f"K={k} measured")
                else:
                    ax.plot(ms, [float(r["bubble_simulated"]) for _, r in pts], "-", lw=1, label=f"K={k} simulated")
                    mem.plot(ms, [int(r["max_stashed"]) for _, r in pts], "-", label=f"K={k} simulated")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("micro-batches M")
        ax.set_ylabel("bubble (idle) fraction")
        ax.set_title(f"{sched}: measured, simulated, (K-1)/(M+K-1) dashed")
        ax.legend(fontsize=6, ncol=2)
        mem.set_xscale("log", base=2)
        mem.set_yscale("log", base=2)
        mem.set_xlabel("micro-batches M")
        mem.set_ylabel("max micro-batches stashed per stage")
        mem.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(out)


if __name__ == "__main__":
    main()
