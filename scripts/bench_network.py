#!/usr/bin/env python3
"""Where each gradient method wins or loses on a shaped link: every (link rate x method) cell trains across netns
hosts (scripts/netns-cluster.sh: one network and mount namespace per host, a private /dev/shm, tc tbf on each
host's egress) and reports samples/s, the speedup over one worker alone, the compute-only ceiling, the bytes per
step that the transport counted beside the method's formula, and the alpha-beta prediction of the step time.
Each cell runs right after a compute-only ceiling run of its own, over --rounds rounds, and every figure is the
median over the rounds (the per-round fractions and prediction errors are kept in the JSON line).

Run through scripts/bench-network.sh (it needs root). Output: CSV, JSON lines (stdout and a file) and a PNG
crossover chart (speedup against link rate, one line per method) when matplotlib is there.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NETNS = os.path.join(ROOT, "scripts", "netns-cluster.sh")

# method name -> (parallelism YAML fragment, fields for the JSON line)
METHODS = {
    "fp32": ("", {"method": "fp32"}),
    "bf16": ("gradient: {compression: bf16}", {"method": "bf16"}),
    "fp16": ("gradient: {compression: fp16}", {"method": "fp16"}),
    "powersgd-r1": ("gradient: {compression: powersgd, rank: 1}", {"method": "powersgd", "rank": 1}),
    "powersgd-r4": ("gradient: {compression: powersgd, rank: 4}", {"method": "powersgd", "rank": 4}),
    "topk-1pct": ("gradient: {compression: topk, density: 0.01}", {"method": "topk", "density": 0.01}),
    "diloco-h8": ("sync: {every_steps: 8}", {"method": "diloco", "every_steps": 8}),
    "diloco-h32": ("sync: {every_steps: 32}", {"method": "diloco", "every_steps": 32}),
}

RATE_BITS = {"unlimited": None, "10gbit": 10e9, "1gbit": 1e9, "100mbit": 100e6}

# Model shapes of the workloads: (rows, cols) of each Dense weight, and the bias lengths.
WORKLOAD_LAYERS = {"W1": [784, 256, 128, 10], "W2": [784, 1024, 1024, 1024, 10]}


def matrices(workload):
    w = WORKLOAD_LAYERS[workload]
    return [(w[i + 1], w[i]) for i in range(len(w) - 1)], [w[i + 1] for i in range(len(w) - 1)]


def formula_bytes_per_rank(method, workload, ranks, per_host=1):
    """Bytes one rank sends across hosts per step (payload, frame headers left out), from each method's formula.
    With several workers per host the all-reduce is hierarchical: each local rank carries its 1/L shard around the
    ring of H hosts, 2(H-1)/H of it, instead of the flat ring's 2(N-1)/N of the whole buffer. (PowerSGD's small
    all-reduces go by recursive doubling under the small-message threshold, which this formula leaves out.)"""
    mats, biases = matrices(workload)
    params = sum(r * c for r, c in mats) + sum(biases)
    hosts = ranks // per_host
    # share of the buffer an all-reduce sends per rank across hosts
    ring = 2 * (ranks - 1) / ranks if per_host == 1 else 2 * (hosts - 1) / hosts / per_host
    fields = METHODS[method][1]
    if fields["method"] == "fp32":
        return ring * 4 * params
    if fields["method"] in ("bf16", "fp16"):
        return ring * 2 * params
    if fields["method"] == "powersgd":
        r = fields["rank"]
        compressed = sum(r * (n + m) for n, m in mats)
        return ring * 4 * (compressed + sum(biases))
    if fields["method"] == "topk":
        # (index, value) pairs of every rank all-gathered: each rank sends the others' pieces on, (N-1) of them.
        k = sum(-(-int(fields["density"] * n) // 1) for n in [r * c for r, c in mats] + biases)
        return (ranks - 1) * 8 * k
    if fields["method"] == "diloco":
        return ring * 4 * params / fields["every_steps"]
    raise ValueError(method)


def run_cluster(args, hosts, per_host, rate, fragment, steps, coordinator_args=(), epochs=None, dataset=None):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write("job:\n")
        f.write(f"  workload: {args.workload if epochs is None else 'W1'}\n")
        if epochs is None:
            f.write(f"  steps: {steps}\n")
        else:
            f.write(f"  epochs: {epochs}\n")
        f.write("  seed: 1\n")
        if dataset == "fashion-mnist":
            f.write("  data: {dataset: fashion-mnist, synthetic_fallback: true}\n")
        else:
            f.write("  data: {dataset: synthetic, max_train_examples: 20000, max_test_examples: 2000}\n")
        f.write(f"parallelism:\n  data_parallel: {hosts * per_host}\n")
        if fragment:
            f.write(f"  {fragment}\n")
        job = f.name
    cmd = ["bash", NETNS, "--binary", args.binary, "--hosts", str(hosts), "--workers-per-host", str(per_host),
           "--job", job, "--timeout", str(args.timeout), "--json"]
    if rate != "unlimited":
        cmd += ["--rate", rate]
    for a in coordinator_args:
        cmd += ["--coordinator-arg", a]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout + 30)
    finally:
        os.unlink(job)
    if p.returncode != 0:
        tail = "\n".join(p.stderr.strip().splitlines()[-8:])
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{tail}")
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    return json.loads(lines[-1])


def cell_steps(args, rate, period):
    """(steps, warm-up) of one cell: fewer at 100mbit; for local SGD, the warm-up and the timed steps whole
    periods, so the window holds exactly one synchronisation per period."""
    timed = max(8, (args.steps - args.warmup) // (4 if rate == "100mbit" else 1))
    warm = args.warmup
    if period:
        warm = -(-warm // period) * period
        timed = max(1, -(-timed // period)) * period
    return warm + timed, warm


def steady_step(done):
    return done.get("steady_step_s") or done["seconds"] / max(1, done["steps"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build/release/cohort"))
    ap.add_argument("--workload", default="W2", choices=sorted(WORKLOAD_LAYERS))
    ap.add_argument("--rates", default="unlimited,10gbit,1gbit,100mbit")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--shapes", default="2x1", help="hosts x workers per host, comma-separated (e.g. 2x1,2x2)")
    ap.add_argument("--steps", type=int, default=60, help="steps per cell (100mbit cells use a quarter)")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds over all cells; each figure is the median over them (default 3)")
    ap.add_argument("--accuracy-rate", default="", help="also train W1 for --accuracy-epochs at this rate")
    ap.add_argument("--accuracy-epochs", type=int, default=10)
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--out", default=os.path.join(ROOT, "runs", "bench-network"))
    args = ap.parse_args()
    rates = args.rates.split(",")
    methods = args.methods.split(",")
    for r in rates:
        if r not in RATE_BITS:
            ap.error(f"--rates: unknown rate {r} (one of {', '.join(RATE_BITS)})")
    for m in methods:
        if m not in METHODS:
            ap.error(f"--methods: unknown method {m} (one of {', '.join(METHODS)})")
    shapes = []
    for s in args.shapes.split(","):
        h, _, w = s.partition("x")
        if not (h.isdigit() and w.isdigit() and int(h) >= 1 and int(w) >= 1):
            ap.error(f"--shapes: expected HOSTSxWORKERS, got {s}")
        shapes.append((int(h), int(w)))
    if args.rounds < 1:
        ap.error(f"--rounds: expected at least 1, got {args.rounds}")
    os.makedirs(args.out, exist_ok=True)
    warm = [f"--warmup-steps", str(args.warmup)]

    def log(msg):
        print(f"bench-network: {msg}", file=sys.stderr, flush=True)

    rows = []
    for hosts, per_host in shapes:
        rounds = [run_round(args, hosts, per_host, rates, methods, warm, r, log) for r in range(args.rounds)]
        for rate in rates:
            for method in methods:
                cells = [r[(rate, method)] for r in rounds if (rate, method) in r]
                if not cells:
                    continue
                row = median_row(cells)
                if args.accuracy_rate == rate and per_host == 1:
                    log(f"{hosts}x{per_host} {rate} {method}: W1, {args.accuracy_epochs} epochs on Fashion-MNIST")
                    try:
                        acc = run_cluster(args, hosts, per_host, rate, METHODS[method][0], 0, (),
                                          epochs=args.accuracy_epochs, dataset="fashion-mnist")
                        row["test_accuracy"] = acc.get("test_accuracy")
                    except RuntimeError as e:
                        log(str(e))
                print(json.dumps(row), flush=True)
                rows.append(row)
    write_outputs(rows, args)


def steady_sps(done):
    return done.get("steady_samples_per_s") or done["samples_per_s"]


def run_round(args, hosts, per_host, rates, methods, warm, index, log):
    """One round: one worker alone, then every cell right after its own compute-only ceiling run. The ceiling is
    what each fraction divides by, and this machine's speed drifts by several percent within a minute, so each
    cell is paired with a ceiling measured next to it rather than with one taken at the start of the sweep."""
    ranks = hosts * per_host
    tag = f"round {index + 1}/{args.rounds}: " if args.rounds > 1 else ""
    log(f"{tag}{args.workload}: one worker alone")
    single_sps = steady_sps(run_cluster(args, 1, 1, "unlimited", "", args.steps, warm))
    cells = {}
    unlimited_overhead = {}
    for rate in rates:
        for method in methods:
            steps, cell_warm = cell_steps(args, rate, METHODS[method][1].get("every_steps"))
            log(f"{tag}{hosts}x{per_host} {rate} {method} ({steps} steps, {cell_warm} warm-up), after its ceiling")
            try:
                ceiling = run_cluster(args, hosts, per_host, "unlimited", "", args.steps, warm + ["--no-allreduce"])
                done = run_cluster(
                    args, hosts, per_host, rate, METHODS[method][0], steps, ["--warmup-steps", str(cell_warm)])
            except RuntimeError as e:
                log(str(e))
                continue
            ceiling_sps, ceiling_step = steady_sps(ceiling), steady_step(ceiling)
            sps, step = steady_sps(done), steady_step(done)
            formula = formula_bytes_per_rank(method, args.workload, ranks, per_host)
            if rate == "unlimited":
                unlimited_overhead[method] = max(0.0, step - ceiling_step)
            predicted, serial = predicted_step(
                ceiling_step, unlimited_overhead.get(method), formula * per_host, RATE_BITS[rate])
            cells[(rate, method)] = {
                "bench": "network", "rate": rate, **METHODS[method][1], "hosts": hosts,
                "workers_per_host": per_host, "samples_per_s": sps, "ceiling_samples_per_s": ceiling_sps,
                "single_worker_samples_per_s": single_sps, "speedup": sps / single_sps,
                "ceiling_fraction": sps / ceiling_sps, "step_s": step,
                "predicted_step_s": predicted, "predicted_serial_step_s": serial,
                "bytes_per_step": measured_bytes_per_rank(done, ranks),
                "formula_bytes_per_step": formula, "test_accuracy": None, "label": method}
    return cells


def measured_bytes_per_rank(done, ranks):
    """The steady window's own traffic (no start-up broadcast or link set-up), per rank and step."""
    if done.get("steady_socket_bytes") is not None and done.get("steady_steps"):
        return done["steady_socket_bytes"] / done["steady_steps"] / ranks
    return done.get("socket_bytes", 0) / max(1, done["steps"]) / ranks


def predicted_step(ceiling_step, overhead, host_bytes, bits):
    """(predicted, serial) step seconds, or (None, None) without a shaped rate or the method's unshaped overhead.
    alpha-beta: the ceiling's compute, then the method's own cost at an unshaped link (its compression and the
    loopback transfer, measured) overlapped with its bytes through the shaped link (a host's link carries its L
    ranks): the ring pipelines chunks, so the CPU's part and the wire's part run at once and the slower one sets the
    step. The serial sum is kept beside it: it counts the transfer twice (once inside the unshaped overhead), and
    over-predicted bf16 by 18% at 1 Gbit/s."""
    if bits is None or overhead is None:
        return None, None
    wire = 8 * host_bytes / bits
    return ceiling_step + max(overhead, wire), ceiling_step + overhead + wire


MEDIAN_FIELDS = ["samples_per_s", "ceiling_samples_per_s", "single_worker_samples_per_s", "speedup",
                 "ceiling_fraction", "step_s", "predicted_step_s", "predicted_serial_step_s", "bytes_per_step"]


def median_row(cells):
    """One cell over its rounds: each figure the median of its per-round values (a ratio is taken within its round
    first, then the median of the ratios), and the per-round fractions and prediction errors beside it."""
    row = dict(cells[0])
    for f in MEDIAN_FIELDS:
        values = [c[f] for c in cells if c.get(f) is not None]
        row[f] = statistics.median(values) if values else None
    row["rounds"] = len(cells)
    row["ceiling_fraction_rounds"] = [round(c["ceiling_fraction"], 4) for c in cells]
    # (predicted - measured) / measured: the "within 15% of the measured step time".
    errors = [c["predicted_step_s"] / c["step_s"] - 1 for c in cells if c.get("predicted_step_s")]
    row["prediction_error_rounds"] = [round(e, 4) for e in errors] if errors else None
    row["prediction_error"] = statistics.median(errors) if errors else None
    return row


def write_outputs(rows, args):
    with open(os.path.join(args.out, "network.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    cols = ["rate", "label", "hosts", "workers_per_host", "samples_per_s", "ceiling_samples_per_s",
            "single_worker_samples_per_s", "speedup", "ceiling_fraction", "step_s", "predicted_step_s", "predicted_serial_step_s",
            "bytes_per_step", "formula_bytes_per_step", "test_accuracy", "rounds", "prediction_error"]
    with open(os.path.join(args.out, "network.csv"), "w") as f:
        f.write(",".join(cols) + "\n")
        for r in rows:
            f.write(",".join("" if r.get(c) is None else str(r[c]) for c in cols) + "\n")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("bench-network: matplotlib missing (scripts/setup.sh --plots); no chart", file=sys.stderr)
        return
    order = [r for r in ["100mbit", "1gbit", "10gbit", "unlimited"] if any(x["rate"] == r for x in rows)]
    for hosts, per_host in sorted({(r["hosts"], r["workers_per_host"]) for r in rows}):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for label in dict.fromkeys(r["label"] for r in rows):
            pts = {r["rate"]: r["speedup"] for r in rows if r["label"] == label and r["hosts"] == hosts
                   and r["workers_per_host"] == per_host}
            xs = [i for i, rate in enumerate(order) if rate in pts]
            ax.plot(xs, [pts[order[i]] for i in xs], marker="o", label=label)
        ax.axhline(1.0, color="grey", linestyle=":", linewidth=1)
        ax.set_xticks(range(len(order)), order)
        ax.set_xlabel("link rate (tc tbf on each host's egress)")
        ax.set_ylabel("speedup over one worker alone")
        ax.set_title(f"{args.workload}, {hosts} hosts x {per_host} worker(s)")
        ax.legend(fontsize=8)
        path = os.path.join(args.out, f"network-{args.workload}-{hosts}x{per_host}.png")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        print(f"bench-network: wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
