#!/usr/bin/env python3
"""`resin run --image/--images` against torchvision and ONNX Runtime, and sharded batch scoring end to end.

With ResNet-18 (1,000 ImageNet classes) converted by `resin convert --preprocess imagenet --labels`:
  (a) `--image ... --format json`: each image's top-5 classes equal ONNX Runtime's top-5 on torchvision's
      tensor (EXIF transpose, Resize(256), CenterCrop(224), ToTensor, Normalize on the Pillow image), scores
      within 1e-4, labels the stored names;
  (b) `--shard auto` as 4 processes (JOB_COMPLETION_INDEX 0..3 of JOB_COMPLETIONS 4, JSON Lines; then
      SLURM_ARRAY_TASK_ID 1..4 with SLURM_ARRAY_TASK_MIN 1, CSV) merged by `resin merge-results` equal one
      unsharded run byte for byte;
  (c) a shard killed with SIGKILL half way leaves no output file; rerunning it gives the unsharded run's
      records; `--resume` on a finished shard exits 0 and leaves the file untouched (same mtime);
  (d) corrupt images (truncated JPEG, HTML named .jpg, empty PNG, a folder named .png is skipped): per-image
      error records and the run goes on (exit 1); `--fail-fast` exits 2 naming the file; never a signal.

Test images: photographs of a synthetic scene made here with Pillow (seeded), in several sizes, as baseline
and progressive JPEG, PNG (RGB, grayscale, palette) and one JPEG with an EXIF orientation; and for (a) and
(d) also the whole set tools/gen_images.py makes (its manifest says which files are broken).

    tools/check_image_run.py --resin .build/release/resin [--work DIR]
"""
import argparse
import filecmp
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings

import toolenv

toolenv.ensure_venv(__file__)

import numpy as np  # noqa: E402
import torchvision  # noqa: E402
from PIL import Image, ImageDraw, ImageFilter, ImageOps  # noqa: E402
from torchvision import transforms  # noqa: E402

from checksupport import how_it_ended, run_resin  # noqa: E402
from ortsupport import ort_session  # noqa: E402

# Pillow warns that palette images with transparency would be better converted to RGBA; the reference
# converts to RGB as the decoder does, which drops the transparency on purpose.
warnings.filterwarnings("ignore", message="Palette images with Transparency")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, ".generated", "full", "resnet18", "model.onnx")
SCORE_TOLERANCE = 1e-4
TIMEOUT = 120


def synthetic_photo(rng, width, height):
    """A photograph-like scene: a sky gradient, hills, a sun, textured shapes, noise and a slight blur, so
    that JPEG coding, resizing and the model all see varied detail rather than flat colours."""
    sky_top = rng.integers(60, 200, 3)
    sky_bottom = rng.integers(120, 255, 3)
    t = np.linspace(0, 1, height)[:, None, None]
    pixels = (sky_top * (1 - t) + sky_bottom * t) * np.ones((1, width, 1))
    image = Image.fromarray(pixels.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    sun = rng.integers(0, width), rng.integers(0, height // 3), rng.integers(height // 12 + 2, height // 5 + 3)
    draw.ellipse([sun[0] - sun[2], sun[1] - sun[2], sun[0] + sun[2], sun[1] + sun[2]], fill=tuple(rng.integers(200, 256, 3)))
    for layer in range(3):
        base = height * (0.45 + 0.15 * layer)
        xs = np.linspace(0, width, 9)
        ys = base + rng.normal(0, height * 0.06, xs.size)
        colour = tuple(int(c) for c in rng.integers(20, 140, 3))
        draw.polygon([(0, height)] + list(zip(xs.tolist(), ys.tolist())) + [(width, height)], fill=colour)
    for _ in range(int(rng.integers(4, 12))):
        x, y = int(rng.integers(0, width)), int(rng.integers(height // 3, height))
        w, h = int(rng.integers(width // 20 + 1, width // 5 + 2)), int(rng.integers(height // 20 + 1, height // 4 + 2))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.rectangle([x, y, x + w, y + h], fill=colour, outline=(0, 0, 0))
        else:
            draw.ellipse([x, y, x + w, y + h], fill=colour)
    noisy = np.asarray(image).astype(np.int16) + rng.normal(0, 6, (height, width, 3)).astype(np.int16)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB").filter(ImageFilter.GaussianBlur(0.6))


def make_images(folder, seed=12):
    """The test images, written once per folder; returns their paths in name order."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    specs = [("a-baseline.jpg", 500, 375), ("b-progressive.jpg", 320, 480), ("c-small.jpg", 100, 75),
             ("d-rgb.png", 300, 300), ("e-grey.png", 256, 200), ("f-palette.png", 260, 180),
             ("g-exif-rotated.jpg", 400, 240), ("h-wide.JPEG", 640, 240)]
    for name, width, height in specs:
        path = os.path.join(folder, name)
        if os.path.exists(path):
            continue
        photo = synthetic_photo(rng, width, height)
        if name.startswith("b-"):
            photo.save(path, quality=85, progressive=True)
        elif name.startswith("e-"):
            photo.convert("L").save(path)
        elif name.startswith("f-"):
            photo.convert("P", palette=Image.Palette.ADAPTIVE, colors=64).save(path)
        elif name.startswith("g-"):
            exif = Image.Exif()
            exif[0x0112] = 6  # rotate 90 degrees clockwise to display
            photo.save(path, quality=90, exif=exif)
        elif name.endswith(".png"):
            photo.save(path)
        else:
            photo.save(path, format="JPEG", quality=90)
    return sorted(os.path.join(folder, name) for name, _, _ in specs)


def torchvision_reference(paths, session):
    """(top-5 classes, their softmax scores) per image from ONNX Runtime on torchvision's tensor."""
    preprocess = transforms.Compose([
        transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
        transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])
    name = session.get_inputs()[0].name
    results = []
    for path in paths:
        with Image.open(path) as image:
            tensor = preprocess(ImageOps.exif_transpose(image).convert("RGB")).unsqueeze(0).numpy()
        logits = session.run(None, {name: tensor})[0][0].astype(np.float64)
        scores = np.exp(logits - logits.max())
        scores /= scores.sum()
        order = sorted(range(scores.size), key=lambda i: (-scores[i], i))[:5]
        results.append((order, scores))
    return results


class Checker:
    def __init__(self, resin, work):
        self.resin = resin
        self.work = work
        self.failures = []
        self.passed = 0

    def expect(self, condition, what):
        if condition:
            self.passed += 1
        else:
            self.failures.append(what)
            print(f"FAIL {what}")

    def resin_run(self, args, env=None, timeout=TIMEOUT):
        if env is None:
            return run_resin(self.resin, args, timeout)
        full = {k: v for k, v in os.environ.items() if not k.startswith(("JOB_COMPLETION", "SLURM_ARRAY"))}
        full.update(env)
        try:
            r = subprocess.run([self.resin] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, timeout=timeout, env=full)
        except subprocess.TimeoutExpired:
            return None, "", "hung"
        return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")

    def expect_exit(self, result, code, what):
        status, _, err = result
        self.expect(status == code, f"{what}: expected exit {code}, got {how_it_ended(status) if status is None or status < 0 else status}: {err.strip()[:300]}")


def check_against_torchvision(c, model, paths):
    status, out, err = c.resin_run(["run", model, "--image", *paths, "--format", "json", "--threads", "2"])
    c.expect_exit((status, out, err), 0, "--image on the test images")
    records = [json.loads(line) for line in out.splitlines() if line]
    c.expect([r.get("image") for r in records] == paths, "--image records come in the order given, paths as given")
    labels = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"]
    reference = torchvision_reference(paths, ort_session(MODEL, 2))
    worst = 0.0
    for record, (order, scores) in zip(records, reference):
        top = record.get("top", [])
        classes = [entry["class"] for entry in top]
        if classes != order:
            # Two classes whose probabilities differ by less than the score tolerance may swap places.
            tie = len(classes) == 5 and all(abs(scores[a] - scores[b]) < SCORE_TOLERANCE for a, b in zip(classes, order) if a != b)
            c.expect(tie, f"{record['image']}: top-5 {classes}, ONNX Runtime on torchvision's tensor {order}")
        for entry in top:
            worst = max(worst, abs(entry["score"] - scores[entry["class"]]))
            c.expect(entry["label"] == labels[entry["class"]], f"{record['image']}: class {entry['class']} labelled {entry['label']!r}")
    c.expect(worst <= SCORE_TOLERANCE, f"scores within {SCORE_TOLERANCE} of ONNX Runtime's (worst {worst:.2e})")
    print(f"(a) {len(records)} images: top-5 as ONNX Runtime on torchvision's tensor, worst score difference {worst:.2e}")


def check_generated_set(c, model):
    """Every image tools/gen_images.py makes (odd sizes, bit depths, palettes, EXIF orientations, scikit-image's
    sample photographs, broken files) through `--images`: top-5 as ONNX Runtime on torchvision's tensor for
    the images Pillow decodes as Resin does, an error record for each broken file, and the run goes on."""
    folder = os.path.join(c.work, "generated")
    made = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "gen_images.py"), "--out", folder],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if made.returncode != 0:
        c.expect(False, f"tools/gen_images.py failed: {made.stderr.strip()[:300]}")
        return
    with open(os.path.join(folder, "manifest.json")) as f:
        manifest = json.load(f)
    status, out, err = c.resin_run(["run", model, "--images", folder, "--format", "json"])
    c.expect(status is not None and status >= 0, f"generated images: never a signal ({how_it_ended(status)})")
    broken = sorted(name for name, expect in manifest.items() if expect == "error")
    c.expect_exit((status, out, err), 1 if broken else 0, "--images over the generated set")
    records = {os.path.basename(r["image"]): r for r in (json.loads(line) for line in out.splitlines() if line)}
    c.expect(sorted(records) == sorted(manifest), f"one record per generated image: {len(records)} of {len(manifest)}")
    for name in broken:
        c.expect(bool(records.get(name, {}).get("error")), f"{name}: an error record")
    exact = sorted(name for name, expect in manifest.items() if expect == "exact" and name in records)
    reference = torchvision_reference([os.path.join(folder, name) for name in exact], ort_session(MODEL, 2))
    worst, agreed = 0.0, 0
    for name, (order, scores) in zip(exact, reference):
        top = records[name].get("top", [])
        classes = [entry["class"] for entry in top]
        tie = len(classes) == 5 and all(abs(scores[a] - scores[b]) < SCORE_TOLERANCE for a, b in zip(classes, order) if a != b)
        c.expect(classes == order or tie, f"{name}: top-5 {classes}, ONNX Runtime on torchvision's tensor {order}")
        agreed += classes == order or tie
        for entry in top:
            worst = max(worst, abs(entry["score"] - scores[entry["class"]]))
    c.expect(worst <= SCORE_TOLERANCE, f"generated set: scores within {SCORE_TOLERANCE} of ONNX Runtime's (worst {worst:.2e})")
    print(f"(a) generated set: {agreed} of {len(exact)} images with ONNX Runtime's top-5 (worst score difference "
          f"{worst:.2e}), {len(broken)} broken files as error records")


def check_shards(c, model, images):
    for label, fmt, extension, envs in [
        ("Kubernetes", "json", "jsonl", [{"JOB_COMPLETION_INDEX": str(i), "JOB_COMPLETIONS": "4"} for i in range(4)]),
        ("Slurm", "csv", "csv", [{"SLURM_ARRAY_TASK_ID": str(i + 1), "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "1"} for i in range(4)]),
    ]:
        folder = os.path.join(c.work, f"shards-{label.lower()}")
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        whole = os.path.join(folder, f"whole.{extension}")
        c.expect_exit(c.resin_run(["run", model, "--images", images, "--format", fmt, "--output", whole, "--threads", "1"]), 0,
                      f"{label}: the unsharded run")
        pattern = os.path.join(folder, f"part-{{shard}}.{extension}")
        processes = []
        for env in envs:
            full = {k: v for k, v in os.environ.items() if not k.startswith(("JOB_COMPLETION", "SLURM_ARRAY"))}
            full.update(env)
            processes.append(subprocess.Popen(
                [c.resin, "run", model, "--images", images, "--format", fmt, "--output", pattern, "--shard", "auto",
                 "--resume", "--threads", "1"], env=full, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        for process in processes:
            _, err = process.communicate(timeout=TIMEOUT)
            c.expect(process.returncode == 0, f"{label}: a shard exited {process.returncode}: {err.decode(errors='replace').strip()[:300]}")
        parts = sorted(os.path.join(folder, f"part-{i}.{extension}") for i in range(4))
        c.expect(all(os.path.exists(p) for p in parts), f"{label}: every shard wrote part-I.{extension}")
        merged = os.path.join(folder, f"merged.{extension}")
        c.expect_exit(c.resin_run(["merge-results", *parts, "--output", merged]), 0, f"{label}: merge-results")
        c.expect(os.path.exists(merged) and filecmp.cmp(merged, whole, shallow=False),
                 f"{label}: the merged shards equal the unsharded run byte for byte")
        print(f"(b) {label}: 4 shards ({fmt}) merged equal the unsharded run")


def check_kill_and_resume(c, model, images):
    folder = os.path.join(c.work, "kill")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    # A long list: the same images many times over, so the run is still going when it is killed.
    listing = os.path.join(folder, "list.txt")
    names = sorted(os.path.join(images, n) for n in os.listdir(images))
    with open(listing, "w") as f:
        f.write("# repeated test images\n\n" + "".join(f"{p}\n" for p in names * 30))
    expected = os.path.join(folder, "expected.jsonl")
    c.expect_exit(c.resin_run(["run", model, "--images", listing, "--format", "json", "--output", expected]), 0,
                  "the uninterrupted run of the long list")
    if not os.path.exists(expected):
        return
    output = os.path.join(folder, "part-1.jsonl")
    partial = os.path.join(folder, ".part-1.jsonl.partial")
    args = [c.resin, "run", model, "--images", listing, "--format", "json", "--output", os.path.join(folder, "part-{shard}.jsonl"),
            "--shard", "1/2", "--resume"]
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    # The temporary file appears once the model is loaded and scoring starts; records reach it in blocks.
    while time.monotonic() < deadline and process.poll() is None and not os.path.exists(partial):
        time.sleep(0.01)
    time.sleep(0.3)
    killed = process.poll() is None
    process.kill()
    process.wait()
    c.expect(killed, "the shard was still running when killed (scoring had started)")
    c.expect(not os.path.exists(output), "a killed shard leaves no output file")
    c.expect_exit(c.resin_run(args[1:]), 0, "the rerun of the killed shard")
    with open(expected) as f:
        lines = f.readlines()
    half = lines[len(lines) // 2:]
    if not os.path.exists(output):
        return
    with open(output) as f:
        c.expect(f.readlines() == half, "the rerun shard holds the second half of the uninterrupted run's records")
    c.expect(not os.path.exists(partial), "no temporary file is left after the rerun")
    before = os.stat(output).st_mtime_ns if os.path.exists(output) else None
    time.sleep(0.05)
    status, _, err = c.resin_run(args[1:])
    c.expect(status == 0 and "done" in err, f"--resume on a finished shard exits 0 saying it is done: {status} {err.strip()[:200]}")
    c.expect(before is not None and os.stat(output).st_mtime_ns == before, "--resume leaves a finished shard's file untouched")
    print(f"(c) killed shard left no file; rerun equal; --resume did nothing ({len(half)} records)")


def check_corrupt(c, model, images):
    folder = os.path.join(c.work, "corrupt")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    good = sorted(os.path.join(images, n) for n in os.listdir(images))[:2]
    for path in good:
        shutil.copy(path, folder)
    with open(good[0], "rb") as f:
        jpeg = f.read()
    bad = {"x-truncated.jpg": jpeg[: len(jpeg) // 3], "y-html.jpg": b"<html><body>not an image</body></html>\n",
           "z-empty.png": b""}
    for name, data in bad.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)
    os.makedirs(os.path.join(folder, "w-folder.png"))
    status, out, err = c.resin_run(["run", model, "--images", folder, "--format", "json"])
    c.expect(status is not None and status >= 0, f"corrupt images: never a signal ({how_it_ended(status)})")
    c.expect_exit((status, out, err), 1, "a run with corrupt images goes on and exits 1")
    records = [json.loads(line) for line in out.splitlines() if line]
    by_name = {os.path.basename(r["image"]): r for r in records}
    c.expect(sorted(by_name) == sorted([os.path.basename(p) for p in good] + list(bad)),
             f"one record per image file, the folder named .png skipped: {sorted(by_name)}")
    for name in bad:
        c.expect("error" in by_name.get(name, {}) and by_name[name]["error"], f"{name}: an error record")
    for path in good:
        c.expect(len(by_name.get(os.path.basename(path), {}).get("top", [])) == 5, f"{path}: scored despite the corrupt files")
    status, out, err = c.resin_run(["run", model, "--images", folder, "--format", "json", "--fail-fast",
                                    "--output", os.path.join(folder, "out.jsonl")])
    c.expect(status is not None and status >= 0, "--fail-fast: never a signal")
    c.expect_exit((status, out, err), 2, "--fail-fast on a corrupt image")
    c.expect("x-truncated.jpg" in err, f"--fail-fast names the first bad file: {err.strip()[:200]}")
    c.expect(not os.path.exists(os.path.join(folder, "out.jsonl")), "--fail-fast leaves no output file")
    print(f"(d) corrupt images: {len(bad)} error records, run went on; --fail-fast exit 2 naming the file")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resin", required=True)
    parser.add_argument("--work", default=os.path.join(ROOT, ".generated", "image-run-check"))
    args = parser.parse_args()
    start = time.monotonic()
    c = Checker(os.path.abspath(args.resin), os.path.abspath(args.work))
    os.makedirs(c.work, exist_ok=True)
    images = os.path.join(c.work, "images")
    paths = make_images(images)

    labels = os.path.join(c.work, "labels.txt")
    with open(labels, "w") as f:
        f.write("".join(name + "\n" for name in torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"]))
    model = os.path.join(c.work, "resnet18.resin")
    c.expect_exit(c.resin_run(["convert", MODEL, model, "--preprocess", "imagenet", "--labels", labels]), 0,
                  "convert --preprocess imagenet --labels")
    if not os.path.exists(model):
        print("FAIL: no converted model; nothing more to check")
        return 1
    check_against_torchvision(c, model, paths)
    check_generated_set(c, model)
    check_shards(c, model, images)
    check_kill_and_resume(c, model, images)
    check_corrupt(c, model, images)
    print(f"{c.passed} checks passed, {len(c.failures)} failed ({time.monotonic() - start:.0f} s)")
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main())
