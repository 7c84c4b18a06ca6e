"""Where a model calls a layer: the tensors around one layer inside a (possibly nested) model.

Grad-CAM needs the output of the last convolutional block, the map of features the input of
the final Dense layer; both are read from the model's own graph, not from ``layer.output``: a
layer may be called by several models (FER Studio's head model shares the classifier's last
layers), and a nested model's ``layer.output`` is its inner graph's, from which the outer model
cannot be rebuilt. Keras keeps no public accessor for this, hence the two private attributes.
"""

from __future__ import annotations

from typing import Any

from fer_core.core.errors import ModelError


def node_of(model: Any, layer: Any) -> Any:
    """The node where ``model`` calls ``layer``, holding its input and output tensors."""
    graph = set(getattr(model, "_nodes", ()))  # keys "<id of layer>_ib-<node index>"
    for i, node in enumerate(getattr(layer, "_inbound_nodes", ())):
        if not graph or f"{id(layer)}_ib-{i}" in graph:
            return node
    raise ModelError(f"Layer {layer.name!r} is not called by model {model.name!r}.")


def output_of(model: Any, layer: Any) -> Any:
    return node_of(model, layer).output_tensors[0]


def input_of(model: Any, layer: Any) -> Any:
    return node_of(model, layer).input_tensors[0]
