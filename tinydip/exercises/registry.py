"""The exercises: one declaration each (name, chapter, title, what the learner writes, checks,
levels, difficulty, expected time).

The stub a learner starts from is ``stubs/<name>.py`` at the ``guided`` level (signature,
shapes, equations, hints) and ``stubs/derive/<name>.py`` at the ``derive`` level (the
forward, the shapes and what to return: the learner derives the backward); both are plain
Python files shipped in the package. One :class:`~tinydip.exercises.checks.Suite` (in a
suite module, grouped by chapter) checks both levels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import (
    suite_blur,
    suite_conv,
    suite_decoder,
    suite_fitting,
    suite_gradients,
    suite_layers,
    suite_operators,
    suite_winograd,
)
from .checks import Suite

STUBS = Path(__file__).with_name("stubs")


GUIDED, DERIVE = "guided", "derive"
LEVELS = (GUIDED, DERIVE)  # guided: the equations are given; derive: you derive them
BOTH = (GUIDED, DERIVE)


class UnknownExercise(ValueError):
    """No exercise of that name."""


class UnknownLevel(ValueError):
    """The exercise has no stub at that level."""


@dataclass(frozen=True)
class Exercise:
    name: str
    chapter: str  # the tutorial that teaches the concept (tutorials/<chapter>.py)
    title: str
    functions: tuple[str, ...]  # what the learner implements in the stub
    suite: Suite  # the same checks at every level
    difficulty: int = 1  # 1 (a few lines), 2 (an afternoon's concept), 3 (hard to get exact)
    minutes: int = 15  # expected time at the guided level
    levels: tuple[str, ...] = (GUIDED,)

    def stub_path(self, level: str = GUIDED) -> Path:
        if level not in self.levels:
            raise UnknownLevel(f"exercise {self.name!r} has no level {level!r} (levels: "
                               f"{', '.join(self.levels)})")
        return STUBS / f"{self.name}.py" if level == GUIDED else STUBS / level / f"{self.name}.py"

    def stub_text(self, level: str = GUIDED) -> str:
        return self.stub_path(level).read_text(encoding="utf-8")

    def derive_minutes(self) -> int | None:
        """Expected time at the derive level: about twice the guided one."""
        return 2 * self.minutes if DERIVE in self.levels else None


EXERCISES: tuple[Exercise, ...] = (
    Exercise("numerical_gradient", "01_gradients", "central differences and relative error",
             ("numerical_gradient", "rel_error"), suite_gradients.NUMERICAL_GRADIENT,
             difficulty=1, minutes=15),
    Exercise("leaky_relu_backward", "01_gradients", "LeakyReLU backward",
             ("leaky_relu_backward",), suite_gradients.LEAKY_RELU,
             difficulty=1, minutes=5, levels=BOTH),
    Exercise("sigmoid_backward", "01_gradients", "sigmoid backward from the saved output",
             ("sigmoid_backward",), suite_gradients.SIGMOID,
             difficulty=1, minutes=5, levels=BOTH),
    Exercise("conv_forward_loops", "02_convolution", "convolution forward with loops",
             ("conv_forward_loops",), suite_conv.CONV_FORWARD_LOOPS,
             difficulty=1, minutes=15),
    Exercise("im2col", "02_convolution", "im2col: a convolution as one matrix product",
             ("im2col",), suite_conv.IM2COL, difficulty=2, minutes=20),
    Exercise("conv_backward", "02_convolution", "convolution backward: dx, dw, db",
             ("conv_backward",), suite_conv.CONV_BACKWARD,
             difficulty=2, minutes=30, levels=BOTH),
    Exercise("winograd_input_transform", "02_convolution",
             "Winograd F(2x2, 3x3) input transform B^T d B",
             ("winograd_input_transform",), suite_winograd.WINOGRAD_INPUT,
             difficulty=2, minutes=25, levels=BOTH),
    Exercise("batchnorm_backward", "03_batchnorm", "BatchNorm backward in train mode",
             ("batchnorm_backward",), suite_layers.BATCHNORM,
             difficulty=3, minutes=30, levels=BOTH),
    Exercise("upsample_backward", "04_denoising", "bilinear x2 upsampling backward (adjoint)",
             ("upsample_backward",), suite_layers.UPSAMPLE,
             difficulty=2, minutes=30, levels=BOTH),
    Exercise("dip_step", "04_denoising", "one DIP fitting step through a skip fork",
             ("dip_step",), suite_fitting.DIP_STEP, difficulty=2, minutes=25, levels=BOTH),
    Exercise("masked_mse", "05_inpainting", "MSE over known pixels and its gradient",
             ("masked_mse",), suite_fitting.MASKED_MSE, difficulty=1, minutes=10, levels=BOTH),
    Exercise("downsampler_adjoint", "06_super_resolution", "the Lanczos downsampler's adjoint",
             ("downsample_adjoint",), suite_operators.DOWNSAMPLER,
             difficulty=3, minutes=40, levels=BOTH),
    Exercise("blur_adjoint", "06_super_resolution", "a blur operator's adjoint (deblurring)",
             ("blur_adjoint",), suite_blur.BLUR_ADJOINT, difficulty=2, minutes=30,
             levels=BOTH),
    Exercise("decoder_layer", "07_deep_decoder_compression",
             "a Deep Decoder layer, forward and backward",
             ("decoder_layer_forward", "decoder_layer_backward"), suite_decoder.DECODER_LAYER,
             difficulty=3, minutes=45, levels=BOTH),
    Exercise("adam_step", "09_adam", "one Adam step with bias correction",
             ("adam_step",), suite_fitting.ADAM, difficulty=1, minutes=10, levels=BOTH),
    Exercise("stopping_rule", "10_knowing_when_to_stop", "windowed-variance stopping with patience",
             ("VarianceStopper",), suite_operators.STOPPING, difficulty=2, minutes=25),
)

_BY_NAME = {e.name: e for e in EXERCISES}


def get(name: str) -> Exercise:
    """The exercise called ``name``; :class:`UnknownExercise` (one line) otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UnknownExercise(f"unknown exercise {name!r}; see 'tinydip exercise list' "
                              f"({', '.join(_BY_NAME)})") from None
