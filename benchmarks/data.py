"""Loading a folder of photos at scale: time to first batch, decoding and cached epochs, memory.

    python benchmarks/data.py                              # 2,000 and 6,000 JPEGs, 64 and 224 px
    python benchmarks/data.py --images 2000 23000 --sizes 64 224 --json
    python benchmarks/data.py --images 2000 23000 --first-epoch-only --skip-first-epoch-0

Generates (once, in parallel, cached under /tmp/tc_bench_jpegs) a folder of JPEGs in two
classes with sides of 300-500 px at quality 85-92, then for each image count and size, each in
a fresh process so that its peak memory is its own:

- single-core reference: Pillow decode + convert("RGB") + bilinear resize, images/s on one core
  (with --first-epoch-only: also the same loop in one process per core, before and after the
  2-worker epoch, for a reference taken at the same moment on shared cores)
- first epoch: ImageFolder (lazy) + DataLoader(batch_size=32, shuffle) with 0 and 2 workers:
  time to first batch (from listing the folder) and images/s of the whole epoch
- cache build: images/s of ImageFolder(cache=...) decoding into the cache (all cores)
- cached epoch: images/s reading the cache with 2 workers (and 0)
- training process: ImageFolder + DataLoader (2 workers) + statistics from ~1,000 images +
  ten article_cnn training steps, then the rest of the epoch's batches: its peak memory
- peak memory: the largest sum of RSS (and of PSS, which counts shared pages once) over the
  process and its workers, sampled every 20 ms (PSS every 200 ms)
- CPU seconds of the whole run (the process and its joined workers), so that images per
  CPU-second can be compared with Pillow's own on a machine whose cores are shared

Results go to docs/benchmarks.md (the data section); report the machine's load average with
them, since the cores may be shared.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

ROOT = "/tmp/tc_bench_jpegs"


# --------------------------------------------------------------------------- the photos


def _make_chunk(args):
    from PIL import Image  # noqa: PLC0415

    folder, start, stop = args
    for i in range(start, stop):
        label = "cat" if i % 2 == 0 else "dog"
        rng = np.random.default_rng(i)
        h, w = (int(v) for v in rng.integers(300, 501, 2))
        # a photo-like image: smooth colour fields (upsampled noise) plus fine grain
        coarse = rng.integers(0, 256, (h // 40 + 2, w // 40 + 2, 3)).astype(np.uint8)
        img = Image.fromarray(coarse).resize((w, h), Image.BICUBIC)
        grain = rng.normal(0, 12, (h, w, 3))
        arr = np.clip(np.asarray(img, np.float32) + grain, 0, 255).astype(np.uint8)
        path = os.path.join(folder, label, f"{label}.{i}.jpg")
        Image.fromarray(arr).save(path, quality=int(rng.integers(85, 93)))


def photos(n: int) -> str:
    """A folder with n JPEGs (the first n of the largest generated set), made once."""
    full = os.path.join(ROOT, "all")
    for label in ("cat", "dog"):
        os.makedirs(os.path.join(full, label), exist_ok=True)
    have = sum(len(os.listdir(os.path.join(full, c))) for c in ("cat", "dog"))
    if have < n:
        step = 100
        tasks = [(full, s, min(s + step, n)) for s in range(have, n, step)]
        t = time.perf_counter()
        with ProcessPoolExecutor(os.cpu_count()) as ex:
            list(ex.map(_make_chunk, tasks))
        print(f"generated {n - have} JPEGs in {time.perf_counter() - t:.0f}s", file=sys.stderr)
    folder = os.path.join(ROOT, f"n{n}")
    if not os.path.isdir(folder):
        for label in ("cat", "dog"):
            os.makedirs(os.path.join(folder, label))
        for i in range(n):  # hard links: no copies
            label = "cat" if i % 2 == 0 else "dog"
            name = f"{label}.{i}.jpg"
            os.link(os.path.join(full, label, name), os.path.join(folder, label, name))
    return folder


# --------------------------------------------------------------------------- memory


def _tree(pid):
    out, stack = [], [pid]
    while stack:
        p = stack.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    stack += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def _kb(path, key):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class PeakMemory:
    """Peak of sum(RSS) (sampled every 20 ms) and sum(PSS) (every 200 ms: reading it costs
    ~25 times more CPU) over this process and its descendants."""

    def __init__(self):
        self.rss = self.pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        me = os.getpid()
        tick = 0
        while not self._stop.wait(0.02):
            pids = _tree(me)
            self.rss = max(self.rss, sum(_kb(f"/proc/{p}/status", "VmRSS:") for p in pids))
            if tick % 10 == 0:  # smaps_rollup costs ~0.5 ms of CPU per process: every 200 ms
                self.pss = max(self.pss, sum(_kb(f"/proc/{p}/smaps_rollup", "Pss:")
                                             for p in pids))
            tick += 1

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


# --------------------------------------------------------------------------- one measurement


def reference_rate(folder, size, count=150):
    """Images/s of plain Pillow decode + RGB + bilinear resize on one core: per second of wall
    clock, and per second of CPU time (what a busy machine does not lower as much)."""
    from PIL import Image  # noqa: PLC0415

    files = sorted(os.path.join(folder, "cat", f) for f in os.listdir(os.path.join(folder, "cat")))
    files = files[:count]
    t, cpu = time.perf_counter(), time.process_time()
    for f in files:
        with Image.open(f) as img:
            np.asarray(img.convert("RGB").resize((size, size), Image.BILINEAR))
    return len(files) / (time.perf_counter() - t), len(files) / (time.process_time() - cpu)


def _decode_files(args):
    from PIL import Image  # noqa: PLC0415

    files, size = args
    for f in files:
        with Image.open(f) as img:
            np.asarray(img.convert("RGB").resize((size, size), Image.BILINEAR))
    return len(files)


def parallel_reference_rate(folder, size, count=300):
    """Images/s of the same Pillow loop in one process per core, all at once: what "cores x
    the single-core rate" is at this moment, when the cores are shared (the kernel may give a
    session one share of the CPUs however many processes it runs)."""
    cores = os.cpu_count()
    files = sorted(os.path.join(folder, "dog", f) for f in os.listdir(os.path.join(folder, "dog")))
    files = files[:count]
    with ProcessPoolExecutor(cores) as ex:
        list(ex.map(_decode_files, [(files[:2], size)] * cores))  # start the processes
        t = time.perf_counter()
        done = sum(ex.map(_decode_files, [(files[k::cores], size) for k in range(cores)]))
        return done / (time.perf_counter() - t)


def _cpu_seconds():
    """CPU time of this process and of its children that have been waited for (the workers,
    once the loader has joined them)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def measure(folder, size, mode, workers, cache_dir):
    """Run in a fresh process: one epoch; prints a JSON line."""
    from tinygrad_cnn.data import DataLoader, ImageFolder  # noqa: PLC0415

    result = {"mode": mode, "workers": workers, "size": size}
    cpu0 = _cpu_seconds()
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        if mode == "train":  # the training process: model steps on a full pass of the data
            import tinygrad_cnn as tc  # noqa: PLC0415

            ds = ImageFolder(folder, image_size=size)
            loader = DataLoader(ds, batch_size=32, shuffle=True, seed=0, num_workers=workers,
                                timeout=600)
            model = tc.models.article_cnn(input_shape=(3, size, size), num_classes=2)
            opt = tc.optim.Adam(model.parameters(), lr=1e-3)
            loss_fn = tc.nn.CrossEntropyLoss()
            stats = tc.data.transforms.Normalize.from_data(
                DataLoader(tc.data.Subset(ds, np.arange(0, len(ds), max(1, len(ds) // 1000))),
                           batch_size=32, num_workers=workers, timeout=600))
            n = steps = 0
            for x, y in loader:
                if steps < 10:  # ten optimiser steps, then the rest of the epoch's data
                    xn = (x - tc.tensor(stats.mean[:, None, None])) / tc.tensor(
                        stats.std[:, None, None])
                    loss = loss_fn(model(xn), y)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    steps += 1
                n += len(x)
            result["epoch_s"] = time.perf_counter() - t0
        elif mode == "build":
            ds = ImageFolder(folder, image_size=size, cache=cache_dir)
            result["images_per_s"] = len(ds) / (time.perf_counter() - t0)
        else:
            cache = cache_dir if mode == "cached" else None
            ds = ImageFolder(folder, image_size=size, cache=cache)
            loader = DataLoader(ds, batch_size=32, shuffle=True, seed=0, num_workers=workers,
                                timeout=600)
            n = 0
            for x, _ in loader:
                if n == 0:
                    result["first_batch_s"] = time.perf_counter() - t0
                    t1 = time.perf_counter()
                n += len(x)
            result["images_per_s"] = (n - 32) / (time.perf_counter() - t1)  # after the first
            result["epoch_s"] = time.perf_counter() - t0
        result["images"] = len(ds)
    result["cpu_s"] = _cpu_seconds() - cpu0  # the whole run, workers included
    result["load"] = os.getloadavg()[0]
    result["peak_rss_mb"] = mem.rss / 1024
    result["peak_pss_mb"] = mem.pss / 1024
    print(json.dumps(result))


def _child(*args):
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    out = subprocess.run([sys.executable, __file__, "--_child", *map(str, args)], check=True,
                         capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, nargs="+", default=[2000, 6000])
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 224])
    p.add_argument("--skip-first-epoch-0", action="store_true",
                   help="skip the slow single-process decoding epoch")
    p.add_argument("--first-epoch-only", action="store_true",
                   help="only the first epochs, between two runs of Pillow on all cores")
    p.add_argument("--json", action="store_true")
    p.add_argument("--_child", nargs=5, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args._child:
        folder, size, mode, workers, cache = args._child
        measure(folder, int(size), mode, int(workers), cache)
        return
    rows = []
    cores = os.cpu_count()
    for n in args.images:
        folder = photos(n)
        for size in args.sizes:
            cache = os.path.join(ROOT, "cache")
            ref, ref_cpu = reference_rate(folder, size)
            row = {"images": n, "size": size, "pillow_1core_per_s": ref,
                   "pillow_per_cpu_s": ref_cpu, "load_before": os.getloadavg()[0]}
            if args.first_epoch_only:
                row["pillow_all_cores_per_s"] = [parallel_reference_rate(folder, size)]
            for workers in ([2] if args.skip_first_epoch_0 else [0, 2]):
                r = _child(folder, size, "first", workers, cache)
                row[f"first_epoch_w{workers}"] = r
            row["target_first_epoch_per_s"] = 0.8 * cores * ref
            if args.first_epoch_only:
                row["pillow_all_cores_per_s"].append(parallel_reference_rate(folder, size))
                row["load_after"] = os.getloadavg()[0]
                rows.append(row)
                f2 = row["first_epoch_w2"]
                print(f"{n:>6} images {size:>3} px | Pillow 1 core {ref:.0f}/s, on all cores "
                      f"{row['pillow_all_cores_per_s'][0]:.0f} / "
                      f"{row['pillow_all_cores_per_s'][1]:.0f} (before / after)"
                      f" | first epoch w2 {f2['images_per_s']:.0f}/s"
                      f" | load {row['load_before']:.1f}->{row['load_after']:.1f}", flush=True)
                continue
            for old in glob.glob(os.path.join(cache, f"imagefolder-n{n}-*-{size}x{size}-*")):
                os.remove(old)  # measure a build, not the reuse of an earlier one
            row["build"] = _child(folder, size, "build", 0, cache)
            for workers in (0, 2):
                row[f"cached_w{workers}"] = _child(folder, size, "cached", workers, cache)
            row["train_w2"] = _child(folder, size, "train", 2, cache)
            row["load_after"] = os.getloadavg()[0]
            rows.append(row)
            _print(row)
    if args.json:
        print(json.dumps(rows, indent=1))


def _print(r):
    f0 = r.get("first_epoch_w0", {})
    f2 = r["first_epoch_w2"]
    print(f"{r['images']:>6} images {r['size']:>3} px | "
          f"Pillow 1 core {r['pillow_1core_per_s']:6.0f}/s"
          f" | first epoch w0 {f0.get('images_per_s', float('nan')):6.0f}/s"
          f" w2 {f2['images_per_s']:6.0f}/s (target {r['target_first_epoch_per_s']:.0f})"
          f" | per CPU-s: Pillow {r['pillow_per_cpu_s']:.0f}, w2 epoch"
          f" {f2['images'] / f2['cpu_s']:.0f}"
          f" first batch {f2['first_batch_s']:.2f}s"
          f" | cache build {r['build']['images_per_s']:6.0f}/s"
          f" | cached w0 {r['cached_w0']['images_per_s']:6.0f}/s"
          f" w2 {r['cached_w2']['images_per_s']:6.0f}/s"
          f" | peak RSS w2 {f2['peak_rss_mb']:.0f} MB (PSS {f2['peak_pss_mb']:.0f}),"
          f" cached {r['cached_w2']['peak_rss_mb']:.0f} MB,"
          f" build {r['build']['peak_rss_mb']:.0f} MB"
          f" | training process peak RSS {r['train_w2']['peak_rss_mb']:.0f} MB"
          f" (PSS {r['train_w2']['peak_pss_mb']:.0f})"
          f" | load {r['load_before']:.1f}->{r['load_after']:.1f}", flush=True)


if __name__ == "__main__":
    main()
