"""The model zoo: small CNNs for small images, and classic ImageNet CNNs with torchvision's
module structure and state-dict keys (so torchvision's weights load unchanged).

``build_model(name, **kwargs)`` builds a classifier of ``MODELS`` by name (the CLI stores the
name and the arguments in checkpoints to rebuild the model later); ``model_kwargs`` fits a
name's arguments to an image size.
"""

from tinygrad_cnn.models.small import _pair, article_cnn, digits_cnn, lenet5, simple_cnn
from tinygrad_cnn.models.resnet import BasicBlock, ResNet, resnet18, resnet34
from tinygrad_cnn.models.vgg import VGG, vgg11_bn
from tinygrad_cnn.models.mobilenet import InvertedResidual, MobileNetV2, mobilenet_v2
from tinygrad_cnn.models.squeezenet import Fire, SqueezeNet, squeezenet1_0, squeezenet1_1
from tinygrad_cnn.models.unet import UNet, unet

# image classifiers: (N, C, H, W) -> (N, num_classes) logits
MODELS = {
    "digits_cnn": digits_cnn,
    "lenet5": lenet5,
    "article_cnn": article_cnn,
    "simple_cnn": simple_cnn,
    "resnet18": resnet18,
    "resnet34": resnet34,
    "vgg11_bn": vgg11_bn,
    "mobilenet_v2": mobilenet_v2,
    "squeezenet1_0": squeezenet1_0,
    "squeezenet1_1": squeezenet1_1,
}

# the smallest square image each torchvision-style classifier takes (its pooling and strides;
# PyTorch takes SqueezeNet from 21 / 17 px, where a ceil_mode pool's 3x3 window is larger than
# its 2x2 input, which max_pool2d here refuses)
MIN_IMAGE_SIZE = {
    "resnet18": 1,
    "resnet34": 1,
    "vgg11_bn": 32,
    "mobilenet_v2": 1,
    "squeezenet1_0": 21,
    "squeezenet1_1": 17,
}


def build_model(name: str, **kwargs):
    """Build a zoo model by name: ``build_model("lenet5", in_channels=1, num_classes=10)``."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name](**kwargs)


def model_kwargs(name: str, in_channels: int, num_classes: int, image_size) -> dict:
    """The constructor arguments that fit ``name`` to images (in_channels, *image_size)."""
    h, w = _pair(image_size, "image_size")
    if name == "article_cnn":
        return {"input_shape": [in_channels, h, w], "num_classes": num_classes}
    if name == "digits_cnn":
        if (h, w) != (8, 8):
            raise ValueError(f"digits_cnn expects 8x8 images, got {h}x{w}; use another model "
                             "or --image-size 8")
        return {"in_channels": in_channels, "num_classes": num_classes}
    if name in MIN_IMAGE_SIZE:
        if min(h, w) < MIN_IMAGE_SIZE[name]:
            raise ValueError(f"{name} needs images of at least {MIN_IMAGE_SIZE[name]}x"
                             f"{MIN_IMAGE_SIZE[name]}, got {h}x{w}")
        return {"in_channels": in_channels, "num_classes": num_classes}
    return {"in_channels": in_channels, "num_classes": num_classes, "input_size": [h, w]}
