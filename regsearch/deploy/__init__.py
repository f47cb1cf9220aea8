"""The small model where it runs: LiteRT export, quantization, measured cost.

``export`` writes a model (trimmed or not) as a LiteRT ``.tflite`` file, float or
quantized (``"float16"``, ``"dynamic"``, ``"int8"``); ``deployment_cost`` converts it
the same way and measures the file's size and its latency in the LiteRT
interpreter (XNNPack on CPU); ``predict`` runs a file on data (to check an export,
or to score a quantized model). ``regsearch.Objective(size="latency")`` and
``size="file_bytes"`` score a search's trials by it.

Conversion uses TensorFlow's LiteRT converter and so needs the TensorFlow backend.
Running a file needs a LiteRT runtime: ``pip install "regsearch[litert]"``
(``ai-edge-litert``); without it, TensorFlow's own deprecated copy is used.
"""

from regsearch.deploy._cost import DeploymentCost, deployment_cost
from regsearch.deploy._litert import export
from regsearch.deploy._predict import predict

__all__ = ["DeploymentCost", "deployment_cost", "export", "predict"]
