"""The exercises: one declaration each (name, chapter, title, what the learner writes, checks).

The stub a learner starts from is ``stubs/<name>.py`` (a plain Python file shipped in the
package); its checks are a :class:`~tinydip.exercises.checks.Suite` in one of the suite
modules, grouped by chapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import suite_conv, suite_fitting, suite_gradients, suite_layers, suite_operators
from .checks import Suite

STUBS = Path(__file__).with_name("stubs")


class UnknownExercise(ValueError):
    """No exercise of that name."""


@dataclass(frozen=True)
class Exercise:
    name: str
    chapter: str  # the tutorial that teaches the concept (tutorials/<chapter>.py)
    title: str
    functions: tuple[str, ...]  # what the learner implements in the stub
    suite: Suite

    @property
    def stub_path(self) -> Path:
        return STUBS / f"{self.name}.py"

    def stub_text(self) -> str:
        return self.stub_path.read_text(encoding="utf-8")


EXERCISES: tuple[Exercise, ...] = (
    Exercise("numerical_gradient", "01_gradients", "central differences and relative error",
             ("numerical_gradient", "rel_error"), suite_gradients.NUMERICAL_GRADIENT),
    Exercise("leaky_relu_backward", "01_gradients", "LeakyReLU backward",
             ("leaky_relu_backward",), suite_gradients.LEAKY_RELU),
    Exercise("sigmoid_backward", "01_gradients", "sigmoid backward from the saved output",
             ("sigmoid_backward",), suite_gradients.SIGMOID),
    Exercise("conv_forward_loops", "02_convolution", "convolution forward with loops",
             ("conv_forward_loops",), suite_conv.CONV_FORWARD_LOOPS),
    Exercise("im2col", "02_convolution", "im2col: a convolution as one matrix product",
             ("im2col",), suite_conv.IM2COL),
    Exercise("conv_backward", "02_convolution", "convolution backward: dx, dw, db",
             ("conv_backward",), suite_conv.CONV_BACKWARD),
    Exercise("batchnorm_backward", "03_batchnorm", "BatchNorm backward in train mode",
             ("batchnorm_backward",), suite_layers.BATCHNORM),
    Exercise("upsample_backward", "04_denoising", "bilinear x2 upsampling backward (adjoint)",
             ("upsample_backward",), suite_layers.UPSAMPLE),
    Exercise("dip_step", "04_denoising", "one DIP fitting step through a skip fork",
             ("dip_step",), suite_fitting.DIP_STEP),
    Exercise("masked_mse", "05_inpainting", "MSE over known pixels and its gradient",
             ("masked_mse",), suite_fitting.MASKED_MSE),
    Exercise("downsampler_adjoint", "06_super_resolution", "the Lanczos downsampler's adjoint",
             ("downsample_adjoint",), suite_operators.DOWNSAMPLER),
    Exercise("adam_step", "09_adam", "one Adam step with bias correction",
             ("adam_step",), suite_fitting.ADAM),
    Exercise("stopping_rule", "10_knowing_when_to_stop", "windowed-variance stopping with patience",
             ("VarianceStopper",), suite_operators.STOPPING),
)

_BY_NAME = {e.name: e for e in EXERCISES}


def get(name: str) -> Exercise:
    """The exercise called ``name``; :class:`UnknownExercise` (one line) otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UnknownExercise(f"unknown exercise {name!r}; see 'tinydip exercise list' "
                              f"({', '.join(_BY_NAME)})") from None
