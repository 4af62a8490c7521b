"""Quality regression benchmark: the DEFAULT command of every task on fixed images, PSNR per case.

    python benchmarks/bench_quality.py                  # record: every case, both BLAS settings
    python benchmarks/bench_quality.py --cases inpaint-hole-hopper,sr-hopper --blas native
    python benchmarks/bench_quality.py --check          # re-run, compare with the last record
    python benchmarks/bench_quality.py --check --quick  # one case per task
    python benchmarks/bench_quality.py --list           # the cases and their commands

Each case is one ``tinydip <task> ...`` command line exactly as a user would type it (the
task's defaults: iterations, stopping rule, quality setting, seed 0), run in a child process
with ``--report`` and scored from the report (``psnr_output``; ``compress``: the PSNR of the
decoded file). Images: ``hopper`` is the built-in sample at 128x128, ``face`` a 128x128 crop
of the same photo at its native resolution (``benchmarks/bench_denoise.py``'s crop); both are
written as 8-bit PNGs to a temporary folder, so the commands read files like a user's.

BLAS settings (``--blas``): ``haswell`` runs the children with ``OPENBLAS_CORETYPE=Haswell``
(what this machine's environment sets), ``native`` without ``OPENBLAS_CORETYPE`` and
``OPENBLAS_L2_SIZE`` (a user's machine). A DIP fit is chaotic: any change in float rounding
(BLAS kernels, summation order, thread count) moves the trajectory and the final PSNR by a
few tenths of a dB (benchmarks/README.md, *Quality regression benchmark*). So a record keeps
both settings and each case's tolerance is ``max(|PSNR haswell - PSNR native|, MIN_TOL)``:
the spread that rounding alone produced for that case. Threads (``--threads``, default 1,
NUMBA/OpenBLAS/OMP) are fixed for the same reason: the GEMM block split follows them.

A record (appended to ``--out``, strict JSON: ``{"records": [...]}``) holds the date, commit,
whether the tree was clean, threads, per setting the environment variables and
threadpoolctl's BLAS info, and per case and setting the PSNR, iterations and seconds.
``--check`` runs the cases again (by default in the settings of the last record that has them)
and prints a table; the exit status is 1 if any case dropped by more than its tolerance
(2: nothing to compare). ``--check --save`` also appends the new run as a record.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "quality.json"
MIN_TOL = 0.1  # dB: the smallest tolerance, whatever the measured spread
SIZE = 128
FACE = (200, 265)  # centre (row, column) of the face crop in the 600x512 photo (bench_denoise)

# case -> (task, arguments after the subcommand); {hopper} / {face} are PNG paths
CASES: dict[str, tuple[str, list[str]]] = {
    "denoise-hopper": ("denoise", ["--size", str(SIZE)]),  # built-in sample, sigma 25
    "denoise-face": ("denoise", ["{face}", "--add-noise", "25"]),
    "inpaint-text-hopper": ("inpaint", ["{hopper}", "--text"]),
    "inpaint-hole-hopper": ("inpaint", ["{hopper}", "--hole", "0.25"]),
    "inpaint-hole-face": ("inpaint", ["{face}", "--hole", "0.25"]),
    "inpaint-drop-hopper": ("inpaint", ["{hopper}", "--drop", "0.5"]),
    "sr-hopper": ("sr", ["{hopper}", "--factor", "4", "--downsample"]),
    "deblur-hopper": ("deblur", ["--kernel", "gaussian:2", "--add-noise", "5",
                                 "--size", str(SIZE)]),
    "compress-hopper": ("compress", ["{hopper}", "-o", "{tmp}/out.tdd"]),
}
QUICK = ("denoise-hopper", "inpaint-text-hopper", "inpaint-hole-hopper", "inpaint-drop-hopper",
         "sr-hopper", "deblur-hopper", "compress-hopper")

BLAS_SETTINGS = ("haswell", "native")
UNSET = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def child_env(setting: str, threads: int) -> dict[str, str]:
    """The environment of a child run in ``setting`` with ``threads`` threads."""
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    if setting == "haswell":
        env["OPENBLAS_CORETYPE"] = "Haswell"
    elif setting != "native":
        raise ValueError(f"unknown BLAS setting {setting!r}; choose from {BLAS_SETTINGS}")
    for var in ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        env[var] = str(threads)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def blas_info(env: dict[str, str]) -> dict:
    """What the BLAS is in that environment: the variables and threadpoolctl's info."""
    code = ("import json, numpy, threadpoolctl; print(json.dumps([{k: i.get(k) for k in "
            "('internal_api', 'version', 'architecture', 'num_threads', 'threading_layer')} "
            "for i in threadpoolctl.threadpool_info()]))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout
    return {"OPENBLAS_CORETYPE": env.get("OPENBLAS_CORETYPE"),
            "OPENBLAS_L2_SIZE": env.get("OPENBLAS_L2_SIZE"), "threadpool_info": json.loads(out)}


def write_images(folder: Path) -> dict[str, str]:
    """The test images as 8-bit PNGs in ``folder``: {"hopper": path, "face": path}."""
    import matplotlib

    if sys.path[0] != str(ROOT):  # the tinydip of this tree, like the child runs
        sys.path.insert(0, str(ROOT))
    from tinydip.io.images import load_image, sample_image, save_image

    photo = load_image(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg")
    r, c = FACE
    r0 = int(np.clip(r - SIZE // 2, 0, photo.shape[0] - SIZE))
    c0 = int(np.clip(c - SIZE // 2, 0, photo.shape[1] - SIZE))
    images = {"hopper": sample_image(SIZE), "face": photo[r0:r0 + SIZE, c0:c0 + SIZE, :3]}
    return {k: str(save_image(folder / f"{k}.png", v)) for k, v in images.items()}


def command(case: str, paths: dict[str, str], tmp: Path) -> list[str]:
    task, args = CASES[case]
    return [task, *(a.format(tmp=tmp, **paths) for a in args)]


def run_case(case: str, setting: str, threads: int, paths: dict[str, str], tmp: Path,
             extra: list[str]) -> dict:
    """One child run; its PSNR, iterations and seconds."""
    report = tmp / f"{case}-{setting}.json"
    argv = command(case, paths, tmp) + extra + ["--report", str(report), "--quiet"]
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "tinydip", *argv], env=child_env(setting, threads),
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{case} ({setting}): tinydip {' '.join(argv)} exited "
                           f"{proc.returncode}:\n{proc.stderr[-2000:]}")
    rep = json.loads(report.read_text())
    if CASES[case][0] == "compress":
        psnr, iters = rep.get("psnr"), rep.get("fit_iters_run")
        seconds = rep.get("encode_seconds")
    else:
        psnr, iters, seconds = rep["psnr_output"], rep["iters"], rep["seconds"]
    return {"psnr": round(float(psnr), 4), "iters": iters,
            "fit_seconds": None if seconds is None else round(float(seconds), 1),
            "wall_seconds": round(wall, 1)}


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def tolerances(record: dict) -> dict[str, float]:
    """Per case: max(spread of its PSNR over the recorded BLAS settings, MIN_TOL)."""
    tol = {}
    for case, per in record["cases"].items():
        values = [v["psnr"] for v in per.values()]
        tol[case] = round(max(max(values) - min(values), MIN_TOL), 4)
    return tol


def measure(cases: list[str], settings: list[str], threads: int, log,
            extra: list[str] | None = None) -> dict:
    record = {"date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
              "commit": git("rev-parse", "--short", "HEAD"),
              "clean": git("status", "--porcelain", "--untracked-files=no", "tinydip") == "",
              "python": sys.version.split()[0], "numpy": np.__version__, "threads": threads,
              "blas": {s: blas_info(child_env(s, threads)) for s in settings},
              "extra_args": list(extra or []), "cases": {}}
    with tempfile.TemporaryDirectory(prefix="bench_quality_") as d:
        tmp = Path(d)
        paths = write_images(tmp)
        for case in cases:
            for s in settings:
                log(f"{case} [{s}]: tinydip {' '.join(command(case, paths, tmp))}")
                r = run_case(case, s, threads, paths, tmp, list(extra or []))
                record["cases"].setdefault(case, {})[s] = r
                log(f"  {r['psnr']:.2f} dB, {r['iters']} iterations, {r['wall_seconds']:.0f} s")
    record["tolerance_db"] = tolerances(record)
    return record


def load_records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return json.loads(path.read_text())["records"]


def save_record(path: Path, record: dict) -> None:
    records = load_records(path) + [record]
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"records": records}, indent=1, allow_nan=False)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text + "\n")
    tmp.replace(path)


def reference(records: list[dict], case: str, setting: str) -> tuple[dict, dict] | None:
    """The last record holding ``case`` in ``setting``: (record, its entry)."""
    for rec in reversed(records):
        if setting in rec["cases"].get(case, {}):
            return rec, rec["cases"][case][setting]
    return None


def compare(records: list[dict], new: dict) -> tuple[list[list[str]], bool]:
    """Rows of the check table and whether any case dropped beyond its tolerance."""
    rows, failed = [], False
    for case, per in new["cases"].items():
        for s, entry in per.items():
            ref = reference(records, case, s)
            if ref is None:
                rows.append([case, s, "-", f"{entry['psnr']:.2f}", "-", "-", "no reference"])
                continue
            rec, old = ref
            tol = rec.get("tolerance_db", {}).get(case, MIN_TOL)
            drop = old["psnr"] - entry["psnr"]
            bad = drop > tol
            failed |= bad
            rows.append([case, s, f"{old['psnr']:.2f}", f"{entry['psnr']:.2f}", f"{-drop:+.2f}",
                         f"{tol:.2f}", f"DROP (record {rec['commit']})" if bad else "ok"])
    return rows, failed


def table(rows: list[list[str]], head: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True))
             for r in [head, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def record_table(record: dict) -> str:
    rows = []
    for case, per in record["cases"].items():
        for s, e in per.items():
            rows.append([case, s, f"{e['psnr']:.2f}", str(e["iters"]), f"{e['wall_seconds']:.0f}",
                         f"{record['tolerance_db'][case]:.2f}"])
    return table(rows, ["case", "blas", "PSNR dB", "iters", "seconds", "tolerance dB"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", help="comma-separated cases (default: all; see --list)")
    p.add_argument("--quick", action="store_true", help="one case per task: " + ", ".join(QUICK))
    p.add_argument("--blas", default=None,
                   help="comma-separated BLAS settings: haswell, native (default: both when "
                   "recording; with --check, those of the last record)")
    p.add_argument("--threads", type=int, default=1, help="threads per run (default 1)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results file (JSON)")
    p.add_argument("--check", action="store_true",
                   help="compare a new run with the last record; exit 1 on a drop")
    p.add_argument("--save", action="store_true", help="with --check: also append the run")
    p.add_argument("--list", action="store_true", help="print the cases and exit")
    p.add_argument("--extra", default="", metavar="ARGS",
                   help="arguments appended to every command (smoke tests, e.g. '--iters 5'); "
                   "kept in the record as extra_args: such a record is not a default run")
    args = p.parse_args(argv)

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    if args.list:
        for case, (task, a) in CASES.items():
            print(f"{case:22s} tinydip {task} {' '.join(a)}" + ("  [quick]" if case in QUICK
                                                                  else ""))
        return 0
    cases = list(QUICK) if args.quick else list(CASES)
    if args.cases:
        cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        p.error(f"unknown case(s) {', '.join(unknown)}; see --list")
    records = load_records(args.out)
    if args.blas:
        settings = [s.strip() for s in args.blas.split(",")]
        if any(s not in BLAS_SETTINGS for s in settings):
            p.error(f"--blas: choose from {', '.join(BLAS_SETTINGS)}")
    elif args.check and records:
        settings = [s for s in BLAS_SETTINGS if s in records[-1]["blas"]]
    else:
        settings = list(BLAS_SETTINGS)
    if args.check and not records:
        log(f"bench_quality: no record in {args.out} to compare with")
        return 2
    new = measure(cases, settings, args.threads, log, args.extra.split())
    if not args.check:
        save_record(args.out, new)
        print(record_table(new))
        print(f"wrote {args.out}")
        return 0
    rows, failed = compare(records, new)
    print(table(rows, ["case", "blas", "record dB", "new dB", "change", "tolerance", "status"]))
    if args.save:
        save_record(args.out, new)
    if all(r[-1] == "no reference" for r in rows):
        return 2
    print("FAILED: PSNR dropped beyond tolerance" if failed else "ok: no drop beyond tolerance")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
