#!/usr/bin/env python3
"""What `elastic:` costs a DP × PP grid that never loses a worker (issue 14, item 4).

Under `elastic:` every stage of a grid copies its weights, optimizer slots and step before each update
(`StageStateSnapshot`), so that a stage one step ahead can go back when a worker dies. This runs the same grid
under `launch` with and without `elastic:`, alternating the two sides for ROUNDS rounds, and prints the samples/s
of each run (from launch's `done:` line) and the medians' ratio. Nothing else should run meanwhile.

usage: scripts/elastic-grid-cost.py [--rounds 3] [--workers 4] [--pipeline-stages 2] [--workload W2] [--steps 1500]
"""
import argparse, os, re, statistics, subprocess, sys, tempfile
from local_cluster import local_cluster_yaml

def run(binary, workload, workers, stages, micro_batches, steps, elastic):
    d = tempfile.mkdtemp(prefix="cohort-grid-cost-")
    cfg = os.path.join(d, "cluster.yaml")
    grid = f"parallelism: {{pipeline_stages: {stages}, micro_batches: {micro_batches}}}\n"
    with open(cfg, "w") as f:
        f.write(local_cluster_yaml(workers, workload, steps,
                                   grid + (f"elastic: {{min_workers: {stages}}}\n" if elastic else "")))
    p = subprocess.run([binary, "launch", cfg, "--ephemeral-ports"], capture_output=True, text=True, timeout=900)
    text = p.stdout + p.stderr
    m = re.search(r"^done: .* ([0-9]+) samples/s", text, re.M)
    if p.returncode != 0 or not m:
        raise SystemExit(f"launch failed ({p.returncode}):\n{text}")
    return int(m.group(1)), next(l for l in text.splitlines() if l.startswith("done: "))

def main():
    a = argparse.ArgumentParser()
    a.add_argument("--rounds", type=int, default=3)
    a.add_argument("--workers", type=int, default=4)
    a.add_argument("--pipeline-stages", type=int, default=2)
    a.add_argument("--micro-batches", type=int, default=4)
    a.add_argument("--workload", default="W2")
    a.add_argument("--steps", type=int, default=1500)
    a.add_argument("--binary", default=".build/release/cohort")
    args = a.parse_args()
    rates = {False: [], True: []}
    for r in range(args.rounds):
        for elastic in ([False, True] if r % 2 == 0 else [True, False]):
            rate, line = run(args.binary, args.workload, args.workers, args.pipeline_stages, args.micro_batches,
                             args.steps, elastic)
            rates[elastic].append(rate)
            print(f"round {r} elastic={'on' if elastic else 'off'}: {line}", flush=True)
    off, on = statistics.median(rates[False]), statistics.median(rates[True])
    print(f"{args.workload} {args.workers // args.pipeline_stages}x{args.pipeline_stages}: median samples/s "
          f"elastic off {off:.0f}, on {on:.0f}, on/off {on / off:.3f}")

if __name__ == "__main__":
    main()
