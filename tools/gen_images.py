#!/usr/bin/env python3
"""Makes the images ResinImage is checked with: every JPEG and PNG variant the decoder must read, and broken files.

    tools/gen_images.py [--out DIR]     the full set, into .generated/images (ignored by git)
    tools/gen_images.py --fixtures      the tiny committed set, into Fixtures/images, with Pillow's references

The full set: photographs of a synthetic scene (gradients, shapes, noise, text) at odd sizes (1x1, 3x500,
257x255, one 4000x3000), grayscale JPEG and PNG, palette PNG with transparency, 16-bit PNG (RGB and gray),
RGBA and LA PNG, 1/2/4-bit gray PNG, interlaced PNG, progressive JPEG, 4:4:4, 4:2:2 and 4:2:0 JPEG, EXIF
orientations 1 to 8 (both byte orders, and from XMP), the sample photographs scikit-image ships in its wheel (copied as they
are, and re-encoded), and broken files (truncated, flipped bytes, text named .jpg, empty, CMYK, huge declared
sizes). `manifest.json` lists each file with what the decoder must do with it: `"exact"` (pixels equal to
Pillow's), `"gray16"` (16-bit gray: Pillow clips to 255, Resin keeps the high byte) or `"error"`.

Pillow writes the JPEGs; the PNGs come from this file's own small encoder, since Pillow cannot write
interlaced, 2/4-bit gray or 16-bit RGB files.

The fixtures (each file under 4 KB): the same variants at 24x18 or smaller, a few broken files, `NAME.decoded.npy` (Pillow's
`ImageOps.exif_transpose(Image.open(f)).convert("RGB")`), and `NAME.RECIPE.npy` for the three small recipes
in FIXTURE_RECIPES (torchvision's Resize, CenterCrop, ToTensor and Normalize, then the layout and order).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from toolenv import ensure_venv  # noqa: E402

ensure_venv(__file__)

import argparse  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import struct  # noqa: E402
import zlib  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw, ImageFont, ImageOps  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Small recipes for the fixtures, so that their references stay small: a downscale, a crop larger than the
# resized image on one side (zero padding), and an upscale written NHWC in BGR order. Tests/ResinImageTests
# names the same three.
FIXTURE_RECIPES = {
    "down": dict(resize=12, crop=(10, 9), mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), order="rgb", layout="nchw"),
    "padded": dict(resize=8, crop=(13, 6), mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3), order="rgb", layout="nchw"),
    "up": dict(resize=30, crop=(15, 17), mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), order="bgr", layout="nhwc"),
}


# ---------------------------------------------------------------------------------------------------------
# Pictures

def scene(width, height, seed):
    """A photograph-like RGB picture: a sky-to-ground gradient, overlapping shapes, text, and sensor noise."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height)[:, None]
    x = np.linspace(0, 1, width)[None, :]
    base = np.stack([80 + 120 * y + 30 * x, 120 + 80 * y * x, 200 - 150 * y + 0 * x], axis=-1)
    image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    side = max(min(width, height), 1)
    for _ in range(12):
        cx, cy = rng.integers(0, max(width, 1)), rng.integers(0, max(height, 1))
        r = int(rng.integers(1, max(side // 3, 2)))
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        shape = rng.integers(0, 3)
        if shape == 0:
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color)
        elif shape == 1:
            draw.rectangle([cx - r, cy - r // 2, cx + r, cy + r // 2], fill=color)
        else:
            draw.polygon([(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)], fill=color)
    if side >= 24:
        font = ImageFont.load_default(size=max(side // 10, 8))
        draw.text((width // 10, height // 10), "Resin 12", fill=(250, 250, 240), font=font)
    pixels = np.asarray(image).astype(np.int16)
    pixels += rng.normal(0, 6, pixels.shape).astype(np.int16)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def jpeg(array, **options):
    """JPEG bytes from Pillow (the same libjpeg-turbo family Resin reads with)."""
    out = io.BytesIO()
    mode = "L" if array.ndim == 2 else "RGB"
    Image.fromarray(array, mode).save(out, format="JPEG", quality=options.pop("quality", 90), **options)
    return out.getvalue()


def exif_orientation(orientation, big_endian=False):
    """An APP1 EXIF payload ("Exif\\0\\0", a TIFF header, IFD0 with one Orientation SHORT)."""
    order = ">" if big_endian else "<"
    tiff = (b"MM\x00\x2a" if big_endian else b"II\x2a\x00") + struct.pack(order + "I", 8)
    ifd = struct.pack(order + "H", 2)
    ifd += struct.pack(order + "HHI", 0x010F, 2, 4) + b"Cam\x00"  # Make, ASCII, 4 bytes inline
    ifd += struct.pack(order + "HHIHH", 0x0112, 3, 1, orientation, 0)
    ifd += struct.pack(order + "I", 0)
    return b"Exif\x00\x00" + tiff + ifd


# ---------------------------------------------------------------------------------------------------------
# A small PNG encoder: any color type and bit depth, Adam7 interlacing, PLTE and tRNS.

ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def pack_row(row, depth):
    """One scanline's samples (a 1-D array) as bytes at `depth` bits each, most significant first."""
    if depth == 16:
        return row.astype(">u2").tobytes()
    if depth == 8:
        return row.astype(np.uint8).tobytes()
    per_byte = 8 // depth
    padded = np.zeros(-(-len(row) // per_byte) * per_byte, dtype=np.uint8)
    padded[: len(row)] = row
    groups = padded.reshape(-1, per_byte)
    shifts = np.array([8 - depth * (i + 1) for i in range(per_byte)], dtype=np.uint8)
    return (groups << shifts).sum(axis=1).astype(np.uint8).tobytes()


def png(samples, color_type, depth, interlace=False, palette=None, transparency=None, filters=(0,),
        before_data=(), after_data=()):
    """PNG bytes for `samples` (height x width x channels integers). Rows cycle through `filters`
    (0 none, 1 sub, 2 up) so the decoder's unfiltering is exercised too; `before_data` and `after_data` are
    extra (tag, payload) chunks around the image data."""
    height, width = samples.shape[:2]
    samples = samples.reshape(height, width, CHANNELS[color_type])
    bytes_per_pixel = max(1, CHANNELS[color_type] * depth // 8)
    raw = bytearray()
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    count = 0
    for x0, y0, dx, dy in passes:
        sub = samples[y0::dy, x0::dx]
        if sub.shape[0] == 0 or sub.shape[1] == 0:
            continue
        previous = None
        for row in sub:
            line = np.frombuffer(pack_row(row.reshape(-1), depth), dtype=np.uint8).astype(np.int16)
            kind = filters[count % len(filters)]
            count += 1
            if kind == 1:
                left = np.concatenate([np.zeros(bytes_per_pixel, np.int16), line[:-bytes_per_pixel]])
                encoded = (line - left) % 256
            elif kind == 2 and previous is not None:
                encoded = (line - previous) % 256
            else:
                kind, encoded = 0, line
            raw += bytes([kind]) + encoded.astype(np.uint8).tobytes()
            previous = line
    data = b"\x89PNG\r\n\x1a\n"
    data += chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 1 if interlace else 0))
    if palette is not None:
        data += chunk(b"PLTE", np.asarray(palette, dtype=np.uint8).tobytes())
    if transparency is not None:
        data += chunk(b"tRNS", transparency)
    for tag, payload in before_data:
        data += chunk(tag, payload)
    data += chunk(b"IDAT", zlib.compress(bytes(raw), 9))
    for tag, payload in after_data:
        data += chunk(tag, payload)
    return data + chunk(b"IEND", b"")


def gray(rgb):
    return (rgb.astype(np.uint32) @ np.array([299, 587, 114]) // 1000).astype(np.uint8)


def png_variants(picture, seed):
    """Every PNG layout Resin reads, made from one RGB picture: name -> (bytes, expectation)."""
    rng = np.random.default_rng(seed)
    height, width = picture.shape[:2]
    luma = gray(picture)
    alpha = rng.integers(0, 256, (height, width, 1))
    wide = picture.astype(np.uint16) * 257 + rng.integers(0, 257, picture.shape).astype(np.uint16)
    wide_gray = luma.astype(np.uint16) * 257 + rng.integers(0, 257, luma.shape).astype(np.uint16)
    palette = rng.integers(0, 256, (16, 3))
    indices = (luma // 16).astype(np.uint8)
    return {
        "rgb8.png": (png(picture, 2, 8, filters=(0, 1, 2)), "exact"),
        "rgba8.png": (png(np.concatenate([picture, alpha], axis=2), 6, 8), "exact"),
        "gray8.png": (png(luma, 0, 8), "exact"),
        "gray-alpha8.png": (png(np.stack([luma, alpha[..., 0]], axis=2), 4, 8), "exact"),
        "gray1.png": (png(luma >> 7, 0, 1), "exact"),
        "gray2.png": (png(luma >> 6, 0, 2), "exact"),
        "gray4.png": (png(luma >> 4, 0, 4, filters=(1, 2)), "exact"),
        "gray16.png": (png(wide_gray, 0, 16), "gray16"),
        "gray-alpha16.png": (png(np.stack([wide_gray, wide_gray // 3], axis=2), 4, 16), "exact"),
        "rgb16.png": (png(wide, 2, 16), "exact"),
        "rgba16.png": (png(np.concatenate([wide, (alpha * 257).astype(np.uint16)], axis=2), 6, 16), "exact"),
        "palette4.png": (png(indices, 3, 4, palette=palette), "exact"),
        "palette8-trns.png": (png(indices, 3, 8, palette=palette, transparency=bytes(range(0, 160, 10))), "exact"),
        "palette2.png": (png(indices >> 2, 3, 2, palette=palette[:4]), "exact"),
        "interlaced-rgb8.png": (png(picture, 2, 8, interlace=True, filters=(0, 1, 2)), "exact"),
        "interlaced-gray2.png": (png(luma >> 6, 0, 2, interlace=True), "exact"),
        "interlaced-palette8-trns.png": (png(indices, 3, 8, interlace=True, palette=palette, transparency=b"\x00\x80"), "exact"),
        # Orientation in PNG: an eXIf chunk (before or after the image data) or an XMP iTXt chunk.
        "png-exif-6.png": (png(picture, 2, 8, before_data=[(b"eXIf", exif_orientation(6)[6:])]), "exact"),
        "png-exif-8-after-data.png": (png(picture, 2, 8, after_data=[(b"eXIf", exif_orientation(8, True)[6:])]), "exact"),
        "png-xmp-5.png": (png(picture, 2, 8, before_data=[(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + xmp_orientation(5))]), "exact"),
    }


def jpeg_variants(picture):
    """Every JPEG layout Resin reads: name -> (bytes, expectation)."""
    return {
        "baseline-420.jpg": (jpeg(picture, subsampling=2), "exact"),
        "baseline-422.jpg": (jpeg(picture, subsampling=1), "exact"),
        "baseline-444.jpg": (jpeg(picture, subsampling=0), "exact"),
        "progressive-420.jpg": (jpeg(picture, progressive=True, subsampling=2), "exact"),
        "progressive-444.jpg": (jpeg(picture, progressive=True, subsampling=0, quality=75), "exact"),
        "optimized-restart.jpg": (jpeg(picture, optimize=True, restart_marker_blocks=4), "exact"),
        "gray.jpg": (jpeg(gray(picture)), "exact"),
        "gray-progressive.jpg": (jpeg(gray(picture), progressive=True), "exact"),
    }


def orientation_variants(picture):
    out = {}
    for orientation in range(1, 9):
        out[f"exif-{orientation}.jpg"] = (jpeg(picture, exif=exif_orientation(orientation)), "exact")
    for orientation in (3, 6, 8):
        out[f"exif-{orientation}-big-endian.jpg"] = (jpeg(picture, exif=exif_orientation(orientation, True)), "exact")
    # Pillow also reads the orientation from XMP when EXIF has none (and not when EXIF has one).
    out["xmp-6.jpg"] = (jpeg(picture, xmp=xmp_orientation(6)), "exact")
    out["exif-3-xmp-6.jpg"] = (jpeg(picture, exif=exif_orientation(3), xmp=xmp_orientation(6)), "exact")
    return out


def xmp_orientation(orientation):
    """An XMP packet whose tiff:Orientation is `orientation`."""
    return (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            b'<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="%d"/>'
            b'</rdf:RDF></x:xmpmeta>' % orientation)


def broken_variants(good_jpeg, good_png, picture):
    """Files Resin must refuse with an error naming the file (exit 2), never a crash."""
    out = {}
    for name, data in (("jpg", good_jpeg), ("png", good_png)):
        for fraction in (0.1, 0.5, 0.9):
            out[f"broken-truncated-{int(fraction * 100)}.{name}"] = data[: int(len(data) * fraction)]
        out[f"broken-header-only.{name}"] = data[:30]
    # Bytes flipped inside the headers (dimensions, tables) where every decoder must notice.
    header = bytearray(good_png)
    header[16:24] = b"\xff" * 8  # IHDR width and height (and its CRC no longer matches)
    out["broken-ihdr.png"] = bytes(header)
    idat = bytearray(good_png)
    start = good_png.index(b"IDAT") + 8
    for offset in range(start, min(start + 40, len(idat) - 12), 3):
        idat[offset] ^= 0x5A
    out["broken-idat.png"] = bytes(idat)
    sof = bytearray(good_jpeg)
    marker = good_jpeg.index(b"\xff\xc0")
    sof[marker + 9] = 7  # component count in the frame header
    out["broken-sof.jpg"] = bytes(sof)
    out["broken-text.jpg"] = b"<html><body>this is a web page, not a picture</body></html>\n"
    out["broken-empty.png"] = b""
    out["broken-cmyk.jpg"] = cmyk_jpeg(picture)
    out["broken-huge.png"] = png_header_only(60000, 60000)
    out["broken-too-wide.png"] = png_header_only(70000, 2)
    out["broken-zero.png"] = png_header_only(0, 5)
    out["broken-huge.jpg"] = jpeg_with_size(good_jpeg, 65000, 65000)
    return out


def cmyk_jpeg(picture):
    out = io.BytesIO()
    Image.fromarray(picture, "RGB").convert("CMYK").save(out, format="JPEG")
    return out.getvalue()


def png_header_only(width, height):
    """A PNG declaring a size, with a tiny IDAT: a decoder must refuse it before allocating the pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def jpeg_with_size(data, width, height):
    """`data` with its frame header's dimensions replaced."""
    patched = bytearray(data)
    marker = data.index(b"\xff\xc0")
    patched[marker + 5:marker + 9] = struct.pack(">HH", height, width)
    return bytes(patched)


# ---------------------------------------------------------------------------------------------------------
# Sets

def skimage_photographs():
    """The sample photographs in scikit-image's wheel (no download): copied as shipped, and re-encoded."""
    import skimage
    folder = os.path.join(os.path.dirname(skimage.__file__), "data")
    out = {}
    for name in ("rocket.jpg", "hubble_deep_field.jpg", "retina.jpg", "astronaut.png", "coffee.png",
                 "camera.png", "logo.png", "motorcycle_left.png"):
        with open(os.path.join(folder, name), "rb") as f:
            out["skimage-" + name] = (f.read(), "exact")
    for name in ("astronaut", "chelsea", "coffee"):
        picture = np.asarray(Image.open(os.path.join(folder, name + ".png")).convert("RGB"))
        out[f"skimage-{name}-q85.jpg"] = (jpeg(picture, quality=85), "exact")
    return out


def full_set():
    images = {}
    main = scene(500, 375, 1)
    images.update({"scene-500x375-" + k: v for k, v in jpeg_variants(main).items()})
    images.update({"scene-500x375-" + k: v for k, v in png_variants(main, 2).items()})
    portrait = scene(375, 500, 3)
    images.update({"scene-375x500-" + k: v for k, v in orientation_variants(portrait).items()})
    for width, height in ((1, 1), (3, 500), (500, 3), (257, 255), (224, 224), (225, 223), (2, 2)):
        picture = scene(width, height, width * 1000 + height)
        images[f"size-{width}x{height}.jpg"] = (jpeg(picture), "exact")
        images[f"size-{width}x{height}.png"] = (png(picture, 2, 8), "exact")
        images[f"size-{width}x{height}-interlaced.png"] = (png(picture, 2, 8, interlace=True), "exact")
    images["size-4000x3000.jpg"] = (jpeg(scene(4000, 3000, 7), quality=80), "exact")
    images.update(skimage_photographs())
    good_jpeg = images["scene-500x375-baseline-420.jpg"][0]
    good_png = images["scene-500x375-rgb8.png"][0]
    images.update({k: (v, "error") for k, v in broken_variants(good_jpeg, good_png, main).items()})
    return images


def fixture_set():
    picture = scene(24, 18, 11)
    images = {}
    images.update({k: v for k, v in jpeg_variants(picture).items()
                   if k in ("baseline-420.jpg", "baseline-444.jpg", "progressive-420.jpg", "gray.jpg")})
    images.update(png_variants(picture, 12))
    small = scene(7, 5, 13)
    images.update({k: v for k, v in orientation_variants(small).items()})
    images["size-1x1.png"] = (png(scene(1, 1, 14), 2, 8), "exact")
    images["size-3x40.jpg"] = (jpeg(scene(3, 40, 15)), "exact")
    broken = broken_variants(images["baseline-420.jpg"][0], images["rgb8.png"][0], picture)
    for name in ("broken-text.jpg", "broken-cmyk.jpg", "broken-huge.png", "broken-too-wide.png", "broken-zero.png",
                 "broken-huge.jpg", "broken-sof.jpg", "broken-ihdr.png"):
        images[name] = (broken[name], "error")
    return images


def pillow_rgb(path, expectation):
    """What Pillow decodes; for 16-bit gray, the high byte of Pillow's 16-bit samples (Pillow itself clips
    them to 255 when converting to RGB, which would make such an image white)."""
    with Image.open(path) as image:
        if expectation == "gray16":
            high = (np.asarray(image).astype(np.uint16) >> 8).astype(np.uint8)
            return np.repeat(high[:, :, None], 3, axis=2)
        return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))


def torchvision_tensor(pixels, recipe):
    """torchvision's preprocessing of RGB pixels (a PIL image made from them), then layout and channel order."""
    from torchvision import transforms
    transform = transforms.Compose([
        transforms.Resize(recipe["resize"]),
        transforms.CenterCrop(tuple(recipe["crop"])),
        transforms.ToTensor(),
        transforms.Normalize(list(recipe["mean"]), list(recipe["std"])),
    ])
    tensor = transform(Image.fromarray(pixels, "RGB")).numpy()
    if recipe["order"] == "bgr":
        tensor = tensor[::-1]
    if recipe["layout"] == "nhwc":
        tensor = tensor.transpose(1, 2, 0)
    return np.ascontiguousarray(tensor[None], dtype=np.float32)


def write_set(images, folder):
    os.makedirs(folder, exist_ok=True)
    for name, (data, _) in images.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)
    manifest = {name: expectation for name, (_, expectation) in sorted(images.items())}
    with open(os.path.join(folder, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, ".generated", "images"))
    parser.add_argument("--fixtures", action="store_true", help="write the tiny committed set to Fixtures/images")
    args = parser.parse_args()
    if args.fixtures:
        folder = os.path.join(ROOT, "Fixtures", "images")
        shutil.rmtree(folder, ignore_errors=True)
        images = fixture_set()
        write_set(images, folder)
        for name, (_, expectation) in sorted(images.items()):
            path = os.path.join(folder, name)
            assert len(images[name][0]) < 4096, f"{name} is {len(images[name][0])} bytes, fixtures stay under 4 KB"
            if expectation == "error":
                continue
            base = os.path.splitext(path)[0]
            pixels = pillow_rgb(path, expectation)
            np.save(base + ".decoded.npy", pixels)
            for recipe_name, recipe in FIXTURE_RECIPES.items():
                np.save(f"{base}.{recipe_name}.npy", torchvision_tensor(pixels, recipe))
        print(f"{len(images)} fixtures in {os.path.relpath(folder, ROOT)}")
    else:
        images = full_set()
        shutil.rmtree(args.out, ignore_errors=True)
        write_set(images, args.out)
        print(f"{len(images)} images in {args.out}")


if __name__ == "__main__":
    main()
