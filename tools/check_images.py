#!/usr/bin/env python3
"""`resin preprocess` against Pillow and torchvision on every image tools/gen_images.py makes.

    tools/check_images.py --resin .build/release/resin [--work DIR]

For each image of the set (made afresh in .generated/images):
  - `resin preprocess --decoded` equals Pillow's `ImageOps.exif_transpose(Image.open(f)).convert("RGB")`
    exactly (16-bit gray PNG: Pillow's 16-bit samples cut to their high byte, where Pillow's own conversion
    clips them to 255; Docs/images.md);
  - the preprocessed tensor (ImageNet recipe, all images in one batch) is within 1/255 of torchvision's
    `Compose([Resize(256), CenterCrop(224), ToTensor(), Normalize(...)])` on that PIL image on at least 99.9%
    of the elements and within 2/255 everywhere, in pixel units before normalization (it is in fact
    expected to be bit-identical; the table says when it is);
  - other recipes (NHWC with BGR, other sizes and statistics, a crop larger than the resized image) on a
    sample of the set, against torchvision with the same options;
  - every broken file exits 2 with an error line naming the file, never a signal or a hang.
Prints a table (one row per image) and a summary line; exits non-zero on any failure.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import toolenv  # noqa: E402

toolenv.ensure_venv(__file__)

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import gen_images  # noqa: E402
from checksupport import describe_exit, run_resin  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGENET = dict(resize=256, crop=(224, 224), mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                order="rgb", layout="nchw")
# Other recipes, each with the options that ask resin for it.
OTHER_RECIPES = {
    "nhwc-bgr": (dict(IMAGENET, order="bgr", layout="nhwc"), ["--channel-order", "bgr", "--layout", "nhwc"]),
    "320-299x288": (dict(resize=320, crop=(299, 288), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), order="rgb",
                         layout="nchw"),
                    ["--resize", "320", "--crop", "299x288", "--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5"]),
    "padded-160-200": (dict(IMAGENET, resize=160, crop=(200, 200)), ["--resize", "160", "--crop", "200"]),
}
# The images the other recipes run on: odd sizes, every format family, one orientation.
SAMPLE = ("scene-500x375-baseline-420.jpg", "scene-500x375-progressive-444.jpg", "scene-500x375-palette8-trns.png",
          "scene-500x375-rgb16.png", "scene-375x500-exif-6.jpg", "size-3x500.png", "size-257x255.jpg",
          "size-1x1.png", "skimage-rocket.jpg")
TIMEOUT = 120


def pixel_differences(actual, expected, recipe):
    """|actual - expected| per element in pixel units (times std * 255), by the element's R, G, B channel."""
    std = np.asarray(recipe["std"], dtype=np.float64)
    if recipe["order"] == "bgr":
        std = std[::-1]
    shape = [1, 3, 1, 1] if recipe["layout"] == "nchw" else [1, 1, 1, 3]
    return np.abs(actual.astype(np.float64) - expected.astype(np.float64)) * std.reshape(shape) * 255


def judge_tensor(actual, expected, recipe):
    """(ok, text) for one image's tensor against torchvision's."""
    if actual.shape != expected.shape or actual.dtype != expected.dtype:
        return False, f"{actual.dtype}{list(actual.shape)} vs torchvision {expected.dtype}{list(expected.shape)}"
    diff = pixel_differences(actual, expected, recipe)
    within = float(np.mean(diff <= 1 + 1e-4))
    worst = float(diff.max())
    ok = within >= 0.999 and worst <= 2 + 1e-4
    text = "bit-exact" if np.array_equal(actual, expected) else f"max {worst:.3f}/255, {100 * within:.2f}% <= 1/255"
    return ok, text


def preprocess(resin, paths, output, options):
    code, out, err = run_resin(resin, ["preprocess", *paths, "--output", output, *options], TIMEOUT)
    return code, describe_exit(code, out, err)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--resin", required=True)
    parser.add_argument("--work", help="folder for resin's outputs (default: a temporary one)")
    args = parser.parse_args()
    start = time.time()
    # Made afresh each time (a few seconds), so that the set always matches the generator.
    images = os.path.join(ROOT, ".generated", "images")
    shutil.rmtree(images, ignore_errors=True)
    gen_images.write_set(gen_images.full_set(), images)
    manifest_path = os.path.join(images, "manifest.json")
    with open(manifest_path) as f:
        manifest = json.load(f)
    work = args.work or tempfile.mkdtemp(prefix="resin-check-images-")
    os.makedirs(work, exist_ok=True)

    good = sorted(name for name, kind in manifest.items() if kind != "error")
    broken = sorted(name for name, kind in manifest.items() if kind == "error")
    failures = []
    rows = []
    exact_decodes = exact_tensors = within_bounds = 0

    # The ImageNet recipe on every image, in one batch.
    batch_file = os.path.join(work, "batch.npy")
    code, how = preprocess(args.resin, [os.path.join(images, n) for n in good], batch_file, [])
    batch = np.load(batch_file) if code == 0 else None
    if batch is None:
        failures.append(f"preprocess of the whole set: {how}")

    references = {}
    for index, name in enumerate(good):
        path = os.path.join(images, name)
        pixels = gen_images.pillow_rgb(path, manifest[name])
        references[name] = pixels
        decoded_file = os.path.join(work, "decoded.npy")
        code, how = preprocess(args.resin, [path], decoded_file, ["--decoded"])
        if code != 0:
            decode_text, decode_ok = how, False
        else:
            decoded = np.load(decoded_file)
            decode_ok = decoded.shape == pixels.shape and np.array_equal(decoded, pixels)
            if decode_ok:
                decode_text = "equal" + (" (high byte)" if manifest[name] == "gray16" else "")
            elif decoded.shape != pixels.shape:
                decode_text = f"shape {list(decoded.shape)} vs Pillow {list(pixels.shape)}"
            else:
                decode_text = f"{int(np.sum(decoded != pixels))} samples differ, max {int(np.abs(decoded.astype(int) - pixels).max())}"
        exact_decodes += decode_ok
        if not decode_ok:
            failures.append(f"{name}: decoded pixels: {decode_text}")
        if batch is not None:
            tensor_ok, tensor_text = judge_tensor(batch[index:index + 1], gen_images.torchvision_tensor(pixels, IMAGENET), IMAGENET)
            exact_tensors += tensor_text == "bit-exact"
            within_bounds += tensor_ok
            if not tensor_ok:
                failures.append(f"{name}: ImageNet tensor: {tensor_text}")
        else:
            tensor_text = "not run"
        height, width = pixels.shape[:2]
        rows.append((name, f"{width}x{height}", decode_text, tensor_text))

    # Other recipes on the sample.
    recipe_checks = recipe_passes = 0
    for recipe_name, (recipe, options) in OTHER_RECIPES.items():
        names = [n for n in SAMPLE if n in references]
        output = os.path.join(work, f"{recipe_name}.npy")
        code, how = preprocess(args.resin, [os.path.join(images, n) for n in names], output, options)
        if code != 0:
            failures.append(f"recipe {recipe_name}: {how}")
            recipe_checks += len(names)
            continue
        tensors = np.load(output)
        for index, name in enumerate(names):
            recipe_checks += 1
            ok, text = judge_tensor(tensors[index:index + 1], gen_images.torchvision_tensor(references[name], recipe), recipe)
            recipe_passes += ok
            exact_tensors += text == "bit-exact"
            if not ok:
                failures.append(f"{name}: recipe {recipe_name}: {text}")

    # Broken files: exit 2, the file named, no signal.
    refused = 0
    for name in broken:
        path = os.path.join(images, name)
        code, out, err = run_resin(args.resin, ["preprocess", path, "--output", os.path.join(work, "broken.npy")], TIMEOUT)
        first = err.strip().splitlines()[0] if err.strip() else ""
        ok = code == 2 and first.startswith(f"error: {path}: ")
        refused += ok
        text = first[len(f"error: {path}: "):] if ok else describe_exit(code, out, err)
        rows.append((name, "-", "refused, exit 2" if ok else "NOT REFUSED", text))
        if not ok:
            failures.append(f"{name}: {text}")

    widths = [max(len(str(row[i])) for row in rows + [("image", "size", "decode", "ImageNet tensor")]) for i in range(3)]
    print(f"{'image':<{widths[0]}}  {'size':<{widths[1]}}  {'decode':<{widths[2]}}  ImageNet tensor")
    for row in rows:
        print(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}")
    for failure in failures:
        print(f"FAIL {failure}")
    total_tensors = len(good) + recipe_checks
    print(f"check_images: {len(good)} images, {exact_decodes} decoded exactly as Pillow; "
          f"{within_bounds + recipe_passes}/{total_tensors} tensors within bounds of torchvision "
          f"({exact_tensors} bit-exact, {len(OTHER_RECIPES)} extra recipes); "
          f"{refused}/{len(broken)} broken files refused with exit 2; "
          f"{len(failures)} failures ({time.time() - start:.1f} s)")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
