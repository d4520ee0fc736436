"""VGG-11 with BatchNorm (Simonyan & Zisserman, 2014) with torchvision's module structure, so
that torchvision's state dicts load unchanged.

Keys: features.<i> (Conv2d, BatchNorm2d, ReLU, MaxPool2d in a flat Sequential, as torchvision's
``make_layers``), classifier.0 / .3 / .6 (the three Linear layers).
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

# torchvision's configuration "A" (VGG-11): output channels of each 3x3 conv, "M" a 2x2 max pool
CFG_A = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]


def make_layers(cfg, batch_norm: bool = False, in_channels: int = 3) -> nn.Sequential:
    """The convolutional trunk: each int a 3x3 conv (padding 1) [-> BatchNorm] -> ReLU, each
    "M" a 2x2 max pool. (N, in_channels, H, W) -> (N, last int, H / 2^#M, W / 2^#M)."""
    layers = []
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        conv = nn.Conv2d(in_channels, v, kernel_size=3, padding=1)
        layers += [conv, nn.BatchNorm2d(v), nn.ReLU(inplace=True)] if batch_norm else [
            conv, nn.ReLU(inplace=True)]
        in_channels = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """features -> adaptive average pool to 7x7 -> flatten -> 4096 -> 4096 -> num_classes
    (ReLU and dropout between the Linear layers).

    Input (N, C, H, W) with H, W >= 32 (five 2x2 pools); output logits (N, num_classes).
    """

    def __init__(self, features: nn.Module, num_classes: int = 1000, init_weights: bool = True,
                 dropout: float = 0.5):
        super().__init__()
        check_positive("VGG", num_classes=num_classes)
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        if init_weights:
            init_conv_kaiming_fan_out(self)
            init_batch_norms(self)
            init_linear_normal(self, 0.01)

    def forward(self, x):
        x = self.avgpool(self.features(x))          # (N, 512, 7, 7)
        return self.classifier(x.flatten(1))        # (N, num_classes)


def vgg11_bn(*, weights=None, num_classes: int = 1000, init_weights: bool = True,
             dropout: float = 0.5, in_channels: int = 3) -> VGG:
    """VGG-11 with BatchNorm after every conv; 132,868,840 parameters at 1000 classes.

    ``in_channels`` (not in torchvision) changes the first conv for non-RGB images.
    """
    check_weights("vgg11_bn", weights)
    check_positive("vgg11_bn", in_channels=in_channels)
    return VGG(make_layers(CFG_A, batch_norm=True, in_channels=in_channels), num_classes,
               init_weights, dropout)
