"""Draw build/bench/benchmarks.png from the runner's summary.json.

One panel per scenario, one bar per server, each bar the server's median as
a fraction of the raw C server measured in the same run, oriented so that
higher is always better (for latency and memory the inverse ratio). Absolute
numbers drift between runs on shared machines; ratios within one run do not.

Usage: python3 plot.py summary.json out.png
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: plot.py summary.json out.png", file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        cells = json.load(f)
    scenarios = []
    for c in cells:
        if c.get("ratio_to_rawc") and c["scenario"] not in scenarios:
            scenarios.append(c["scenario"])
    servers = []
    for c in cells:
        if c["label"] not in servers and not c.get("not_measured") and c["server"] != "zmq":
            servers.append(c["label"])
    cols = 3
    rows = (len(scenarios) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.4 * rows), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, sc in enumerate(scenarios):
        ax = axes[i // cols][i % cols]
        names, values, tints = [], [], []
        for j, label in enumerate(servers):
            cell = next((c for c in cells if c["scenario"] == sc and c["label"] == label), None)
            if not cell or cell.get("not_measured") or not cell.get("ratio_to_rawc"):
                continue
            r = cell["ratio_to_rawc"]
            names.append(label)
            values.append(1 / r if cell["lower_is_better"] else r)
            tints.append(colors[j % len(colors)])
        ax.barh(names[::-1], values[::-1], color=tints[::-1])
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_title(sc, fontsize=10)
        ax.tick_params(labelsize=8)
        for y, v in enumerate(values[::-1]):
            ax.text(v, y, f" {v:.2f}", va="center", fontsize=7)
    for k in range(len(scenarios), rows * cols):
        axes[k // cols][k % cols].axis("off")
    fig.suptitle("Performance relative to the raw C epoll server in the same run (higher is better; "
                 "latency and memory inverted)", fontsize=10)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=90)
    return 0


if __name__ == "__main__":
    sys.exit(main())
