"""The backbone table (names, input sizes, preprocessing) without Keras, which takes seconds
to import: validation, the Train form and the time estimate need it before building anything."""

from __future__ import annotations

from dataclasses import dataclass

from fer_core.core.settings import IMAGE_SIZE

PREPROCESSING = ("tf", "caffe", "keep", "unit")


@dataclass(frozen=True)
class BackboneSpec:
    """What the rest of the app needs to know about an architecture before building it."""

    name: str
    native_size: int  # the side it was designed (and pre-trained) for
    min_size: int  # the smallest side keras.applications accepts
    application: str | None  # its keras.applications constructor, None for ours
    preprocessing: str  # one of PREPROCESSING: "tf" x/127.5-1, "caffe" BGR minus mean,
    #                     "keep" the model rescales itself, "unit" x/255
    description: str
    channels: int  # 3 for keras.applications (grey is repeated), 1 for ours

    @property
    def pretrained(self) -> bool:
        """ImageNet weights exist: it is one of keras.applications."""
        return self.application is not None


BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        BackboneSpec("inceptionv3", 299, 75, "InceptionV3", "tf",
                     "InceptionV3 (21.8M parameters), the seed report's backbone.", 3),
        BackboneSpec("mobilenetv2", 224, 32, "MobileNetV2", "tf",
                     "MobileNetV2 (2.3M), light and fast transfer learning.", 3),
        BackboneSpec("efficientnetb0", 224, 32, "EfficientNetB0", "keep",
                     "EfficientNetB0 (4.0M), accurate for its size.", 3),
        BackboneSpec("resnet50", 224, 32, "ResNet50", "caffe",
                     "ResNet50 (23.6M), the classic transfer learning baseline.", 3),
        BackboneSpec("fer-cnn", IMAGE_SIZE, IMAGE_SIZE, None, "unit",
                     "Compact CNN at native 48x48 (0.9M); trains in minutes on a CPU.", 1),
        BackboneSpec("fer-vgg", IMAGE_SIZE, IMAGE_SIZE, None, "unit",
                     "VGG-style CNN at 48x48 with BatchNorm (2.4M), for best accuracy "
                     "(after Khaireddin & Chen 2021).", 1),
    )
}


def backbone_names() -> list[str]:
    return list(BACKBONES)
