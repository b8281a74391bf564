#!/usr/bin/env python3
"""Chaos benchmark of elastic training (issue 14): kills random workers of a running job and measures recovery.

Runs `cohort launch` of WORKERS local workers under `elastic:` (restarts on: max_restarts = KILLS, backoff_s) and,
at KILLS random steps, signals a random worker:
  - SIGKILL: a crashed worker. `launch` sees the exit at once and the job shrinks; then the policy restarts it.
  - SIGSTOP: a hung worker. Nothing exits; the coordinator drops it when its heartbeats stop (peer_deadline_s).
    Once dropped it is handled as a supervisor handles a hung process: SIGKILLed, and `launch` restarts it.
Each kill waits until the job is back at full strength (the restart joined), so every event is a shrink and a
grow. Every figure comes from the coordinator's metrics file, never from log text:
  - `membership` records: the loss (`detectedAtNanoseconds`, CLOCK_MONOTONIC like this script's clock) and the
    join of the restarted worker;
  - `recovery` records, one per survivor and membership: its first completed step (`stepDoneAtNanoseconds`), the
    agreed step, `stepsRedone`, `bytesCopied` by the state agreement and the copy's `copySeconds`.
Per event: detection (signal → the coordinator knows), recovery (detection → the survivors' next completed step),
steps redone, restart (signal → the restarted worker admitted), heal (admission → first step with it), the
bytes copied to heal it, and the copy's time (the slowest rank's) and rate (one receiver's bytes over that time,
GB/s), the heal's gap (the longest any survivor went from its last step in the old membership to its first
step with the joiner) and its stall beyond one step (gap − the run's median step), beside the issue's bound for
that stall (the copy plus one step). Then p50/p99 over the events, the final test accuracy beside a failure-free run of the same cluster file
and seed (`--baseline`), and whether the final workers' weights are identical. The cluster file has no
`checkpoint:` section, so no checkpoint can be written or read; the run is also checked for a resume.

Output: one JSON line per event and one summary line on stdout (also in OUT/chaos.jsonl), then a table.

usage: scripts/chaos.py [--kills 5] [--workers 3] [--epochs 1 | --steps N] [--signals kill,stop] [--seed 1]
                        [--baseline] [--deterministic] [--tiny] [--out DIR] [--binary .build/release/cohort]
                        [--pipeline-stages K --micro-batches M]
With --deterministic (elastic.deterministic) and --baseline, the final weights must equal the failure-free run's
bit for bit, or the script exits 1.
"""
import argparse, glob, json, os, random, signal, subprocess, sys, tempfile, time

def cluster_yaml(a, d, metrics, kills):
    if a.tiny:  # a small generated data set and model: a whole run takes seconds (the end-to-end test)
        job = f"""  model: {{layers: [16, 24, 4], activation: relu, init: he_normal}}
  optimizer: {{name: momentum, lr: 0.05, momentum: 0.9}}
  data: {{dataset: synthetic, max_train_examples: 512, max_test_examples: 128}}
  batch_size: {16 * a.workers}
"""
    else:
        job = f"""  workload: {a.workload}
  data: {{dataset: fashion-mnist, path: {a.data}, synthetic_fallback: false}}
  batch_size: 128
"""
    length = f"  steps: {a.steps}\n" if a.steps else f"  epochs: {a.epochs}\n"
    bitwise = ", deterministic: true" if a.deterministic else ""
    k = a.pipeline_stages
    # A grid drops and regains a whole replica per event, each of its K starts counting; max_workers is the
    # workers the hosts run, and a pipeline must leave it out.
    bound = f"min_workers: {k}" if k > 1 else f"min_workers: 1, max_workers: {a.workers}"
    elastic = f"elastic: {{{bound}, restart: {{max_restarts: {max(kills * k, 1)}, backoff_s: {a.backoff}}}{bitwise}}}\n"
    grid = f"pipeline_stages: {k}, micro_batches: {a.micro_batches}" if k > 1 else f"data_parallel: {a.workers}"
    return f"""cluster:
  coordinator: {{host: 127.0.0.1, port: 5555}}
  interface: 127.0.0.1
hosts:
  - {{address: 127.0.0.1, workers: {a.workers}}}
job:
{job}{length}  seed: {a.seed}
parallelism: {{{grid}}}
timeouts: {{heartbeat_interval_s: {a.heartbeat}, peer_deadline_s: {a.deadline}, rendezvous_timeout_s: 60}}
output: {{metrics_file: {metrics}}}
{elastic}"""

def workers_of(pid):
    """The launch's worker processes: children of any of its threads (restarts are started from their own)."""
    pids = set()
    for f in glob.glob(f"/proc/{pid}/task/*/children"):
        try:
            pids.update(int(x) for x in open(f).read().split())
        except OSError:
            pass
    return sorted(pids)

def records(path):
    out = []
    try:
        with open(path) as f:
            for line in f:
                if line.endswith("\n"):
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass
    except OSError:
        pass
    return out

class Run:
    """One `cohort launch` with its metrics file, polled while it runs."""

    def __init__(self, a, name, kills):
        self.dir = os.path.join(a.out, name)
        os.makedirs(self.dir, exist_ok=True)
        self.metrics = os.path.join(self.dir, "metrics.jsonl")
        if os.path.exists(self.metrics):
            os.remove(self.metrics)
        cfg = os.path.join(self.dir, "cluster.yaml")
        with open(cfg, "w") as f:
            f.write(cluster_yaml(a, self.dir, self.metrics, kills))
        self.log = open(os.path.join(self.dir, "launch.log"), "w")
        self.p = subprocess.Popen([a.binary, "launch", cfg, "--ephemeral-ports"], stdout=self.log,
                                  stderr=subprocess.STDOUT, env=dict(os.environ, COHORT_SHARED_MEMORY=a.shm))
        self.started = time.monotonic()

    def records(self, event=None):
        return [r for r in records(self.metrics) if event is None or r.get("event") == event]

    def step(self):
        p = self.records("progress")
        return p[-1]["progress"]["step"] if p else None

    def total_steps(self):
        p = self.records("progress")
        return p[-1]["progress"]["totalSteps"] if p else None

    def wait(self, what, timeout):
        """Polls `what()` until it returns something other than None, the launch ends, or `timeout` s pass."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            v = what()
            if v is not None:
                return v
            if self.p.poll() is not None:
                return what()
            time.sleep(0.02)
        return None

    def finish(self, timeout):
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.log.close()
        return open(os.path.join(self.dir, "launch.log")).read()

def membership_after(run, since_ns, pid, joined):
    for r in run.records("membership"):
        m = r["membership"]
        if m["detectedAtNanoseconds"] >= since_ns and bool(m.get("joined")) == joined and (pid is None or m["pid"] == pid):
            return m
    return None

def first_recovery(run, membership):
    """The survivors' recovery records of the first membership at or after `membership` that has any."""
    by = {}
    for r in run.records("recovery"):
        rec = r["recovery"]
        if rec["membership"] >= membership:
            by.setdefault(rec["membership"], []).append(rec)
    return by[min(by)] if by else None

def one_event(run, a, i, sig, rng):
    """Signals one random worker; returns the event's figures once the restarted worker has joined and stepped."""
    pids = workers_of(run.p.pid)
    victim = rng.choice(pids)
    step = run.step()
    t0 = time.monotonic_ns()
    os.kill(victim, signal.SIGKILL if sig == "SIGKILL" else signal.SIGSTOP)
    loss = run.wait(lambda: membership_after(run, t0, victim, False), a.deadline * 3 + 30)
    if sig == "SIGSTOP":  # the hung process, once dropped, is killed as a supervisor would
        os.kill(victim, signal.SIGKILL)
    if loss is None:
        raise RuntimeError(f"event {i}: no membership change after {sig} of pid {victim}")
    rec = run.wait(lambda: first_recovery(run, loss["membership"]), 120)
    join = run.wait(lambda: membership_after(run, loss["detectedAtNanoseconds"], None, True), a.backoff + 120)
    heal = run.wait(lambda: first_recovery(run, join["membership"]), 120) if join else None
    # Recovery is measured on the loss's own membership; when the joiner came first, the survivors' first step was
    # already with it (the record of a later membership), and the recovery includes the join.
    done = lambda rs: max(r["stepDoneAtNanoseconds"] for r in rs)
    det = loss["detectedAtNanoseconds"]
    e = {
        "event": i, "signal": sig, "victim_pid": victim, "victim_rank": loss["lostRank"],
        "step_at_signal": step, "workers": f"{loss['workersBefore']}→{loss['workersAfter']}"
        + (f"→{join['workersAfter']}" if join else ""),
        "reason": loss["reason"], "detection_s": (det - t0) / 1e9,
        "recovery_s": (done(rec) - det) / 1e9 if rec else None,
        "signal_to_next_step_s": (done(rec) - t0) / 1e9 if rec else None,
        "recovered_in_membership": rec[0]["membership"] if rec else None,
        "steps_redone": max(r["stepsRedone"] for r in rec) if rec else None,
        # The furthest step any member (the victim included) had reported before the change, beyond the step the
        # survivors continued from: completed work that was thrown away (reports trail, so this is a lower bound).
        "completed_steps_lost": max(0, loss["step"] - min(r["agreedStep"] for r in rec)) if rec else None,
        "shrink_bytes_copied": max(r["bytesCopied"] for r in rec) if rec else None,
        "restart_s": (join["detectedAtNanoseconds"] - t0) / 1e9 if join else None,
        "heal_s": (done(heal) - join["detectedAtNanoseconds"]) / 1e9 if heal else None,
        "heal_bytes": max(r["bytesCopied"] for r in heal) if heal else None,
        "heal_copy_s": copy_time(heal)[0], "heal_copy_gbytes_per_s": copy_time(heal)[1],
        "heal_steps_redone": max(r["stepsRedone"] for r in heal) if heal else None,
        "heal_gap_s": step_gap(heal),
    }
    return e

def step_gap(rs):
    """A membership change as the survivors live it: the longest time any of them went from the end of its last
    step in the old membership to its first completed step in the new one (None without the records' times)."""
    gaps = [r["stepDoneAtNanoseconds"] - r["lastStepEndNanoseconds"] for r in rs or [] if r.get("lastStepEndNanoseconds")]
    return max(gaps) / 1e9 if gaps else None

def median_step_seconds(run, batch):
    """A step's wall time in this run: the global batch over the median of the progress lines' samples per second."""
    rates = sorted(r["progress"]["samplesPerSecond"] for r in run.records("progress") if r["progress"].get("samplesPerSecond"))
    return batch / rates[len(rates) // 2] if rates else None

def add_stalls(events, step_s):
    """Each heal's stall beyond the step the survivors would have taken anyway (gap − one step), beside the
    issue's bound for it: the state copy plus one step."""
    for e in events:
        ok = e["heal_gap_s"] is not None and step_s is not None
        e["step_s"] = step_s
        e["heal_stall_s"] = e["heal_gap_s"] - step_s if ok else None
        e["heal_stall_bound_s"] = (e["heal_copy_s"] or 0) + step_s if ok else None

def copy_time(rs):
    """The state copy of a membership's recovery records: the slowest rank's seconds, and one receiver's bytes over
    them in GB/s (None, None when nothing was copied)."""
    ts = [r["copySeconds"] for r in rs or [] if r.get("copySeconds")]
    if not ts:
        return None, None
    per_receiver = rs[0]["bytesCopied"] / max(1, rs[0]["worldSize"] - 1)
    return max(ts), per_receiver / max(ts) / 1e9

def full_strength(run, workers):
    """Every worker process is up and the newest membership holds all of them."""
    ms = run.records("membership")
    return len(workers_of(run.p.pid)) == workers and (not ms or ms[-1]["membership"]["workersAfter"] == workers)

def percentile(xs, q):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    k = (len(xs) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)

def chaos(a):
    rng = random.Random(a.seed)
    signals = a.signals.split(",")
    run = Run(a, "chaos", a.kills)
    if run.wait(lambda: run.total_steps(), 180) is None:
        raise SystemExit(f"chaos: training did not start:\n{run.finish(5)}")
    total = run.total_steps()
    # Kills fall in 10–80% of the run; a --tiny run (the tests') keeps them in the first half, so that each later
    # kill still finds the job running after the previous replica's restart, which can take most of a tiny job on a
    # loaded machine (once a full parallel test run ended the job before the second of two kills).
    lo, hi = int(total * 0.1), int(total * (0.5 if a.tiny else 0.8))
    targets = sorted(rng.sample(range(lo, hi), a.kills)) if hi - lo >= a.kills else [lo] * a.kills
    events = []
    for i, target in enumerate(targets):
        # The job is at full strength again (the previous restart joined) and at the random step.
        if run.wait(lambda: True if full_strength(run, a.workers) and (run.step() or 0) >= target else None,
                    3600) is None:
            break
        e = one_event(run, a, i, signals[i % len(signals)], rng)
        e["target_step"] = target
        events.append(e)
        print(json.dumps(e, ensure_ascii=False), flush=True)
    text = run.finish(3600)
    done = run.records("done")
    return run, events, text, (done[-1]["summary"] if done else None)

def baseline(a):
    run = Run(a, "baseline", 0)
    text = run.finish(3600)
    done = run.records("done")
    if run.p.returncode != 0 or not done:
        raise SystemExit(f"chaos: the failure-free run failed ({run.p.returncode}):\n{text}")
    return done[-1]["summary"]

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=".build/release/cohort")
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--workload", default="W1")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--steps", type=int, default=0, help="steps instead of epochs")
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--signals", default="SIGKILL,SIGSTOP", help="cycled over the events")
    ap.add_argument("--seed", type=int, default=1, help="the job's seed and the kills' random choices")
    ap.add_argument("--heartbeat", type=float, default=0.5)
    ap.add_argument("--deadline", type=float, default=5, help="peer_deadline_s")
    ap.add_argument("--backoff", type=float, default=1, help="elastic.restart.backoff_s")
    ap.add_argument("--shm", default="1", help="COHORT_SHARED_MEMORY for the workers")
    ap.add_argument("--baseline", action="store_true", help="also a failure-free run with the same seed")
    ap.add_argument("--tiny", action="store_true", help="a small synthetic job (for the test)")
    ap.add_argument("--deterministic", action="store_true",
                    help="elastic.deterministic: the final weights must equal the failure-free run's bit for bit")
    ap.add_argument("--out", default=None)
    ap.add_argument("--pipeline-stages", type=int, default=1,
                    help="K > 1: a DP × PP grid of WORKERS / K replicas; an event drops and regains a replica")
    ap.add_argument("--micro-batches", type=int, default=4)
    a = ap.parse_args()
    a.signals = ",".join("SIGKILL" if s.upper() in ("KILL", "SIGKILL") else "SIGSTOP" for s in a.signals.split(","))
    a.out = a.out or tempfile.mkdtemp(prefix="cohort-chaos-")
    os.makedirs(a.out, exist_ok=True)
    run, events, text, summary = chaos(a)
    if run.p.returncode != 0 or summary is None:
        raise SystemExit(f"chaos: the chaos run failed ({run.p.returncode}):\n{text}")
    add_stalls(events, median_step_seconds(run, 16 * a.workers if a.tiny else 128))
    base = baseline(a) if a.baseline else None
    keys = ["detection_s", "recovery_s", "signal_to_next_step_s", "steps_redone", "restart_s", "heal_s", "heal_bytes",
            "heal_copy_s", "heal_copy_gbytes_per_s", "heal_gap_s", "heal_stall_s", "heal_stall_bound_s"]
    stats = {k: {"p50": percentile([e[k] for e in events], 50), "p99": percentile([e[k] for e in events], 99)}
             for k in keys}
    sums = summary["weightChecksums"]
    result = {
        "summary": True, "kills": len(events), "signals": a.signals, "workers": a.workers,
        "final_workers": summary["workers"], "steps": summary["steps"], "seed": a.seed,
        "test_accuracy": summary.get("testAccuracy"),
        "baseline_test_accuracy": base.get("testAccuracy") if base else None,
        "weights_identical": len(set(sums)) == 1, "weight_checksums": sums,
        "checkpoint_read": "resum" in text.lower(), "stats": stats, "out": a.out,
    }
    if base:
        result["bitwise_equal_to_baseline"] = sums == base.get("weightChecksums")
    if base and result["test_accuracy"] is not None and result["baseline_test_accuracy"] is not None:
        result["accuracy_delta_pp"] = 100 * (result["test_accuracy"] - result["baseline_test_accuracy"])
    print(json.dumps(result, ensure_ascii=False), flush=True)
    with open(os.path.join(a.out, "chaos.jsonl"), "w") as f:
        for e in events:
            f.write(json.dumps(e, ensure_ascii=False) + "\n")
        f.write(json.dumps(result, ensure_ascii=False) + "\n")
    fmt = lambda v, unit="": "-" if v is None else (f"{v:.3f}{unit}" if isinstance(v, float) else f"{v}{unit}")
    copy_cell = lambda e: "-" if e["heal_copy_s"] is None else \
        f"{1e3 * e['heal_copy_s']:.2f} ms, {e['heal_copy_gbytes_per_s']:.3f} GB/s"
    ms = lambda v: "-" if v is None else f"{1e3 * v:.2f} ms"
    stall_cell = lambda e: "-" if e["heal_stall_s"] is None else f"{ms(e['heal_stall_s'])} (≤ {ms(e['heal_stall_bound_s'])})"
    print(f"\n| event | signal | workers | step | detection | recovery | steps redone | restart | heal | heal bytes | "
          f"heal copy | heal gap | stall beyond a step (≤ copy + step) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for e in events:
        print(f"| {e['event']} | {e['signal']} | {e['workers']} | {e['step_at_signal']} | {fmt(e['detection_s'], ' s')} | "
              f"{fmt(e['recovery_s'], ' s')} | {fmt(e['steps_redone'])} | {fmt(e['restart_s'], ' s')} | "
              f"{fmt(e['heal_s'], ' s')} | {fmt(e['heal_bytes'])} | {copy_cell(e)} | {ms(e['heal_gap_s'])} | "
              f"{stall_cell(e)} |")
    for q in ("p50", "p99"):
        s = {k: stats[k][q] for k in keys}
        whole = lambda v: "-" if v is None else f"{v:.1f}".rstrip("0").rstrip(".")
        print(f"| {q} | | | | {fmt(s['detection_s'], ' s')} | {fmt(s['recovery_s'], ' s')} | {whole(s['steps_redone'])} | "
              f"{fmt(s['restart_s'], ' s')} | {fmt(s['heal_s'], ' s')} | {whole(s['heal_bytes'])} | {copy_cell(s)} | "
              f"{ms(s['heal_gap_s'])} | {stall_cell(s)} |")
    steps = [e["step_s"] for e in events if e.get("step_s")]
    print(f"\nmedian step {ms(steps[0]) if steps else '-'}; joins in which a member abandoned a step it had begun "
          f"(a neighbour had already left): {sum(1 for e in events if (e['heal_steps_redone'] or 0) > 0)} of "
          f"{sum(1 for e in events if e['heal_s'] is not None)}")
    acc = lambda v: "-" if v is None else f"{100 * v:.2f}%"
    print(f"\nfinal test accuracy {acc(result['test_accuracy'])} with {len(events)} kills, "
          f"{acc(result['baseline_test_accuracy'])} failure-free (seed {a.seed}); {summary['workers']} final workers, "
          f"weights {'identical' if result['weights_identical'] else 'DIFFER'}; checkpoint read: "
          f"{'yes' if result['checkpoint_read'] else 'no (none configured)'}")
    timeline = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plot_chaos_timeline.py")
    drawn = subprocess.run([sys.executable, timeline, run.metrics, "--out", os.path.join(a.out, "timeline.png")],
                           capture_output=True, text=True)
    print(f"timeline: {drawn.stdout.strip()}" if drawn.returncode == 0 else
          f"timeline: not drawn ({(drawn.stderr.strip().splitlines() or ['?'])[-1]})")
    if base:
        print(f"final weights {'bitwise equal to' if result['bitwise_equal_to_baseline'] else 'differ from'} the "
              f"failure-free run's{' (elastic.deterministic)' if a.deterministic else ''}")
    if len(events) != a.kills or not result["weights_identical"] or result["checkpoint_read"] or (
            a.deterministic and base and not result["bitwise_equal_to_baseline"]):
        sys.exit(1)

if __name__ == "__main__":
    main()
