"""Study files (TOML) -> a validated :class:`Study` -> its runs, each with a stable key.

::

    name = "jitter-at-sigma-50"
    images = ["sample:hopper@64", "photos/", "more/*.png"]
    resize = 64                 # optional: files -> centred square, resized (samples: @SIZE)
    seeds = [0, 1]

    [[tasks]]
    kind = "denoise"            # denoise (sigma) | inpaint (mask, fraction) | sr (factor)
    sigma = 50

    [defaults]                  # options shared by every setting
    iters = 1000
    stop = "auto"

    [grid]                      # every combination of these lists is one setting
    reg_noise_std = [0.0, 0.0333]

    [[settings]]                # named settings (each crossed with the grid)
    name = "unet-small"
    net_options = { channels = 16, levels = 4 }

Every problem is reported (one line each) by :class:`StudyError`; the CLI exits with 2.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__
from . import problems as study_problems
from .problems import SETTING_KEYS, TaskSpec, identity_json
from .sources import ImageSource, resolve_entry

try:
    import tomllib  # Python >= 3.11
except ModuleNotFoundError:  # pragma: no cover - Python 3.10: the study extra brings tomli
    import tomli as tomllib

TOP_KEYS = ("name", "images", "resize", "seeds", "tasks", "defaults", "grid", "settings",
            "baseline", "threads")


class StudyError(ValueError):
    """A study file with problems; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str], source: str = "study") -> None:
        self.problems = [f"{source}: {p}" for p in problems]
        super().__init__("\n".join(self.problems))


@dataclass
class Setting:
    """One point of the settings grid: a label and the options given to the fit."""

    name: str
    options: dict = field(default_factory=dict)


@dataclass
class Study:
    name: str
    images: list[ImageSource]
    tasks: list[TaskSpec]
    settings: list[Setting]
    seeds: list[int] = field(default_factory=lambda: [0])
    resize: int | None = None
    baseline: bool = True
    threads: int = 1  # threads per run (numba's, GEMMs too); fixed so results do not depend
    # on the number of workers


@dataclass
class RunSpec:
    """One run: an image, a task, a setting and a seed, with its stable key."""

    key: str
    image: ImageSource
    task: TaskSpec
    setting: Setting
    seed: int

    def label(self) -> str:
        return f"{self.image.name} | {self.task.name} | {self.setting.name} | seed {self.seed}"


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _fmt(v) -> str:
    if isinstance(v, dict):
        return "{" + ",".join(f"{k}={_fmt(x)}" for k, x in sorted(v.items())) + "}"
    return f"{v:g}" if isinstance(v, float) else str(v)


def _settings(doc: dict, problems: list[str]) -> list[Setting]:
    defaults = doc.get("defaults", {})
    grid = doc.get("grid", {})
    named = doc.get("settings", [{}]) or [{}]
    if not isinstance(defaults, dict):
        problems.append("[defaults] must be a table")
        defaults = {}
    if not isinstance(grid, dict):
        problems.append("[grid] must be a table of lists")
        grid = {}
    if not isinstance(named, list) or not all(isinstance(s, dict) for s in named):
        problems.append("[[settings]] must be an array of tables")
        named = [{}]
    for where, table in [("[defaults]", defaults), ("[grid]", grid)] + [
            (f"[[settings]] #{i + 1}", s) for i, s in enumerate(named)]:
        allowed = SETTING_KEYS + (("name",) if where.startswith("[[") else ())
        for k in table:
            if k not in allowed:
                problems.append(f"{where}: unknown key {k!r} (allowed: {', '.join(allowed)})")
    for k, v in grid.items():
        if not isinstance(v, list) or not v:
            problems.append(f"[grid]: {k} must be a non-empty list, got {v!r}")
    grid = {k: v for k, v in grid.items() if k in SETTING_KEYS and isinstance(v, list) and v}
    names = [s.get("name") for s in named]
    if len(named) > 1 and (None in names or len(set(names)) != len(names)):
        problems.append("[[settings]]: with several named settings each needs a unique name")
    out: list[Setting] = []
    keys = sorted(grid)
    for s in named:
        for combo in itertools.product(*(grid[k] for k in keys)):
            point = dict(zip(keys, combo))
            opts = {**defaults, **{k: v for k, v in s.items() if k != "name"}, **point}
            parts = ([s["name"]] if s.get("name") else []) + \
                [f"{k}={_fmt(v)}" for k, v in point.items() if len(grid[k]) > 1]
            name = ",".join(parts) or "default"
            bad = study_problems.check_setting(opts, f"setting {name!r}")
            problems += [b for b in bad if b not in problems]
            out.append(Setting(name, opts))
    return out


def parse_study(doc: dict, base: Path | str = ".", source: str = "study") -> Study:
    """Validate a parsed TOML document; relative image paths are relative to ``base``."""
    base = Path(base)
    problems: list[str] = []
    for k in doc:
        if k not in TOP_KEYS:
            problems.append(f"unknown top-level key {k!r} (allowed: {', '.join(TOP_KEYS)})")
    name = doc.get("name", Path(source).stem)
    if not isinstance(name, str) or not name.strip():
        problems.append("name must be a non-empty string")
    entries = doc.get("images")
    images: list[ImageSource] = []
    if not isinstance(entries, list) or not entries:
        problems.append('images must be a non-empty list, e.g. images = ["sample:hopper@64"]')
    else:
        seen = set()
        for e in entries:
            try:
                for src in resolve_entry(e, base):
                    if (src.name, src.content_hash) not in seen:
                        seen.add((src.name, src.content_hash))
                        images.append(src)
            except ValueError as exc:
                problems.append(str(exc))
    resize = doc.get("resize")
    if resize is not None and (not _is_int(resize) or not 32 <= resize <= 4096):
        problems.append(f"resize must be an integer from 32 to 4096, got {resize!r}")
    seeds = doc.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(_is_int(s) and s >= 0 for s in seeds):
        problems.append(f"seeds must be a non-empty list of integers >= 0, got {seeds!r}")
        seeds = [0]
    elif len(set(seeds)) != len(seeds):
        problems.append(f"seeds has duplicates: {seeds!r}")
    task_tables = doc.get("tasks")
    specs: list[TaskSpec] = []
    if not isinstance(task_tables, list) or not task_tables \
            or not all(isinstance(t, dict) for t in task_tables):
        problems.append('tasks must be a non-empty array of tables: [[tasks]] kind = "denoise"')
    else:
        for i, t in enumerate(task_tables):
            spec, bad = study_problems.task_spec(t, f"[[tasks]] #{i + 1}")
            problems += bad
            if spec is not None:
                specs.append(spec)
        labels = [s.name for s in specs]
        for dup in sorted({x for x in labels if labels.count(x) > 1}):
            problems.append(f"[[tasks]]: two tasks are named {dup!r}; give them distinct names")
    settings = _settings(doc, problems)
    baseline = doc.get("baseline", True)
    if not isinstance(baseline, bool):
        problems.append(f"baseline must be true or false, got {baseline!r}")
    threads = doc.get("threads", 1)
    if not _is_int(threads) or threads < 1:
        problems.append(f"threads must be a positive integer, got {threads!r}")
    if problems:
        raise StudyError(problems, source)
    return Study(name.strip(), images, specs, settings, list(seeds), resize, baseline, threads)


def load_study(path: str | Path) -> Study:
    """Read and validate a study file (raises :class:`StudyError`)."""
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StudyError(["no such file"], str(p)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StudyError([f"cannot read ({exc})"], str(p)) from None
    except tomllib.TOMLDecodeError as exc:
        raise StudyError([f"not valid TOML ({exc})"], str(p)) from None
    return parse_study(doc, p.resolve().parent, str(p))


def run_key(image: ImageSource, task: TaskSpec, setting: Setting, seed: int,
            resize: int | None, threads: int = 1) -> str:
    """sha256 of (image content hash, resize, task, setting options, seed, tinydip version);
    the first 16 hex digits. Labels (file name, task and setting names) do not enter."""
    ident = {"image": image.content_hash, "resize": None if image.sample else resize,
             "task": task.identity(), "setting": setting.options, "seed": seed,
             "version": __version__}
    if threads != 1:  # results depend (in the last bits) on the thread count
        ident["threads"] = threads
    return hashlib.sha256(identity_json(ident).encode()).hexdigest()[:16]


def expand(study: Study) -> list[RunSpec]:
    """All runs, ordered seed-major then image, task, setting (so early rows cover all
    images and settings); runs with the same key are listed once."""
    runs, seen = [], set()
    for seed in study.seeds:
        for img in study.images:
            for task in study.tasks:
                for setting in study.settings:
                    key = run_key(img, task, setting, seed, study.resize, study.threads)
                    if key not in seen:
                        seen.add(key)
                        runs.append(RunSpec(key, img, task, setting, seed))
    return runs
