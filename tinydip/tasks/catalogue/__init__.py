"""The registered tasks: one module, one declaration each (a :class:`~..registry.Task`).

Each module holds a task's Python problem builder, its options and how a problem is made
from them (the command line), how a clean image is degraded for it (studies), then the
``register(Task(...))`` entry: the prior preset, the paper's fit settings (Ulyanov et al.
2018, supplementary material and code) and the automatic stopping rule, chosen by
measurement (benchmarks/bench_stopping.py, benchmarks/README.md). ``stop: "auto"`` makes
early stopping the default, so ``iters`` is an upper bound.

The paper's settings are the iterations, learning rate and input jitter. The "output"
choices are tinydip's own, not the paper's: the official denoising code keeps an
exponential average of the outputs and, when the PSNR to the noisy image drops by more than
5 dB in one step, backtracks to the previous weights; its inpainting and super-resolution
code return the final output. tinydip returns the smoothed average for denoising (and
deblurring, whose observation is noisy too) and, for inpainting and SR, the lowest-loss
output (which is never a blown-up iterate, so no backtracking is needed).

Adding a task: a module here and its import below (DEVELOPERS.md, "How to add a task").
"""

from . import deblur, denoise, inpaint, sr  # noqa: F401  (each registers its task)
