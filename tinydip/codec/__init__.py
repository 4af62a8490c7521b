"""Deep Decoder image codec: an image stored as the weights of a small network that draws it.

A Deep Decoder (Heckel & Hand, 2019) with k channels and 6 layers has N = 6k^2 + 12k + kc
parameters (c = 1 or 3 image channels), far fewer than the image has pixels for moderate k.
Fitting it to one image and storing its quantised weights is a lossy codec; k sets the rate.

Usage::

    from tinydip.codec import compress, decompress
    result = compress(img, k=64, bits=8)     # img: HxWxC float32 in [0, 1]
    open("img.tdd", "wb").write(result.data)
    print(result.nbytes, result.psnr)        # PSNR of exactly what decompress returns
    out = decompress("img.tdd")              # HxWxC float32, deterministic

    tinydip compress photo.png -o photo.tdd --k 64 --bits 8 --report r.json --plot rd.png
    tinydip decompress photo.tdd -o photo_decoded.png

What a ``.tdd`` file (format 3, :mod:`tinydip.codec.format3`) stores:

* image height, width and channels; the architecture (k, layers, output channels, upsampling
  mode, input scale); and the integer seed of the network input z -- as compact JSON,
  DEFLATE-compressed with a preset dictionary (~25 bytes). **z itself is not stored**: the
  decoder regenerates it as ``default_rng(seed).random(...) * input_scale``;
* the 1x1 convolution weights (d*k^2 + kc values) and, per BatchNorm, a folded per-channel
  scale and shift (2*d*k values) -- exactly N numbers, tensor t on its own grid
  ``step_t * q`` (steps chosen by rate-distortion, :mod:`tinydip.codec.allocation`),
  entropy-coded with a Laplace model per tensor by ANS (the optional ``constriction``
  package, ``pip install tinydip[codec]``) or packed + lzma/zlib without it
  (:mod:`tinydip.codec.entropy`). The tensor table is binary: step, code range and model per
  tensor; names and shapes follow from the architecture.

Versions 1-2 (JSON header, uniform per-tensor affine codes; ``bits`` 16/32 still write
version 2) are read as before.

BatchNorm is folded with the batch statistics of the encoder's final forward pass, so
decoding is a fixed feed-forward computation (:mod:`tinydip.codec.folded`). The encoder
rounds the folded network one layer at a time (:mod:`tinydip.codec.incremental`), then
fine-tunes it on the quantisation grid (:mod:`tinydip.codec.finetune`; the pipeline is
:mod:`tinydip.codec.encoder`).
Baselines at equal size: JPEG (:func:`jpeg_at_size`) and Haar wavelet thresholding with N
coefficients (:func:`haar_compress`); :mod:`tinydip.codec.ratedistortion` draws the curves.

Modules: ``quantize`` (affine codes, step grids, bit packing), ``container`` (framing,
read/write API), ``format2`` (JSON versions 1-2), ``format3`` (the binary header), ``entropy``
(ANS / lzma / zlib coders, bounded decompression), ``allocation`` (steps per tensor),
``fitting`` (the fit, cosine learning rate), ``folded`` (BN folding, the BN-free decoder),
``encoder`` (compress), ``decoding`` (decompress), ``targets``
(--target-bytes/-bpp/-psnr), ``baselines`` (JPEG, Haar), ``pillow_codecs`` (JPEG, WebP, JPEG
2000, AVIF at a size), ``ratedistortion`` (comparison, figures). The command line (``tinydip
compress`` / ``tinydip decompress``) is :mod:`tinydip.cli.codec_cmd`.
"""

from tinydip.codec.baselines import (
    haar_compress,
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
    encode_tdd3,
    read_tdd,
    write_tdd,
)
from tinydip.codec.encoder import (
    CodecConfig,
    CompressResult,
    Fitted,
    compress,
    decompress,
    encode_fitted,
    fit_image,
)
from tinydip.codec.folded import fold_batchnorm
from tinydip.codec.quantize import (
    QTensor,
    StepCodes,
    dequantize,
    pack_codes,
    quantize,
    step_quantize,
    unpack_codes,
)

__all__ = [
    "CODEC_KEYS",
    "CodecConfig",
    "CompressResult",
    "compress",
    "decompress",
    "fold_batchnorm",
    "FORMAT_VERSION",
    "MAGIC",
    "REQUIRED_KEYS",
    "CodecError",
    "QTensor",
    "decode_tdd",
    "dequantize",
    "describe_tdd",
    "encode_tdd",
    "encode_tdd3",
    "encode_fitted",
    "fit_image",
    "Fitted",
    "StepCodes",
    "step_quantize",
    "haar_compress",
    "haar_num_coefficients",
    "jpeg_at_size",
    "pack_codes",
    "quantize",
    "read_tdd",
    "unpack_codes",
    "write_tdd",
]
