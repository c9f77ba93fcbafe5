#!/usr/bin/env python3
"""Writes train/tests/autoaugment_cases/cases.json: each AutoAugment CIFAR10Policy op run by
PIL (the reference's `util/image_augment.py` SubPolicy lambdas, with the random sign made an
argument) on two fixed 16x16 RGB images (a low-contrast structured one, uniform noise) at a few
magnitudes. Run once; the Rust tests compare
train/src/data/autoaugment.rs against the committed output.

    /work/main/.venv/bin/pip install pillow numpy
    /work/main/.venv/bin/python scripts/make_autoaugment_cases.py
"""
import json
import os

import numpy as np
import PIL
from PIL import Image, ImageEnhance, ImageOps

SIDE = 16
FILL = (128, 128, 128)
RANGES = {
    "shearX": np.linspace(0, 0.3, 10),
    "shearY": np.linspace(0, 0.3, 10),
    "translateX": np.linspace(0, 150 / 331, 10),
    "translateY": np.linspace(0, 150 / 331, 10),
    "rotate": np.linspace(0, 30, 10),
    "color": np.linspace(0.0, 0.9, 10),
    "posterize": np.round(np.linspace(8, 4, 10), 0).astype(int),
    "solarize": np.linspace(256, 0, 10),
    "contrast": np.linspace(0.0, 0.9, 10),
    "sharpness": np.linspace(0.0, 0.9, 10),
    "brightness": np.linspace(0.0, 0.9, 10),
    "autocontrast": [0] * 10,
    "equalize": [0] * 10,
    "invert": [0] * 10,
}


def rotate_with_fill(img, magnitude):
    rot = img.convert("RGBA").rotate(magnitude)
    return Image.composite(rot, Image.new("RGBA", rot.size, (128,) * 4), rot).convert(img.mode)


def apply(op, img, m, s):
    if op == "shearX":
        return img.transform(img.size, Image.AFFINE, (1, m * s, 0, 0, 1, 0), Image.BICUBIC, fillcolor=FILL)
    if op == "shearY":
        return img.transform(img.size, Image.AFFINE, (1, 0, 0, m * s, 1, 0), Image.BICUBIC, fillcolor=FILL)
    if op == "translateX":
        return img.transform(img.size, Image.AFFINE, (1, 0, m * img.size[0] * s, 0, 1, 0), fillcolor=FILL)
    if op == "translateY":
        return img.transform(img.size, Image.AFFINE, (1, 0, 0, 0, 1, m * img.size[1] * s), fillcolor=FILL)
    if op == "rotate":
        return rotate_with_fill(img, m)
    if op == "color":
        return ImageEnhance.Color(img).enhance(1 + m * s)
    if op == "posterize":
        return ImageOps.posterize(img, int(m))
    if op == "solarize":
        return ImageOps.solarize(img, m)
    if op == "contrast":
        return ImageEnhance.Contrast(img).enhance(1 + m * s)
    if op == "sharpness":
        return ImageEnhance.Sharpness(img).enhance(1 + m * s)
    if op == "brightness":
        return ImageEnhance.Brightness(img).enhance(1 + m * s)
    if op == "autocontrast":
        return ImageOps.autocontrast(img)
    if op == "equalize":
        return ImageOps.equalize(img)
    if op == "invert":
        return ImageOps.invert(img)
    raise ValueError(op)


def planar_hex(img):
    return np.asarray(img, dtype=np.uint8).transpose(2, 0, 1).tobytes().hex()


def main():
    rng = np.random.default_rng(16)
    yy, xx = np.mgrid[0:SIDE, 0:SIDE]
    # A low-contrast image with structure (gradients, a bright square) and noise, so that
    # AutoContrast / Equalize have work to do and the resampling ops move edges.
    base = np.stack([40 + 6 * xx, 60 + 5 * yy, 90 + 3 * (xx + yy)], axis=-1).astype(float)
    base[4:9, 6:12] += 40
    base += rng.integers(-12, 13, size=base.shape)
    hwc = np.clip(base, 0, 255).astype(np.uint8)
    noise = rng.integers(0, 256, size=(SIDE, SIDE, 3)).astype(np.uint8)
    images = [Image.fromarray(hwc, "RGB"), Image.fromarray(noise, "RGB")]
    signed = {"shearX", "shearY", "translateX", "translateY", "color", "contrast", "sharpness", "brightness"}
    cases = []
    for op in RANGES:
        if op in signed:
            runs = [(2, 1), (5, -1), (9, 1), (9, -1)]
        elif op in ("rotate", "posterize", "solarize"):
            runs = [(2, 1), (5, 1), (9, 1)]
        else:
            runs = [(0, 1)]
        for input_index, img in enumerate(images):
            for index, sign in runs:
                m = RANGES[op][index]
                cases.append({
                    "op": op,
                    "input": input_index,
                    "magnitude_index": index,
                    "sign": sign,
                    "output": planar_hex(apply(op, img, m, sign)),
                })
    out = {
        "generator": f"scripts/make_autoaugment_cases.py, Pillow {PIL.__version__}, numpy {np.__version__}",
        "side": SIDE,
        "inputs": [planar_hex(img) for img in images],
        "cases": cases,
    }
    path = os.path.join(os.path.dirname(__file__), "..", "train", "tests", "autoaugment_cases", "cases.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"{len(cases)} cases -> {os.path.normpath(path)}")


if __name__ == "__main__":
    main()
