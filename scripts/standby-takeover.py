#!/usr/bin/env python3
"""Standby coordinator takeover (issue 14): a coordinator, its standby and 2 workers, all hand-started processes;
the coordinator is SIGKILLed mid-job, ROUNDS times. Per round: when the first and the last worker reported to the
standby (detection), when the standby took over, and whether the job then finished with identical weights.

  scripts/standby-takeover.py [--binary .build/release/cohort] [--rounds 5] [--deadline 1.0] [--heartbeat 0.2] [--steps 4000]

The defaults of a cluster file are --heartbeat 0.5 --deadline 5.
"""
import argparse, json, os, re, signal, socket, statistics, subprocess, sys, tempfile, threading, time

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

class Proc:
    """A child whose output lines are kept with the monotonic time each arrived."""
    def __init__(self, args, env=None):
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.lines = []
        threading.Thread(target=self._read, daemon=True).start()
    def _read(self):
        for line in self.p.stdout: self.lines.append((time.monotonic(), line.rstrip()))
    def first(self, pattern):
        return next(((t, l) for t, l in list(self.lines) if re.search(pattern, l)), None)
    def wait_for(self, pattern, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            hit = self.first(pattern)
            if hit: return hit
            time.sleep(0.01)
        return None

def one_round(binary, deadline, heartbeat, steps, work):
    token = os.path.join(work, "token")
    with open(token, "w") as f: f.write("standby-takeover-job-token-0123456789\n")
    os.chmod(token, 0o600)
    cfg = os.path.join(work, "cluster.yaml")
    with open(cfg, "w") as f: f.write(f"""cluster:
  coordinator: {{host: 127.0.0.1, port: 5555, standby: {{host: 127.0.0.1, port: {free_port()}}}}}
  interface: 127.0.0.1
  security: {{token_file: {token}}}
hosts:
  - {{address: 127.0.0.1, workers: 2}}
job:
  model: {{layers: [16, 24, 4], activation: relu, init: he_normal}}
  optimizer: {{name: momentum, lr: 0.05, momentum: 0.9}}
  data: {{dataset: synthetic, max_train_examples: 512, max_test_examples: 128}}
  batch_size: 32
  steps: {steps}
  seed: 7
parallelism: {{data_parallel: 2}}
timeouts: {{heartbeat_interval_s: {heartbeat}, peer_deadline_s: {deadline}, rendezvous_timeout_s: 20}}
""")
    standby = Proc([binary, "coordinator", "--config", cfg, "--standby"])
    coordinator = Proc([binary, "coordinator", "--config", cfg, "--ephemeral-ports"])
    listening = coordinator.wait_for(r"tcp://127\.0\.0\.1:\d+", 20)
    endpoint = re.search(r"tcp://127\.0\.0\.1:\d+", listening[1]).group(0)
    env = dict(os.environ, COHORT_DEBUG_SLOW_RANK="0:100")
    workers = [Proc([binary, "worker", "--coordinator", endpoint, "--host", "127.0.0.1", "--local-index", str(i),
                     "--data-port", "0", "--token-file", token, "--rendezvous-timeout", "30"], env) for i in range(2)]
    coordinator.wait_for(r"all 2 workers assigned", 30)
    time.sleep(1.0)
    killed = time.monotonic()
    coordinator.p.send_signal(signal.SIGKILL)
    reports = [w.wait_for(r"reporting to the standby coordinator", deadline + 10) for w in workers]
    took = standby.wait_for(r"took over membership", deadline + 10)
    status = standby.p.wait(timeout=120)
    for w in workers: w.p.wait(timeout=20)
    done = standby.first(r"weights: identical on all workers") is not None
    if None in reports or took is None:
        return {"ok": False, "standby": [l for _, l in standby.lines][-5:]}
    return {"ok": status == 0 and done, "first_report_s": min(t for t, _ in reports) - killed,
            "last_report_s": max(t for t, _ in reports) - killed, "takeover_s": took[0] - killed,
            "takeover_after_last_report_s": took[0] - max(t for t, _ in reports), "identical_weights": done}

def main():
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--binary", default=".build/release/cohort")
    a.add_argument("--rounds", type=int, default=5)
    a.add_argument("--deadline", type=float, default=1.0)
    a.add_argument("--heartbeat", type=float, default=0.2)
    a.add_argument("--steps", type=int, default=4000)
    o = a.parse_args()
    rows = []
    for r in range(o.rounds):
        with tempfile.TemporaryDirectory() as work:
            row = one_round(os.path.abspath(o.binary), o.deadline, o.heartbeat, o.steps, work)
        row["round"] = r
        print(json.dumps(row), flush=True)
        rows.append(row)
    good = [r for r in rows if r["ok"]]
    if good:
        med = lambda k: statistics.median(r[k] for r in good)
        print(f"{len(good)} of {len(rows)} rounds finished under the standby with identical weights; medians: "
              f"first worker reported {med('first_report_s'):.3f} s after the kill, last {med('last_report_s'):.3f} s, "
              f"standby took over {med('takeover_s'):.3f} s after the kill ({med('takeover_after_last_report_s') * 1e3:.1f} ms "
              f"after the last report); peer_deadline_s {o.deadline}, heartbeat_interval_s {o.heartbeat}")
    sys.exit(0 if len(good) == len(rows) else 1)

if __name__ == "__main__":
    main()
