#!/usr/bin/env python3
"""Timeline PNG of an elastic run (issue 14): membership size, training progress and every loss and join over time.

Reads the coordinator's metrics file (JSON Lines; every record carries `t`, seconds since the run started):
  - `membership` records: a worker lost (red ×, with its rank and reason) or joined (green ▲), and the size after;
  - `progress` records: the step and samples/s the progress line showed.
A record that does not decode, or a truncated last line, is skipped, as `cohort plot` does.

usage: scripts/plot_chaos_timeline.py METRICS.jsonl|CHAOS_OUT_DIR [--out timeline.png] [--title TEXT]
(a chaos output directory means its chaos/metrics.jsonl; scripts/chaos.py calls this at the end of a run.)
"""
import argparse, json, os, sys


def records(path):
    out = []
    with open(path) as f:
        for line in f:
            if not line.endswith("\n"):
                continue
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if isinstance(r, dict) and isinstance(r.get("t"), (int, float)):
                out.append(r)
    return out


def membership_series(rs):
    """(t, workers) steps, starting from the size before the first change, and the change events."""
    changes = [(r["t"], r["membership"]) for r in rs if r.get("event") == "membership" and "membership" in r]
    if not changes:
        return [], []
    series = [(0.0, changes[0][1].get("workersBefore", changes[0][1].get("workersAfter", 0)))]
    for t, m in changes:
        series.append((t, m.get("workersAfter", series[-1][1])))
    return series, changes


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("source")
    ap.add_argument("--out", default=None)
    ap.add_argument("--title", default=None)
    a = ap.parse_args()
    path = a.source
    if os.path.isdir(path):
        path = os.path.join(path, "chaos", "metrics.jsonl")
    if not os.path.isfile(path):
        sys.exit(f"plot_chaos_timeline: {path}: no such metrics file")
    rs = records(path)
    progress = [(r["t"], r["progress"]) for r in rs if r.get("event") == "progress" and "progress" in r]
    series, changes = membership_series(rs)
    if not progress and not changes:
        sys.exit(f"plot_chaos_timeline: {path}: no progress or membership records")
    end = max([t for t, _ in progress] + [t for t, _ in changes] + [0.0])
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 5.5), sharex=True, gridspec_kw={"height_ratios": [1, 1.4]})
    if series:
        xs = [t for t, _ in series] + [end]
        ys = [w for _, w in series] + [series[-1][1]]
        top.step(xs, ys, where="post", color="black", linewidth=1.5)
        for t, m in changes:
            joined = bool(m.get("joined"))
            top.plot([t], [m.get("workersAfter", 0)], marker="^" if joined else "x", markersize=9,
                     color="tab:green" if joined else "tab:red", linestyle="none")
            label = "join" if joined else f"rank {m.get('lostRank', '?')}: {m.get('reason', 'lost')}"
            top.annotate(label, (t, m.get("workersAfter", 0)), textcoords="offset points", xytext=(3, 6),
                         fontsize=7, rotation=30, color="tab:green" if joined else "tab:red")
        top.set_ylim(0, max(w for _, w in series) + 1.5)
    top.set_ylabel("workers")
    top.grid(alpha=0.3)
    top.set_title(a.title or f"membership over time: {os.path.basename(os.path.dirname(path)) or path}")
    if progress:
        bottom.plot([t for t, _ in progress], [p.get("step", 0) for _, p in progress], color="tab:blue", label="step")
        bottom.set_ylabel("step", color="tab:blue")
        rate = bottom.twinx()
        rate.plot([t for t, _ in progress], [p.get("samplesPerSecond", 0) for _, p in progress], color="tab:orange",
                  alpha=0.7, label="samples/s")
        rate.set_ylabel("samples/s", color="tab:orange")
    for t, m in changes:
        for ax in (top, bottom):
            ax.axvline(t, color="tab:green" if m.get("joined") else "tab:red", alpha=0.25, linewidth=1)
    bottom.set_xlabel("seconds since the run started")
    bottom.grid(alpha=0.3)
    out = a.out or os.path.join(os.path.dirname(path), "timeline.png")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(out)


if __name__ == "__main__":
    main()
