"""Deep Decoder codec: quantisation, the ``.tdd`` container, and classical baselines."""

from tinydip.codec.baselines import (
    HaarPyramid,
    haar_compress,
    haar_forward,
    haar_inverse,
    haar_num_coefficients,
    jpeg_at_size,
)
from tinydip.codec.container import (
    CODEC_KEYS,
    FORMAT_VERSION,
    MAGIC,
    REQUIRED_KEYS,
    CodecError,
    decode_tdd,
    describe_tdd,
    encode_tdd,
    read_tdd,
    write_tdd,
)
from tinydip.codec.quantize import (
    QTensor,
    dequantize,
    pack_codes,
    quantize,
    unpack_codes,
)

__all__ = [
    "CODEC_KEYS",
    "FORMAT_VERSION",
    "MAGIC",
    "REQUIRED_KEYS",
    "CodecError",
    "HaarPyramid",
    "QTensor",
    "decode_tdd",
    "dequantize",
    "describe_tdd",
    "encode_tdd",
    "haar_compress",
    "haar_forward",
    "haar_inverse",
    "haar_num_coefficients",
    "jpeg_at_size",
    "pack_codes",
    "quantize",
    "read_tdd",
    "unpack_codes",
    "write_tdd",
]
