"""Why a model said what it said: Grad-CAM maps (``gradcam``, Keras and NumPy only), their
overlays (``overlay``), and image files explained the way Predict reads them (``images``)."""

from fer_core.inference.explain.gradcam import (
    ExplainError,
    Explanation,
    GradCam,
    find_feature_layer,
)
from fer_core.inference.explain.overlay import overlay

__all__ = ["ExplainError", "Explanation", "GradCam", "find_feature_layer", "overlay"]
