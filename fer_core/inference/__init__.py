"""Using a trained run: evaluation, calibration, photos to faces to emotions, explanations
(Grad-CAM) and video. Above training (it builds input pipelines and models the same way) and
below reports and export, which show and ship what it computes."""
