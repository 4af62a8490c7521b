"""The ``tinydip`` command line: argparse subcommands, one clear line and exit status 2 on
bad input (never a traceback)."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from functools import partial

from ..runtime.interrupt import describe, exit_status, sigterm_as_interrupt
from ..tasks import TASKS
from . import codec_cmd, commands, exercise_cmd, gradcheck_cmd, notebooks_cmd, study_cmd
from .pipes import reader_may_leave

# the commands besides one subcommand per registered task (tinydip.tasks.catalogue)
COMMANDS = {
    "gradcheck": (gradcheck_cmd.add_gradcheck, "prove every layer's backward by finite "
                  "differences"),
    "exercise": (exercise_cmd.add_exercise, "exercises: list, start NAME, check NAME"),
    "notebooks": (notebooks_cmd.add_notebooks, "write the tutorial chapters as Jupyter notebooks"),
    "study": (study_cmd.add_study, "experiments over many images, tasks, settings and seeds "
              "(on Dask)"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit status 2 (argparse's own status)
        self.exit(2, f"tinydip: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tinydip", description="Deep Image Prior and Deep Decoder on the CPU, "
                     "in NumPy + numba with handwritten backprop.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    tasks = {name: (partial(commands.add_task, task=task), task.help)
             for name, task in TASKS.items()}  # every task registered by now
    for name, (add, help_) in {**tasks, **COMMANDS}.items():
        add(sub.add_parser(name, help=help_, description=help_))
    codec_cmd.add_commands(sub)  # compress / decompress (their own descriptions)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    with warnings.catch_warnings(), sigterm_as_interrupt(), reader_may_leave():
        warnings.simplefilter("default")
        warnings.showwarning = _show_warning
        try:
            return int(args.func(args) or 0)
        except BrokenPipeError:  # a pipe other than stdout/stderr (those: cli/pipes.py)
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keep Python's exit flush quiet
            return 0
        except (ValueError, OSError) as exc:  # ImageError, CodecError, sizes: ValueErrors
            print(f"tinydip: error: {exc}", file=sys.stderr)
            return 2
        except RuntimeError as exc:  # pathlib's resolve() on a symlink loop (Python < 3.13)
            if not str(exc).startswith("Symlink loop"):
                raise
            print(f"tinydip: error: {exc} (a link that points back to itself)", file=sys.stderr)
            return 2
        except MemoryError:
            print("tinydip: error: out of memory (try a smaller image, --size, a smaller "
                  "network or a lower --max-memory to be stopped earlier)", file=sys.stderr)
            return 2
        except KeyboardInterrupt as exc:  # Ctrl-C (130) or SIGTERM (143) outside a fit
            print(f"tinydip: interrupted ({describe(exc)})", file=sys.stderr)
            return exit_status(exc)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"tinydip: warning: {message}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
