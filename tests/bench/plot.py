"""Draw build/bench/benchmarks.png from the runner's summary.json.

One panel per scenario, one bar per server, each bar the server's median as
a multiple of the raw C server's measured in the same run, oriented so that
higher is always better (for latency and memory the inverse ratio); each
bar is labelled with its absolute figure and unit. Absolute numbers drift
between runs on shared machines; ratios within one run do not. The ZeroMQ
peers (libzmq's C loop, pyzmq's Python one) speak their own protocol and
are drawn hatched. The title names the command and the commit measured.

Usage: python3 plot.py summary.json out.png
Exit status 3 (one line on stderr) when matplotlib is not installed.
"""

import json
import sys

try:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
except ImportError:
    print("plot.py: matplotlib is not installed (make deps-bench)", file=sys.stderr)
    sys.exit(3)

#: What a bar measures, per kind of scenario: (axis label, lower is better).
AXIS = {
    "pingpong": "raw C p50 latency ÷ this p50 (×)",
    "idle": "raw C bytes per idle connection ÷ these (×)",
    "connect": "connections/s ÷ raw C connections/s (×)",
}
THROUGHPUT_AXIS = "messages/s ÷ raw C messages/s (×)"
ZMQ_SERVERS = ("zmq", "pyzmq")


def human(x: float) -> str:
    """3 significant digits with a k/M suffix, as the tables print them."""
    a = abs(x)
    if a >= 1e6:
        return f"{x / 1e6:.3g}M"
    if a >= 1e4:
        return f"{x / 1e3:.3g}k"
    if a >= 100:
        return f"{x:.0f}"
    return f"{x:.3g}"


def axis_label(scenario: str) -> str:
    for prefix, label in AXIS.items():
        if scenario.startswith(prefix):
            return label
    return THROUGHPUT_AXIS


def title(run: dict) -> str:
    if not run:
        return "netsys benchmark harness"
    line = f"{run.get('command', '?')} at commit {run.get('commit', '?')}, {run.get('started_utc', '')}"
    if run.get("mode") != "full":
        line += f" ({run.get('mode')} run: mechanics, not figures)"
    return line


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: plot.py summary.json out.png", file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        summary = json.load(f)
    # An older runner wrote the cells alone.
    run, cells = (summary.get("run", {}), summary["cells"]) if isinstance(summary, dict) else ({}, summary)
    scenarios = []
    for c in cells:
        if c.get("ratio_to_rawc") and c["scenario"] not in scenarios:
            scenarios.append(c["scenario"])
    servers = []
    for c in cells:
        if c["label"] not in servers and not c.get("not_measured"):
            servers.append(c["label"])
    if not scenarios:
        print("plot.py: no figure with a ratio to the raw C server: nothing to draw", file=sys.stderr)
        return 1
    cols = 3
    rows = (len(scenarios) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6.2 * cols, 3.9 * rows), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, sc in enumerate(scenarios):
        ax = axes[i // cols][i % cols]
        names, values, tints, hatches, notes = [], [], [], [], []
        for j, label in enumerate(servers):
            cell = next((c for c in cells if c["scenario"] == sc and c["label"] == label), None)
            if not cell or cell.get("not_measured") or not cell.get("ratio_to_rawc"):
                continue
            r = cell["ratio_to_rawc"]
            zmq = cell["server"] in ZMQ_SERVERS
            names.append(label + (" [ZMTP]" if zmq else ""))
            values.append(1 / r if cell["lower_is_better"] else r)
            tints.append(colors[j % len(colors)])
            hatches.append("///" if zmq else "")
            notes.append(f" {values[-1]:.2f}x  ({human(cell['median'])} {cell['unit']})")
        y = list(range(len(names)))[::-1]  # first server on top
        bars = ax.barh(y, values, color=tints, edgecolor="black", linewidth=0.4)
        for bar, hatch in zip(bars, hatches):
            bar.set_hatch(hatch)
        ax.set_yticks(y, names)
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_title(sc, fontsize=10)
        ax.set_xlabel(axis_label(sc) + ", higher is better", fontsize=8)
        ax.set_ylabel("server", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.set_xlim(0, max(values + [1.0]) * 1.55)  # room for the labels
        for yy, v, note in zip(y, values, notes):
            ax.text(v, yy, note, va="center", fontsize=7)
    for k in range(len(scenarios), rows * cols):
        axes[k // cols][k % cols].axis("off")
    fig.suptitle(title(run) + "\nEach bar: a server's median relative to the raw C epoll server in the same run "
                 "(1.0 = raw C; latency and memory inverted); [ZMTP]: ZeroMQ's own protocol, not netsys's",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=90)
    return 0


if __name__ == "__main__":
    sys.exit(main())
