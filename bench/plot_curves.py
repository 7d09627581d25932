#!/usr/bin/env python3
"""Draws bench/results/curves.json (written by bench/curves) into PNGs.

usage: bench/plot_curves.py [--in bench/results/curves.json] [--out docs/img]

Writes curve_throughput_partitions.png, curve_query_p99_rows.png,
curve_rss_rows.png and curve_failover_state.png (a curve missing from the
JSON is skipped with a message). Needs matplotlib: Debian's
python3-matplotlib, which the script installs with apt-get when it is missing
(as bench/run installs its tools).
"""

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


SYSTEM_PYTHON = "/usr/bin/python3"


def system_python_has_matplotlib():
    return (os.path.realpath(sys.executable) != os.path.realpath(SYSTEM_PYTHON)
            and os.access(SYSTEM_PYTHON, os.X_OK)
            and subprocess.run([SYSTEM_PYTHON, "-c", "import matplotlib"],
                               capture_output=True).returncode == 0)


def import_matplotlib():
    """matplotlib from this interpreter, else Debian's (re-running this
    script under /usr/bin/python3, e.g. when python3 is a pyenv shim), else
    installs python3-matplotlib with apt-get first."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        if not system_python_has_matplotlib():
            print("plot_curves: installing python3-matplotlib", file=sys.stderr)
            sudo = [] if os.geteuid() == 0 else ["sudo"]
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True, env=env)
            subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                                   "python3-matplotlib"], check=True, env=env)
        if os.path.realpath(sys.executable) != os.path.realpath(SYSTEM_PYTHON):
            os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON] + sys.argv)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def footer(doc, curve):
    """When and how loaded: the curve's own run when recorded, else the file's."""
    m = doc.get("machine", {})
    return "%s, commit %s, %s cores, load average %s" % (
        curve.get("when", doc.get("when", "?")), curve.get("commit", doc.get("commit", "?")), m.get("cores", "?"),
        curve.get("load_average_before", m.get("load_average_before", "?")))


def save(plt, fig, doc, curve, path):
    fig.text(0.99, 0.01, footer(doc, curve), ha="right", va="bottom", fontsize=7, color="gray")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print("plot_curves: wrote %s" % os.path.relpath(path, ROOT))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--in", dest="src", default=os.path.join(ROOT, "bench", "results", "curves.json"))
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "img"))
    args = ap.parse_args()
    try:
        with open(args.src) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        print("plot_curves: cannot read %s: %s (run bench/curves first)" % (args.src, e),
              file=sys.stderr)
        return 2
    plt = import_matplotlib()
    os.makedirs(args.out, exist_ok=True)

    tp = doc.get("throughput_vs_partitions")
    if tp and tp.get("points"):
        pts = tp["points"]
        x = [p["partitions"] for p in pts]
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(x, [p["steady_events_per_s"] for p in pts], "o-", label="steady (first -> last output)")
        ax.plot(x, [p["events_per_s"] for p in pts], "s--", label="spawn -> last output")
        ax.plot(x, [p["events_per_cpu_s"] for p in pts], "^:", label="per CPU-second of the worker")
        ax.set_xscale("log", base=2)
        ax.set_xticks(x)
        ax.set_xticklabels([str(v) for v in x])
        ax.set_ylim(bottom=0)
        ax.set_xlabel("partitions owned by one worker process")
        ax.set_ylabel("events/s")
        ax.set_title("Simple-signal worker throughput vs partitions (%d events)" % tp["events"])
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        save(plt, fig, doc, tp, os.path.join(args.out, "curve_throughput_partitions.png"))
    else:
        print("plot_curves: no throughput curve in %s" % args.src, file=sys.stderr)

    q = doc.get("query_vs_rows")
    if q and q.get("points"):
        pts = q["points"]
        x = [p["rows"] for p in pts]
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(x, [p["p99_ms"] for p in pts], "o-", color="tab:red", label="p99 latency (ms)")
        ax.set_xscale("log")
        ax.set_ylim(bottom=0)
        ax.set_xlabel("signals stored")
        ax.set_ylabel("p99 ms", color="tab:red")
        ax2 = ax.twinx()
        ax2.plot(x, [p["qps"] for p in pts], "s--", color="tab:blue", label="QPS")
        ax2.set_ylim(bottom=0)
        ax2.set_ylabel("queries/s", color="tab:blue")
        ax.set_title("Last-100-signals query vs stored rows (wrk -c%d)" % q["connections"])
        ax.grid(True, alpha=0.3)
        lines = ax.get_lines() + ax2.get_lines()
        ax.legend(lines, [ln.get_label() for ln in lines], fontsize=8, loc="lower left")
        save(plt, fig, doc, q, os.path.join(args.out, "curve_query_p99_rows.png"))

        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(x, [p["rss_mb_after_open"] for p in pts], "o-", label="serve RSS after opening the store")
        ax.plot(x, [p["rss_mb_after_queries"] for p in pts], "s-", label="serve RSS after the queries")
        ax.plot(x, [p["sst_bytes"] / 1048576.0 for p in pts], "^:", label="table files on disk")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("signals stored")
        ax.set_ylabel("MB")
        ax.set_title("Query service memory vs stored rows")
        for p in pts:
            ax.annotate("%.1f MB/M" % p["rss_mb_per_million_rows"], (p["rows"], p["rss_mb_after_queries"]),
                        textcoords="offset points", xytext=(0, 6), ha="center", fontsize=7)
        ax.grid(True, alpha=0.3, which="both")
        ax.legend(fontsize=8)
        save(plt, fig, doc, q, os.path.join(args.out, "curve_rss_rows.png"))
    else:
        print("plot_curves: no query curve in %s" % args.src, file=sys.stderr)

    fo = doc.get("failover_vs_state")
    if fo and fo.get("points"):
        pts = fo["points"]
        x = [p["users"] for p in pts]
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(x, [p["first_output_ms"]["p50"] for p in pts], "o-", label="kill -9 -> first output, p50")
        ax.plot(x, [p["first_output_ms"]["max"] for p in pts], "s--", label="kill -9 -> first output, max")
        ax.plot(x, [p["detection_ms"]["p50"] for p in pts], "^:", label="detection, p50")
        ax.set_xscale("log")
        ax.set_ylim(bottom=0)
        ax.set_xlabel("users in the segment's state")
        ax.set_ylabel("ms")
        ax.set_title("Stateful failover (UserSegment, warm standby) vs state size")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        save(plt, fig, doc, fo, os.path.join(args.out, "curve_failover_state.png"))
    else:
        print("plot_curves: no failover curve in %s" % args.src, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
