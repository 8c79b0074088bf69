#!/usr/bin/env python3
"""The 50,000-point embedding pair as a PDF: `univa figure embedding` against matplotlib.

Writes two map CSVs (`id,modality,x,y`, what `univa project` writes) of N points each, then
times, in the same minutes on the same points:

  univa   `univa figure embedding --map a.csv --map b.csv --out pair.pdf` (the whole process:
          CSV parsing, layout, the raster layer at 300 DPI, PDF with the font embedded)
  mpl     matplotlib: the same CSVs read with numpy, two scatter panels coloured by modality
          with `rasterized=True`, `savefig(..., dpi=300)` to PDF

and prints the times (best of --repeat) and file sizes, and their ratios.

    python3 benches/figure_embedding.py --univa target/release/univa [--points 50000]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time


def write_map(path, n, seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    modalities = np.array(["text", "vision", "audio"])
    centres = rng.normal(0, 6, size=(30, 2))
    cluster = rng.integers(0, 30, size=n)
    xy = centres[cluster] + rng.normal(0, 1.0, size=(n, 2))
    with open(path, "w") as f:
        f.write("id,modality,x,y\n")
        for i in range(n):
            f.write(f"u{i // 3},{modalities[i % 3]},{xy[i, 0]:.6f},{xy[i, 1]:.6f}\n")


def matplotlib_pair(maps, out, width_mm, height_mm, dpi):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    colours = {"text": "#0072B2", "vision": "#E69F00", "audio": "#1a1a1a"}
    markers = {"text": "o", "vision": "s", "audio": "^"}
    fig, axes = plt.subplots(1, 2, figsize=(width_mm / 25.4, height_mm / 25.4))
    for ax, path in zip(axes, maps):
        data = np.genfromtxt(path, delimiter=",", skip_header=1, dtype=None, encoding="utf-8",
                             names=("id", "modality", "x", "y"))
        for m in ("text", "vision", "audio"):
            sel = data["modality"] == m
            ax.scatter(data["x"][sel], data["y"][sel], s=0.6, c=colours[m], marker=markers[m],
                       alpha=0.8, linewidths=0, rasterized=True, label=m.capitalize())
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(os.path.splitext(os.path.basename(path))[0], fontsize=8.5)
    axes[0].legend(loc="lower center", bbox_to_anchor=(1.05, -0.15), ncol=3, fontsize=7.5, frameon=False)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)


def best_of(repeat, f):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--univa", default="target/release/univa")
    parser.add_argument("--points", type=int, default=50_000, help="points per map")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dpi", type=int, default=300)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        maps = [os.path.join(tmp, "with VA-CL.csv"), os.path.join(tmp, "without VA-CL.csv")]
        for seed, path in enumerate(maps):
            write_map(path, args.points, seed)
        ours = os.path.join(tmp, "univa.pdf")
        theirs = os.path.join(tmp, "matplotlib.pdf")
        command = [args.univa, "figure", "embedding", "--map", maps[0], "--map", maps[1],
                   "--dpi", str(args.dpi), "--out", ours]

        def run_univa():
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "UNIVA_AUDIO": "off"})

        t_univa = best_of(args.repeat, run_univa)
        t_mpl = best_of(args.repeat, lambda: matplotlib_pair(maps, theirs, 180, 90, args.dpi))
        s_univa, s_mpl = os.path.getsize(ours), os.path.getsize(theirs)
        print(f"points per map        {args.points:,} (pair: {2 * args.points:,}), {args.dpi} DPI raster layer")
        print(f"univa figure          {t_univa:.3f} s   {s_univa / 1e6:.2f} MB")
        print(f"matplotlib savefig    {t_mpl:.3f} s   {s_mpl / 1e6:.2f} MB")
        print(f"ratio univa/mpl       time {t_univa / t_mpl:.2f}×   size {s_univa / s_mpl:.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
