"""MobileNetV2 (Sandler et al., 2018) with torchvision's module structure, so that
torchvision's state dicts load unchanged.

Keys: features.0 (stem: .0 conv, .1 BatchNorm), features.1..17 (InvertedResidual blocks, their
layers under .conv), features.18 (1x1 conv to last_channel), classifier.1 (the Linear layer).
"""

from __future__ import annotations

from tinygrad_cnn import nn
from tinygrad_cnn.models._common import (
    check_positive,
    check_weights,
    init_batch_norms,
    init_conv_kaiming_fan_out,
    init_linear_normal,
)
from tinygrad_cnn.nn import functional as F

# t (expansion factor), c (output channels), n (blocks), s (stride of the first block)
INVERTED_RESIDUAL_SETTING = [
    [1, 16, 1, 1],
    [6, 24, 2, 2],
    [6, 32, 3, 2],
    [6, 64, 4, 2],
    [6, 96, 3, 1],
    [6, 160, 3, 2],
    [6, 320, 1, 1],
]


def _make_divisible(v: float, divisor: int, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of ``divisor``, never below 90% of ``v`` (the
    rounding of the original TensorFlow code that torchvision copies)."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class Conv2dNormActivation(nn.Sequential):
    """Conv2d (no bias, "same" padding for odd kernels) -> BatchNorm2d -> activation, as
    torchvision.ops.Conv2dNormActivation (keys .0 conv, .1 BatchNorm)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 stride: int = 1, groups: int = 1, activation_layer=nn.ReLU):
        padding = (kernel_size - 1) // 2
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, groups=groups,
                      bias=False),
            nn.BatchNorm2d(out_channels),
            activation_layer(inplace=True),
        )
        self.out_channels = out_channels


class InvertedResidual(nn.Module):
    """[1x1 expand conv -> BN -> ReLU6 (when expand_ratio != 1)] -> 3x3 depthwise conv (stride)
    -> BN -> ReLU6 -> 1x1 linear projection -> BN, plus x when stride is 1 and inp == oup.

    (N, inp, H, W) -> (N, oup, H/stride, W/stride).
    """

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"InvertedResidual: stride should be 1 or 2 instead of {stride}")
        self.stride = stride
        hidden_dim = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers = []
        if expand_ratio != 1:
            layers.append(Conv2dNormActivation(inp, hidden_dim, kernel_size=1,
                                               activation_layer=nn.ReLU6))
        layers += [
            Conv2dNormActivation(hidden_dim, hidden_dim, stride=stride, groups=hidden_dim,
                                 activation_layer=nn.ReLU6),
            nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False),
            nn.BatchNorm2d(oup),
        ]
        self.conv = nn.Sequential(*layers)
        self.out_channels = oup

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """3x3/2 stem (32 channels) -> 17 inverted residual blocks -> 1x1 conv to 1280 -> global
    average pool -> dropout -> Linear.

    ``width_mult`` scales every channel count (rounded to a multiple of ``round_nearest``; the
    last 1280 only grows). Input (N, in_channels, H, W), any H, W >= 1 (five stride-2 steps
    round up); output logits (N, num_classes). ``in_channels`` is not in torchvision.
    """

    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0,
                 inverted_residual_setting=None, round_nearest: int = 8, dropout: float = 0.2,
                 in_channels: int = 3):
        super().__init__()
        check_positive("MobileNetV2", num_classes=num_classes, in_channels=in_channels,
                       round_nearest=round_nearest)
        if not width_mult > 0:
            raise ValueError(f"MobileNetV2: width_mult must be positive, got {width_mult!r}")
        if inverted_residual_setting is None:
            inverted_residual_setting = INVERTED_RESIDUAL_SETTING
        if len(inverted_residual_setting) == 0 or any(
                len(row) != 4 for row in inverted_residual_setting):
            raise ValueError("MobileNetV2: inverted_residual_setting should be a non-empty list "
                             f"of [t, c, n, s] rows, got {inverted_residual_setting}")
        input_channel = _make_divisible(32 * width_mult, round_nearest)
        self.last_channel = _make_divisible(1280 * max(1.0, width_mult), round_nearest)
        features = [Conv2dNormActivation(in_channels, input_channel, stride=2,
                                         activation_layer=nn.ReLU6)]
        for t, c, n, s in inverted_residual_setting:
            output_channel = _make_divisible(c * width_mult, round_nearest)
            for i in range(n):
                features.append(InvertedResidual(input_channel, output_channel,
                                                 s if i == 0 else 1, expand_ratio=t))
                input_channel = output_channel
        features.append(Conv2dNormActivation(input_channel, self.last_channel, kernel_size=1,
                                             activation_layer=nn.ReLU6))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout),
                                        nn.Linear(self.last_channel, num_classes))

        init_conv_kaiming_fan_out(self)
        init_batch_norms(self)
        init_linear_normal(self, 0.01)

    def forward(self, x):
        x = self.features(x)                              # (N, last_channel, H/32, W/32)
        x = F.adaptive_avg_pool2d(x, (1, 1)).flatten(1)   # (N, last_channel)
        return self.classifier(x)                         # (N, num_classes)


def mobilenet_v2(*, weights=None, num_classes: int = 1000, width_mult: float = 1.0,
                 round_nearest: int = 8, dropout: float = 0.2,
                 in_channels: int = 3) -> MobileNetV2:
    """MobileNetV2; 3,504,872 parameters at 1000 classes and width_mult 1."""
    check_weights("mobilenet_v2", weights)
    return MobileNetV2(num_classes, width_mult, None, round_nearest, dropout, in_channels)
