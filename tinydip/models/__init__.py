"""Models: the Deep Image Prior skip U-Net and the Deep Decoder."""

from .decoder import decoder_num_parameters, deep_decoder
from .nets import NETS, Net
from .prior import Prior, uniform_input
from .unet import PRESETS, UNetConfig, check_size, skip_unet, unet_config

__all__ = [
    "NETS",
    "Net",
    "PRESETS",
    "Prior",
    "UNetConfig",
    "check_size",
    "decoder_num_parameters",
    "deep_decoder",
    "skip_unet",
    "unet_config",
    "uniform_input",
]
