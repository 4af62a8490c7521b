"""The two priors by name: ``"unet"`` (the DIP skip U-Net) and ``"decoder"`` (the Deep
Decoder) -- the one list the CLI's ``--net``, studies and the task runner share."""

from __future__ import annotations

from ..runtime.choice import Choice


class Net(Choice):
    """Which prior a fit uses (a ``str``: ``Net.UNET == "unet"``)."""

    UNET = "unet"
    DECODER = "decoder"

    @property
    def title(self) -> str:
        return "U-Net" if self is Net.UNET else "Deep Decoder"


NETS: tuple[str, ...] = Net.values()
