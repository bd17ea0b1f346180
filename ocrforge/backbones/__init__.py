"""CNN feature extractors shared by detection and recognition (PyTorch; training side only).

Written here rather than taken from torchvision because there is no CPU torchvision build for
our pinned torch, and because OCR needs stride layouts torchvision does not offer: recognition
collapses height to 1 while keeping width/4, detection returns a stride-4..32 pyramid.
"""

from .mobilenetv3 import MobileNetV3
from .resnet import ResNet
from .cbam import CBAM

__all__ = ["MobileNetV3", "ResNet", "CBAM"]
