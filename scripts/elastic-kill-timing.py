#!/usr/bin/env python3
"""Detection and recovery times of elastic training after a SIGKILLed worker (issue 14).

Launches `cohort launch` of WORKERS local workers under `elastic:` with the given workload, waits until training
runs, SIGKILLs one worker (round robin over ranks), and reads:
  - detection: the coordinator's membership record (metrics file) `detectedAtNanoseconds` minus the kill time
    (both CLOCK_MONOTONIC);
  - recovery: each survivor's `elastic:` line, `step_ns` (its first completed step in the new membership) minus the
    detection time (recovery excluding detection), and minus the kill time (death to next step).
Prints one JSON line per event and the medians per transport. Runs under flock /tmp/cohort-bench.lock.

usage: scripts/elastic-kill-timing.py [--rounds N] [--workers N] [--workload W1] [--transports tcp,shm]
                                     [--pipeline-stages K --micro-batches M]

With --pipeline-stages K > 1 the workers form a DP × PP grid (WORKERS / K replicas) and a kill drops the victim's
whole replica (elastic min_workers K).
"""
import argparse, json, os, re, signal, statistics, subprocess, sys, tempfile, time
from local_cluster import local_cluster_yaml

def child_pids(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return sorted(int(x) for x in f.read().split())
    except OSError:
        return []

def one_event(binary, workload, workers, victim, shm, steps, stages=1, micro_batches=4):
    d = tempfile.mkdtemp(prefix="cohort-elastic-timing-")
    cfg = os.path.join(d, "cluster.yaml")
    grid = (f"parallelism: {{pipeline_stages: {stages}, micro_batches: {micro_batches}}}\n" if stages > 1 else "")
    with open(cfg, "w") as f:
        f.write(local_cluster_yaml(workers, workload, steps,
                                   f"output: {{metrics_file: {d}/metrics.jsonl}}\nelastic: {{min_workers: {stages}}}\n{grid}"))
    env = dict(os.environ, COHORT_SHARED_MEMORY="1" if shm else "0")
    p = subprocess.Popen([binary, "launch", cfg, "--ephemeral-ports"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, env=env, text=True)
    out = []
    start = time.monotonic()
    while time.monotonic() - start < 60:
        line = p.stdout.readline()
        if not line:
            break
        out.append(line)
        if "training" in line:
            break
    # Training proper: wait for the first progress record (the data is loaded and steps are being taken), then
    # a little longer so that the kill lands mid-run.
    metrics = os.path.join(d, "metrics.jsonl")
    while time.monotonic() - start < 120:
        if os.path.exists(metrics) and '"progress"' in open(metrics).read():
            break
        time.sleep(0.05)
    time.sleep(0.5)
    pids = child_pids(p.pid)
    if len(pids) != workers:
        p.kill()
        raise SystemExit(f"expected {workers} workers, found {pids}: {''.join(out)}")
    killed_ns = time.monotonic_ns()
    os.kill(pids[victim], signal.SIGKILL)
    rest, _ = p.communicate(timeout=300)
    text = "".join(out) + rest
    if p.returncode != 0:
        raise SystemExit(f"launch failed ({p.returncode}):\n{text}")
    records = [json.loads(l) for l in open(os.path.join(d, "metrics.jsonl")) if '"membership"' in l]
    m = records[0]["membership"]
    detected = m["detectedAtNanoseconds"]
    # The survivors' first step in the membership the loss formed (not a later one: a restarted worker's rejoin
    # writes the same lines).
    steps_ns = [int(x) for x in re.findall(rf"in membership {m['membership']}: .*step_ns (\d+)", text)]
    return {
        "transport": "shm" if shm else "tcp", "workers": workers, "stages": stages, "victim_rank": victim,
        "detection_s": (detected - killed_ns) / 1e9,
        "recovery_excl_detection_s": (max(steps_ns) - detected) / 1e9 if steps_ns else None,
        "death_to_next_step_s": (max(steps_ns) - killed_ns) / 1e9 if steps_ns else None,
        "line": records[0].get("line"),
    }

def main():
    a = argparse.ArgumentParser()
    a.add_argument("--rounds", type=int, default=3)
    a.add_argument("--workers", type=int, default=3)
    a.add_argument("--workload", default="W1")
    a.add_argument("--steps", type=int, default=6000)
    a.add_argument("--transports", default="tcp,shm")
    a.add_argument("--binary", default=".build/release/cohort")
    a.add_argument("--pipeline-stages", type=int, default=1)
    a.add_argument("--micro-batches", type=int, default=4)
    args = a.parse_args()
    events = {}
    for r in range(args.rounds):
        for t in args.transports.split(","):  # alternate the two sides every round
            e = one_event(args.binary, args.workload, args.workers, r % args.workers, t == "shm", args.steps,
                          args.pipeline_stages, args.micro_batches)
            print(json.dumps(e), flush=True)
            events.setdefault(t, []).append(e)
    for t, es in events.items():
        med = lambda k: statistics.median(e[k] for e in es if e[k] is not None)
        print(f"{t}: {len(es)} kills, median detection {med('detection_s'):.3f} s, "
              f"recovery excl. detection {med('recovery_excl_detection_s'):.3f} s, "
              f"death to next step {med('death_to_next_step_s'):.3f} s")

if __name__ == "__main__":
    main()
