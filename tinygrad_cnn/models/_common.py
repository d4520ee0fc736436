"""What the torchvision-style model families share: the ``weights`` argument and their
initialisation rules, written once."""

from __future__ import annotations

from tinygrad_cnn import nn


def check_weights(name: str, weights) -> None:
    """torchvision's builders take ``weights``; there is nothing to download here, so only None
    is accepted, and the error says how to load torchvision's weights instead."""
    if weights is not None:
        raise ValueError(
            f"{name}: weights={weights!r} is not supported (nothing is downloaded); build "
            f"{name}() and load torchvision's weights with model.load_state_dict("
            "{k: v.numpy() for k, v in tv_model.state_dict().items()})"
        )


def check_positive(name: str, **values) -> None:
    """Raise naming the argument when an int argument (num_classes, in_channels, ...) is < 1."""
    for arg, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: {arg} must be a positive int, got {value!r}")


def init_batch_norms(model: nn.Module) -> None:
    """BatchNorm weight 1 and bias 0 (torchvision writes this out in every family)."""
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def init_conv_kaiming_fan_out(model: nn.Module) -> None:
    """Conv2d weights ~ N(0, 2 / (C_out*KH*KW)) (He, fan_out, ReLU gain), biases 0: the rule of
    torchvision's ResNet, VGG and MobileNetV2."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def init_linear_normal(model: nn.Module, std: float = 0.01) -> None:
    """Linear weights ~ N(0, std^2), biases 0 (torchvision's VGG and MobileNetV2)."""
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, std)
            nn.init.zeros_(m.bias)
