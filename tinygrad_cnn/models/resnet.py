"""ResNet-18 and ResNet-34 (He et al., 2015) with torchvision's module structure, so that
torchvision's state dicts load unchanged:

    model = tc.models.resnet18()
    model.load_state_dict({k: v.numpy() for k, v in tv_model.state_dict().items()})

Keys: conv1, bn1, layer1..layer4 (each a Sequential of BasicBlocks: conv1, bn1, conv2, bn2 and,
where the shape changes, downsample.0 (1x1 conv) and downsample.1 (BatchNorm)), fc.
"""

from __future__ import annotations

from tinygrad_cnn import nn
from tinygrad_cnn.models._common import (
    check_positive,
    check_weights,
    init_batch_norms,
    init_conv_kaiming_fan_out,
)


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding 1 and no bias (a BatchNorm follows)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution without bias (the shortcut's projection)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)); shortcut = downsample or identity.

    (N, inplanes, H, W) -> (N, planes, H/stride, W/stride).
    """

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """A ResNet of BasicBlocks: ``layers`` gives the number of blocks in each of the 4 stages.

    7x7/2 conv (64) -> BN -> ReLU -> 3x3/2 max pool -> stages of 64, 128, 256, 512 channels
    (stride 2 from the second) -> global average pool -> fc. Input (N, in_channels, H, W), any
    H, W >= 1 (each stride-2 step rounds up); output logits (N, num_classes).

    ``zero_init_residual`` zeroes the last BatchNorm weight of each block (as torchvision's).
    ``in_channels`` (not in torchvision) changes the first conv for non-RGB images.
    """

    def __init__(self, block, layers, num_classes: int = 1000, zero_init_residual: bool = False,
                 in_channels: int = 3):
        super().__init__()
        if len(layers) != 4:
            raise ValueError(f"ResNet: layers must give 4 stage depths, got {list(layers)}")
        check_positive("ResNet", num_classes=num_classes, in_channels=in_channels)
        self.inplanes = 64
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

        init_conv_kaiming_fan_out(self)
        init_batch_norms(self)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def _make_layer(self, block, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))     # (N, 64, H/4, W/4)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (N, 512, H/32, W/32)
        return self.fc(self.avgpool(x).flatten(1))                # (N, num_classes)


def resnet18(*, weights=None, num_classes: int = 1000, zero_init_residual: bool = False,
             in_channels: int = 3) -> ResNet:
    """ResNet-18: BasicBlocks [2, 2, 2, 2]; 11,689,512 parameters at 1000 classes."""
    check_weights("resnet18", weights)
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes, zero_init_residual, in_channels)


def resnet34(*, weights=None, num_classes: int = 1000, zero_init_residual: bool = False,
             in_channels: int = 3) -> ResNet:
    """ResNet-34: BasicBlocks [3, 4, 6, 3]; 21,797,672 parameters at 1000 classes."""
    check_weights("resnet34", weights)
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes, zero_init_residual, in_channels)
