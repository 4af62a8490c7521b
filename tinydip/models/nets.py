"""The two priors by name: ``"unet"`` (the DIP skip U-Net) and ``"decoder"`` (the Deep
Decoder) -- the one list the CLI's ``--net``, studies and the task runner share."""

from __future__ import annotations

from enum import Enum


class Net(str, Enum):
    """Which prior a fit uses (a ``str``: ``Net.UNET == "unet"``)."""

    UNET = "unet"
    DECODER = "decoder"

    @classmethod
    def of(cls, name: str | Net) -> Net:
        """The member named ``name``; an unknown name is a one-line ValueError."""
        try:
            return cls(name)
        except ValueError:
            raise ValueError(f"unknown network {name!r}; choose one of {', '.join(NETS)}") \
                from None

    @property
    def title(self) -> str:
        return "U-Net" if self is Net.UNET else "Deep Decoder"


NETS: tuple[str, ...] = tuple(n.value for n in Net)
