#!/usr/bin/env python3
"""openTSNE (and umap-learn, when it is installed) on the very representations
`univa bench-projection --write DIR` mapped, in the same minutes, for the time ratios; and
scikit-learn's trustworthiness of the maps univa wrote, to cross-check univa's own figures. Usage:

    univa bench-projection --write DIR          # an optimised build
    python3 benches/projection_opentsne.py DIR  # needs: pip install openTSNE scikit-learn [umap-learn]

openTSNE runs with its defaults (PCA to 50 first as univa does, FFT-accelerated gradients,
approximate neighbours, 750 iterations) on 2 threads, the cores univa's target assumes.
umap-learn runs seeded (which makes it single-threaded, as univa's seeded UMAP is) after a small
warm-up fit, so its time leaves out numba's one-off compilation.
"""
import sys
import time

import numpy as np


def knn_agreement(y, classes, k=10):
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k + 1).fit(y)
    _, idx = nn.kneighbors(y)
    return float(np.mean(classes[idx[:, 1:]] == classes[:, None]))


def read_map(path):
    return np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64)


def main():
    d = sys.argv[1]
    jobs = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    x = np.load(f"{d}/representations.npy")
    classes = np.loadtxt(f"{d}/classes.csv", delimiter=",", skiprows=1, dtype=np.int64)
    subset = np.loadtxt(f"{d}/subset.txt", dtype=np.int64)
    from openTSNE import TSNE
    from sklearn.decomposition import PCA
    from sklearn.manifold import trustworthiness

    print(f"{x.shape[0]} points, d = {x.shape[1]}")
    start = time.perf_counter()
    reduced = PCA(n_components=50, random_state=1111).fit_transform(x)
    y = np.asarray(TSNE(n_jobs=jobs, random_state=1111).fit(reduced))
    took = time.perf_counter() - start
    print(f"openTSNE, all points ({jobs} threads, with PCA): {took:.2f} s")
    maps = [("openTSNE of all points, at the subset", y[subset])]
    try:
        import umap
    except ImportError:
        print("umap-learn is not installed: skipped")
    else:
        umap.UMAP(random_state=1111).fit_transform(reduced[:500])
        start = time.perf_counter()
        reduced = PCA(n_components=50, random_state=1111).fit_transform(x)
        u = umap.UMAP(random_state=1111).fit_transform(reduced)
        took = time.perf_counter() - start
        print(f"umap-learn {umap.__version__}, all points (seeded, with PCA): {took:.2f} s")
        maps.append(("umap-learn of all points, at the subset", u[subset]))
    xs = x[subset]
    print(f"quality on the {len(subset)}-point subset (k = 10):")
    print(f"  {'map':<40} {'modality':>9} {'label':>9} {'trust':>9}")
    for name, file in [
        ("univa exact t-SNE of the subset", "subset_tsne.csv"),
        ("univa UMAP of the subset", "subset_umap.csv"),
    ]:
        maps.append((name, read_map(f"{d}/{file}")))
    maps.append(("univa UMAP of all points, at the subset", read_map(f"{d}/umap.csv")[subset]))
    for name, m in maps:
        mod = knn_agreement(m, classes[subset, 0])
        lab = knn_agreement(m, classes[subset, 1])
        tr = trustworthiness(xs, m, n_neighbors=10)
        print(f"  {name:<40} {mod:>9.4f} {lab:>9.4f} {tr:>9.4f}   (sklearn)")


if __name__ == "__main__":
    main()
