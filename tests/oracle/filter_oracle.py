#!/usr/bin/python3
"""Cross-checks src/filter against OpenCV (Debian's python3-opencv) on generated frame pairs.

usage: filter_oracle.py FILTER_TOOL

Frames come from ffmpeg's lavfi sources (testsrc2, mandelbrot) at several sizes, odd ones
included, plus moving shapes drawn on them and noise. For every pair each feature must be within
1% of OpenCV's value (or 1e-4 absolute near 0). Gray, GaussianBlur and Canny maps must match
OpenCV bit for bit; the Harris mask may differ on a few pixels (OpenCV sums in float)."""
import os
import subprocess
import sys
import tempfile

import cv2
import numpy as np

REL_TOL = 0.01
ABS_TOL = 1e-4
CORNER_REL = 0.01  # FILTER_CORNER_REL


def cv_corner_mask(gray):
    r = cv2.cornerHarris(np.float32(gray), 5, 3, 0.05)
    r = cv2.dilate(r, None)
    if r.max() <= 0:
        return np.zeros(gray.shape, bool)
    return r > CORNER_REL * r.max()


def cv_features(a, b):
    """EdgeCam's four features on BGR frames, corner with the real threshold."""
    n = a.shape[0] * a.shape[1]
    d = cv2.cvtColor(cv2.absdiff(a, b), cv2.COLOR_BGR2GRAY)
    pixel = np.count_nonzero(cv2.threshold(d, 50, 255, cv2.THRESH_BINARY)[1]) / n
    ga, gb = (cv2.cvtColor(x, cv2.COLOR_BGR2GRAY) for x in (a, b))
    ba, bb = (cv2.GaussianBlur(g, (11, 11), 0) for g in (ga, gb))
    ea, eb = (cv2.Canny(x, 50, 255) for x in (ba, bb))
    edge = np.count_nonzero(cv2.threshold(cv2.absdiff(ea, eb), 30, 255, cv2.THRESH_BINARY)[1]) / n
    m = cv2.threshold(cv2.absdiff(ba, bb), 50, 255, cv2.THRESH_BINARY)[1]
    m = cv2.dilate(m, None)
    cs, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    area = max((cv2.contourArea(c) for c in cs), default=0.0) / n
    corner = np.count_nonzero(cv_corner_mask(ga) != cv_corner_mask(gb)) / n
    return [pixel, edge, area, corner]


def ffmpeg_frames(outdir, name, src, w, h, count):
    pattern = os.path.join(outdir, f"{name}_%03d.ppm")
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"{src}=size={w}x{h}:rate=25",
                    "-frames:v", str(count), "-y", pattern], check=True)
    return [cv2.imread(pattern % (i + 1)) for i in range(count)]


def with_shapes(bg, shift, seed):
    rng = np.random.default_rng(seed)
    img = bg.copy()
    h, w = img.shape[:2]
    for _ in range(4):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        s = int(rng.integers(max(3, h // 12), max(4, h // 4)))
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.integers(0, 2):
            cv2.rectangle(img, (x + shift, y), (x + shift + s, y + s), color, -1)
        else:
            cv2.circle(img, (x + shift, y + shift // 2), s // 2, color, -1)
    return img


def make_pairs(tmp):
    pairs = []
    sources = [("testsrc2", 320, 240), ("mandelbrot", 333, 191), ("testsrc2", 641, 361),
               ("mandelbrot", 97, 61), ("testsrc2", 37, 23)]
    for k, (src, w, h) in enumerate(sources):
        fr = ffmpeg_frames(tmp, f"s{k}", src, w, h, 12)
        tag = f"{src}-{w}x{h}"
        pairs.append((f"{tag} static", fr[0], fr[0].copy()))
        pairs.append((f"{tag} next", fr[0], fr[1]))
        pairs.append((f"{tag} far", fr[0], fr[11]))
        pairs.append((f"{tag} shapes+2px", with_shapes(fr[3], 0, k), with_shapes(fr[3], 2, k)))
        pairs.append((f"{tag} shapes+40px", with_shapes(fr[3], 0, k), with_shapes(fr[4], 40, k)))
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, (150, 211, 3), dtype=np.uint8)
    pairs.append(("noise vs noise", noise, rng.integers(0, 256, noise.shape, dtype=np.uint8)))
    smooth = cv2.GaussianBlur(noise, (0, 0), 3)
    pairs.append(("smooth noise shifted", smooth, np.roll(smooth, 3, axis=1)))
    # Strong edges and many blobs: blocks of random colour, partly shifted and recoloured.
    blocks = cv2.resize(rng.integers(0, 256, (30, 41, 3), dtype=np.uint8), (287, 211),
                        interpolation=cv2.INTER_NEAREST)
    moved = blocks.copy()
    moved[40:150, 30:200] = np.roll(blocks, (5, 9), axis=(0, 1))[40:150, 30:200]
    pairs.append(("blocks shifted", blocks, moved))
    pairs.append(("blocks recoloured", blocks, 255 - blocks))
    # Tiny and degenerate sizes exercise every border rule.
    for w, h in [(1, 1), (2, 3), (5, 1), (1, 6), (7, 9), (12, 4), (13, 13), (24, 17)]:
        a, b = (np.repeat(rng.integers(0, 2, (h, w, 1), dtype=np.uint8) * 255, 3, axis=2)
                for _ in range(2))
        pairs.append((f"random {w}x{h}", a, b))
    return pairs


def run_tool(tool, *args):
    return subprocess.run([tool, *args], check=True, capture_output=True, text=True).stdout


def check_maps(tool, tmp, img, name):
    """Bit-exact intermediate maps; returns a list of failure strings."""
    fails = []
    path = os.path.join(tmp, "map_in.ppm")
    cv2.imwrite(path, img)
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    blur = cv2.GaussianBlur(gray, (11, 11), 0)
    want = {"gray": gray, "blur": blur, "canny": cv2.Canny(blur, 50, 255) // 255,
            "harris": cv_corner_mask(gray).astype(np.uint8)}
    for op, ref in want.items():
        out = os.path.join(tmp, f"map_{op}.pgm")
        run_tool(tool, "dump", op, path, out)
        got = cv2.imread(out, cv2.IMREAD_UNCHANGED)
        bad = int(np.count_nonzero(got != ref))
        limit = 1e-4 * ref.size if op == "harris" else 0
        if bad > limit:
            fails.append(f"{name}: {op} map differs from OpenCV on {bad} of {ref.size} pixels")
    return fails


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    tool = sys.argv[1]
    names = ["pixel", "edge", "area", "corner"]
    fails = []
    moving_nonzero = {n: 0 for n in names}
    worst = [0.0]
    with tempfile.TemporaryDirectory(prefix="edgecam-filter-") as tmp:
        pairs = make_pairs(tmp)
        for i, (name, a, b) in enumerate(pairs):
            pa, pb = os.path.join(tmp, f"p{i}a.ppm"), os.path.join(tmp, f"p{i}b.ppm")
            cv2.imwrite(pa, a)
            cv2.imwrite(pb, b)
            got = [float(v) for v in run_tool(tool, "diff", pa, pb).split()]
            want = cv_features(a, b)
            row = []
            for n, g, w in zip(names, got, want):
                ok = abs(g - w) <= max(REL_TOL * abs(w), ABS_TOL)
                row.append(f"{n}={g:.5f}/{w:.5f}{'' if ok else '!'}")
                if not ok:
                    fails.append(f"{name}: {n} = {g:.6f}, OpenCV {w:.6f}")
                if "shapes+40px" in name and g > 0:
                    moving_nonzero[n] += 1
                if "static" in name and g != 0:
                    fails.append(f"{name}: {n} = {g} on identical frames")
            print(f"{name:32s} " + " ".join(row))
            worst[0] = max([worst[0]] + [abs(g - w) / w for g, w in zip(got, want) if w > 0])
            if any(k in name for k in ("shapes+2px", "noise", "blocks", "random")):
                fails += check_maps(tool, tmp, a, name)
    for n, c in moving_nonzero.items():
        if c == 0:
            fails.append(f"{n}: never > 0 on big motion")
    for f in fails:
        print("FAIL", f)
    print(f"{len(pairs)} pairs, worst relative error {worst[0]:.2e}, {len(fails)} failures")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
