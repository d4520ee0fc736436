"""A CNN built up step by step on a real photo (scikit-image's chelsea the cat), following the
path of the article "Architecture of CNNs demystified": pixels, one weight, two-pixel weights,
zero padding, several filters, 2-D edge kernels, stride and padding, max, average and L2
pooling. Each figure uses one grey scale for all its panels, and strided or pooled outputs are
drawn to scale with their input.

    python examples/01_cnn_walkthrough.py [OUT_DIR]     # one PNG per stage in OUT_DIR

Needs scikit-image and matplotlib (pip install scikit-image matplotlib).
"""

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from skimage import data  # noqa: E402

import tinygrad_cnn as tc  # noqa: E402
import tinygrad_cnn.nn.functional as F  # noqa: E402
from tinygrad_cnn.nn import conv_output_size  # noqa: E402


def save(out_dir, name, images, titles, vmin=None, vmax=None, to_scale=False):
    """One PNG with a panel per image. Grey panels share one fixed scale (vmin..vmax, default
    the smallest and largest value over all grey panels), so a panel that is darker or has a
    wider range looks it; matplotlib would otherwise stretch each panel to its own range. With
    ``to_scale`` every panel has the first image's pixel grid, so a smaller output (strided,
    pooled) is drawn smaller, not stretched to the input's size."""
    greys = [np.asarray(img) for img in images if np.ndim(img) == 2]
    lo = min(float(g.min()) for g in greys) if vmin is None and greys else vmin
    hi = max(float(g.max()) for g in greys) if vmax is None and greys else vmax
    H0, W0 = np.shape(images[0])[:2]
    fig, axes = plt.subplots(1, len(images), figsize=(4 * len(images), 3.6), squeeze=False)
    for ax, img, title in zip(axes[0], images, titles, strict=True):
        h, w = np.shape(img)[:2]
        ax.imshow(img, cmap="gray" if np.ndim(img) == 2 else None, vmin=lo, vmax=hi,
                  extent=(0, w, h, 0), interpolation="nearest")
        if to_scale:
            ax.set_xlim(0, W0)
            ax.set_ylim(H0, 0)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    if greys:
        fig.suptitle(f"one grey scale for all panels: black = {lo:.2f}, white = {hi:.2f}",
                     fontsize=8, y=0.03)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    path = os.path.join(out_dir, name)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    print(f"  -> {path}")


def conv(image, kernel, **kwargs):
    """Convolve one grey image (H, W) with one kernel (KH, KW) -> (OH, OW)."""
    x = tc.tensor(image[None, None].astype(np.float32))        # (1, 1, H, W)
    w = tc.tensor(np.asarray(kernel, np.float32)[None, None])  # (1, 1, KH, KW)
    return F.conv2d(x, w, **kwargs)[0, 0].numpy()


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    photo = data.chelsea()  # (300, 451, 3) uint8
    print(f"1. How a machine sees an image: an array of shape {photo.shape} "
          "(height, width, 3 colour channels R, G, B)")
    grey = photo.mean(axis=2) / 255.0  # (300, 451) in [0, 1]
    print(f"   the top-left 3x3 grey values:\n{np.round(grey[:3, :3], 2)}")
    save(out_dir, "01_pixels.png", [photo, grey, grey[100:116, 200:216]],
         ["RGB photo (300x451x3)", "grey (300x451)", "16x16 pixels, zoomed"], vmin=0, vmax=1)

    print("2. Case 1: one weight per pixel (0.5) only scales the image")
    save(out_dir, "02_one_weight.png", [grey, conv(grey, [[0.5]])], ["input", "x * 0.5"],
         vmin=0, vmax=1)

    two = conv(grey, [[1.0, -1.0]])
    print(f"3. Case 2: two horizontal pixels with weights (1, -1): {grey.shape} -> {two.shape} "
          "(one column fewer; the border pixels are used only once)")
    padded = conv(grey, [[1.0, -1.0]], padding=((0, 0), (0, 1)))
    print(f"4. Case 3: zero padding one column keeps the size: {padded.shape}")
    save(out_dir, "03_two_pixel_weights.png", [two, padded, padded[:40, -20:]],
         [f"weights (1, -1): {two.shape}", f"zero padded: {padded.shape}",
          "right edge zoomed: last column = x\n(its right neighbour is a zero)"])

    x = tc.tensor(grey[None, None].astype(np.float32))
    w = tc.tensor(np.array([[[[1.0, 0.3]]], [[[0.1, 5.0]]]], np.float32))  # (2, 1, 1, 2)
    stacked = F.conv2d(x, w)  # (1, 2, H, W-1): one output channel per filter
    print(f"5. Case 4: filters (1, 0.3) and (0.1, 5) stacked into an activation map of shape "
          f"{stacked.shape}")
    save(out_dir, "04_several_filters.png", [stacked[0, 0].numpy(), stacked[0, 1].numpy()],
         ["filter (1, 0.3)", "filter (0.1, 5)"])

    small = np.arange(36, dtype=np.float32).reshape(6, 6)
    kernel = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], np.float32)
    out = conv(small, kernel)
    print(f"6. Case 5: a 2-D kernel. 6x6 image * 3x3 kernel -> {out.shape}; "
          f"out[0, 0] = sum(patch * kernel) = {(small[:3, :3] * kernel).sum():g} = {out[0, 0]:g}")
    sobel_x = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    sobel_y = [[-1, -2, -1], [0, 0, 0], [1, 2, 1]]
    gx, gy = conv(grey, sobel_x, padding=1), conv(grey, sobel_y, padding=1)
    save(out_dir, "05_edge_kernels.png", [np.abs(gx), np.abs(gy), np.hypot(gx, gy)],
         ["vertical edges (Sobel x)", "horizontal edges (Sobel y)", "edge strength"])

    print("7. Stride and padding: output size = floor((W - F + 2P) / S) + 1")
    for W, F_, P, S in [(32, 3, 0, 1), (32, 5, 0, 1), (32, 3, 1, 1), (32, 3, 1, 2), (300, 5, 2, 2)]:
        formula = conv_output_size(W, F_, stride=S, padding=P)
        actual = conv(np.zeros((W, W), np.float32), np.ones((F_, F_)), stride=S, padding=P).shape
        print(f"   W={W:3d} F={F_} P={P} S={S}: floor(({W} - {F_} + 2*{P}) / {S}) + 1 = {formula}"
              f"   conv2d gives {actual}")
    maps = F.conv2d(tc.randn(1, 3, 32, 32), tc.randn(10, 3, 5, 5))
    print(f"   32x32x3 input, 10 filters of 5x5x3, valid padding -> {tuple(maps.shape[1:])} "
          "(channels, height, width): each filter spans all 3 input channels")
    strided = conv(grey, sobel_x, stride=2, padding=1)
    save(out_dir, "06_stride.png", [np.abs(gx), np.abs(strided)],
         [f"stride 1: {gx.shape}", f"stride 2: {strided.shape} (drawn to scale)"],
         to_scale=True)

    block = tc.tensor(np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]],
                               np.float32)[None, None])
    print(f"8. Max pooling 2x2, stride 2: 4x4 ->\n{F.max_pool2d(block, 2)[0, 0].numpy()}")
    rgb = tc.tensor(photo.transpose(2, 0, 1)[None].astype(np.float32) / 255)  # (1, 3, 300, 451)
    pooled = F.max_pool2d(rgb, 2)
    print(f"   the photo {tuple(rgb.shape[1:])} -> {tuple(pooled.shape[1:])}: half the size, "
          "same depth, still a cat")
    x = tc.tensor(grey[None, None].astype(np.float32))                   # (1, 1, 300, 451)
    kinds = {"max": F.max_pool2d(x, 2), "average": F.avg_pool2d(x, 2),
             "L2": F.lp_pool2d(x, 2, 2)}                                 # each (1, 1, 150, 225)
    print(f"   2x2 windows: max {F.max_pool2d(block, 2)[0, 0].numpy().ravel()}, average "
          f"{F.avg_pool2d(block, 2)[0, 0].numpy().ravel()}, L2 = sqrt(sum of squares) "
          f"{np.round(F.lp_pool2d(block, 2, 2)[0, 0].numpy().ravel(), 2)}")
    print("   on one grey scale: average pooling blurs, max keeps the bright details, L2 sits "
          "in between but is up to 2x brighter (sqrt(4) = 2 for a uniform 2x2 window)")
    save(out_dir, "07_max_pooling.png",
         [grey] + [k[0, 0].numpy() for k in kinds.values()],
         [f"input {grey.shape}"] + [f"{name} pooled {tuple(k.shape[2:])} (to scale)"
                                    for name, k in kinds.items()], to_scale=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", default="walkthrough_figures")
    main(parser.parse_args().out_dir)
