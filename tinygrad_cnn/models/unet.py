"""A small U-Net (Ronneberger et al., 2015) for per-pixel classification (segmentation).

An encoder of [2x2 max pool -> DoubleConv] steps that double the channels, a decoder of
[2x2 stride-2 ConvTranspose2d -> cat with the encoder's map of that size -> DoubleConv] steps,
and a 1x1 conv to one map per class. DoubleConv = (3x3 conv, padding 1, no bias -> BatchNorm ->
ReLU) twice. Keys: inc.<i>, downs.<k>.1.<i>, ups.<k>.up, ups.<k>.conv.<i>, outc.
"""

from __future__ import annotations

from tinygrad_cnn import nn
from tinygrad_cnn.models._common import check_positive
from tinygrad_cnn.ops.shape import cat


class DoubleConv(nn.Sequential):
    """(3x3 conv -> BatchNorm -> ReLU) x 2: (N, in_channels, H, W) -> (N, out_channels, H, W)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
        )


class Down(nn.Sequential):
    """2x2 max pool -> DoubleConv: (N, in_channels, H, W) -> (N, out_channels, H/2, W/2)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(nn.MaxPool2d(2), DoubleConv(in_channels, out_channels))


class Up(nn.Module):
    """Upsample x 2 with a learned 2x2 stride-2 ConvTranspose2d (halving the channels), cat
    with the skip connection on channels, DoubleConv.

    x (N, in_channels, H, W), skip (N, in_channels/2, 2H, 2W) -> (N, out_channels, 2H, 2W).
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
        self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x, skip):
        return self.conv(cat([skip, self.up(x)], 1))


class UNet(nn.Module):
    """U-Net with ``depth`` down / up steps; the first level has ``base_channels`` channels,
    the bottom ``base_channels * 2**depth``.

    Input (N, in_channels, H, W) with H and W multiples of 2**depth; output per-pixel logits
    (N, num_classes, H, W) (use ``F.cross_entropy`` with (N, H, W) class targets).
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 2, base_channels: int = 16,
                 depth: int = 3):
        super().__init__()
        check_positive("UNet", in_channels=in_channels, num_classes=num_classes,
                       base_channels=base_channels, depth=depth)
        self.depth = depth
        widths = [base_channels * 2 ** i for i in range(depth + 1)]
        self.inc = DoubleConv(in_channels, widths[0])
        self.downs = nn.ModuleList([Down(widths[i], widths[i + 1]) for i in range(depth)])
        self.ups = nn.ModuleList([Up(widths[i + 1], widths[i]) for i in reversed(range(depth))])
        self.outc = nn.Conv2d(widths[0], num_classes, kernel_size=1)

    def forward(self, x):
        step = 2 ** self.depth
        if x.ndim != 4 or x.shape[2] % step or x.shape[3] % step:
            raise ValueError(f"UNet: expected (N, C, H, W) with H and W multiples of {step} "
                             f"(depth {self.depth}), got shape {x.shape}")
        skips = [self.inc(x)]                   # (N, base, H, W)
        for down in self.downs:
            skips.append(down(skips[-1]))       # (N, base*2^k, H/2^k, W/2^k)
        x = skips.pop()
        for up in self.ups:
            x = up(x, skips.pop())
        return self.outc(x)                     # (N, num_classes, H, W)


def unet(*, in_channels: int = 3, num_classes: int = 2, base_channels: int = 16,
         depth: int = 3) -> UNet:
    """A small U-Net: 3 levels of 16, 32, 64 channels and a 128-channel bottom by default."""
    return UNet(in_channels, num_classes, base_channels, depth)
