"""The ``tinydip`` command line: argparse subcommands, one clear line and exit status 2 on
bad input (never a traceback)."""

from __future__ import annotations

import argparse
import sys
import warnings

from . import commands, gradcheck_cmd, study_cmd

COMMANDS = {
    "denoise": (commands.add_denoise, "remove noise from an image (Deep Image Prior)"),
    "inpaint": (commands.add_inpaint, "fill masked pixels (text overlays, holes)"),
    "sr": (commands.add_sr, "super-resolution by a factor 2, 4 or 8"),
    "gradcheck": (gradcheck_cmd.add_gradcheck, "prove every layer's backward by finite "
                  "differences"),
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
    for name, (add, help_) in COMMANDS.items():
        add(sub.add_parser(name, help=help_, description=help_))
    try:
        from ..codec import cli as codec_cli  # the codec adds compress / decompress
    except ImportError:
        codec_cli = None
    if codec_cli is not None:
        codec_cli.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = _show_warning
        try:
            return int(args.func(args) or 0)
        except (ValueError, OSError) as exc:  # ImageError, CodecError, sizes: ValueErrors
            print(f"tinydip: error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("tinydip: interrupted", file=sys.stderr)
            return 130


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"tinydip: warning: {message}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
