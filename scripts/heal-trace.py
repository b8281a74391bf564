#!/usr/bin/env python3
"""Takes an elastic join apart across processes (issue 14): reads the `HEALTRACE pid ns stage` lines that workers and
the coordinator write with COHORT_TRACE_HEAL=1 (e.g. in a chaos run's OUT/chaos/launch.log) and prints, for each
admission, every stage of every process in the next WINDOW ms, as milliseconds after the coordinator's `admit`.

usage: COHORT_TRACE_HEAL=1 python3 scripts/chaos.py ... --out DIR
       python3 scripts/heal-trace.py DIR/chaos/launch.log [--joins N] [--window-ms 15]
"""
import argparse

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("--joins", type=int, default=3)
    ap.add_argument("--window-ms", type=float, default=15)
    a = ap.parse_args()
    rows = []
    with open(a.log, errors="replace") as f:
        for line in f:
            parts = line.split(maxsplit=3)
            if len(parts) == 4 and parts[0] == "HEALTRACE" and parts[2].isdigit():
                rows.append((int(parts[2]), parts[1], parts[3].strip()))
    rows.sort()
    admits = [r for r in rows if r[2] == "admit"]
    for admit in admits[:a.joins]:
        print(f"--- admission at {admit[0]} ns")
        end = admit[0] + a.window_ms * 1e6
        for t, pid, stage in rows:
            if admit[0] <= t <= end:
                print(f"{(t - admit[0]) / 1e6:8.3f} ms  pid {pid:>7}  {stage}")

if __name__ == "__main__":
    main()
