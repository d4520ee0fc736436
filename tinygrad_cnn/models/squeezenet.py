"""SqueezeNet 1.0 and 1.1 (Iandola et al., 2016) with torchvision's module structure, so that
torchvision's state dicts load unchanged.

Keys: features.<i> (convs, and Fire modules with squeeze / expand1x1 / expand3x3 convs),
classifier.1 (the final 1x1 conv that gives one map per class).
"""

from __future__ import annotations

from tinygrad_cnn import nn
from tinygrad_cnn.models._common import check_positive, check_weights
from tinygrad_cnn.ops.shape import cat


class Fire(nn.Module):
    """squeeze (1x1 conv, ReLU) then two expand branches (1x1 and 3x3 convs, ReLU) concatenated
    on channels: (N, inplanes, H, W) -> (N, expand1x1_planes + expand3x3_planes, H, W)."""

    def __init__(self, inplanes: int, squeeze_planes: int, expand1x1_planes: int,
                 expand3x3_planes: int):
        super().__init__()
        self.inplanes = inplanes
        self.squeeze = nn.Conv2d(inplanes, squeeze_planes, kernel_size=1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze_planes, expand1x1_planes, kernel_size=1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze_planes, expand3x3_planes, kernel_size=3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.squeeze_activation(self.squeeze(x))
        return cat([self.expand1x1_activation(self.expand1x1(x)),
                    self.expand3x3_activation(self.expand3x3(x))], 1)


def _pool():
    return nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)


class SqueezeNet(nn.Module):
    """features -> dropout -> 1x1 conv to num_classes maps -> ReLU -> global average pool.

    ``version`` "1_0" (7x7/2 stem, 96 channels) or "1_1" (3x3/2 stem, 64 channels, pools
    earlier: 2.4x less computation, same accuracy). Input (N, in_channels, H, W), H, W >= 25
    for 1_1 (>= 29 for 1_0); output logits (N, num_classes). ``in_channels`` is not in
    torchvision.
    """

    def __init__(self, version: str = "1_0", num_classes: int = 1000, dropout: float = 0.5,
                 in_channels: int = 3):
        super().__init__()
        check_positive("SqueezeNet", num_classes=num_classes, in_channels=in_channels)
        self.num_classes = num_classes
        if version == "1_0":
            self.features = nn.Sequential(
                nn.Conv2d(in_channels, 96, kernel_size=7, stride=2), nn.ReLU(inplace=True),
                _pool(),
                Fire(96, 16, 64, 64), Fire(128, 16, 64, 64), Fire(128, 32, 128, 128), _pool(),
                Fire(256, 32, 128, 128), Fire(256, 48, 192, 192), Fire(384, 48, 192, 192),
                Fire(384, 64, 256, 256), _pool(),
                Fire(512, 64, 256, 256),
            )
        elif version == "1_1":
            self.features = nn.Sequential(
                nn.Conv2d(in_channels, 64, kernel_size=3, stride=2), nn.ReLU(inplace=True),
                _pool(),
                Fire(64, 16, 64, 64), Fire(128, 16, 64, 64), _pool(),
                Fire(128, 32, 128, 128), Fire(256, 32, 128, 128), _pool(),
                Fire(256, 48, 192, 192), Fire(384, 48, 192, 192), Fire(384, 64, 256, 256),
                Fire(512, 64, 256, 256),
            )
        else:
            raise ValueError(f"SqueezeNet: unsupported version {version!r}: 1_0 or 1_1 expected")
        final_conv = nn.Conv2d(512, num_classes, kernel_size=1)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), final_conv, nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d((1, 1))
        )
        # torchvision: the class maps start small, every other conv is He-uniform; biases 0
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                if m is final_conv:
                    nn.init.normal_(m.weight, 0.0, 0.01)
                else:
                    nn.init.kaiming_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.classifier(self.features(x)).flatten(1)   # (N, num_classes)


def squeezenet1_0(*, weights=None, num_classes: int = 1000, dropout: float = 0.5,
                  in_channels: int = 3) -> SqueezeNet:
    """SqueezeNet 1.0; 1,248,424 parameters at 1000 classes."""
    check_weights("squeezenet1_0", weights)
    return SqueezeNet("1_0", num_classes, dropout, in_channels)


def squeezenet1_1(*, weights=None, num_classes: int = 1000, dropout: float = 0.5,
                  in_channels: int = 3) -> SqueezeNet:
    """SqueezeNet 1.1; 1,235,496 parameters at 1000 classes."""
    check_weights("squeezenet1_1", weights)
    return SqueezeNet("1_1", num_classes, dropout, in_channels)
