"""Why a model said what it said: Grad-CAM maps, their overlays, and explaining image files.

``gradcam`` is the engine (Keras and NumPy only), ``overlay`` turns a map into PNG-ready RGB,
``images`` explains photo files the way Predict reads them (faces detected first).
"""

from fer_core.inference.explain.gradcam import (
    ExplainError,
    Explanation,
    GradCam,
    find_feature_layer,
)
from fer_core.inference.explain.overlay import overlay

__all__ = ["ExplainError", "Explanation", "GradCam", "find_feature_layer", "overlay"]
