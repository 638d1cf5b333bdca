"""Measure ultralytics' YOLOv8 n/s/m/l/x, the reference of specs/detection/yolov8.yaml.

Run once, in a separate environment with torch and ultralytics (never the project's own), from
the repository root: `YOLO_OFFLINE=1 python -m tests.reference.ultralytics_yolov8` (about 7
minutes on 2 cores). The models are built from ultralytics' own `yolov8{n,s,m,l,x}.yaml`; no
weights are downloaded. It writes two fixtures beside this file: yolov8.json (parameters, MACs,
the raw output shapes, every convolution's key, parameters and output shape at 640×640, YOLOv8n's
state_dict keys and shapes, and the square input sizes YOLOv8n accepts) and yolov8n_64.pt
(YOLOv8n's three raw outputs at 4×3×64×64, its weights and input drawn by
`tests.reference.seeded`). tests/test_detection.py keeps the headline figures as constants.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn
from ultralytics.nn.tasks import DetectionModel

from tests.reference.seeded import calibrate, seeded, seeded_state

SCALES = "nsmlx"
FIGURES = Path(__file__).with_name("yolov8.json")
FIXTURE = Path(__file__).with_name("yolov8n_64.pt")


def model(scale: str) -> DetectionModel:
    return DetectionModel(f"yolov8{scale}.yaml", nc=80, verbose=False).eval()


def raw_outputs(net: DetectionModel, x: torch.Tensor) -> list[torch.Tensor]:
    """The Detect head's per-level `cat(cv2[i](x_i), cv3[i](x_i), 1)`, before decoding.

    In eval mode Detect returns (decoded, preds); preds["boxes"] and preds["scores"] are those
    tensors viewed as (N, C, H_i * W_i) and concatenated over the levels, so viewing each level's
    slice back as (N, C, H_i, W_i) gives them exactly.
    """
    _, preds = net(x)
    outputs, start = [], 0
    for feat in preds["feats"]:
        n, _, h, w = feat.shape
        end = start + h * w
        boxes = preds["boxes"][..., start:end].reshape(n, -1, h, w)
        scores = preds["scores"][..., start:end].reshape(n, -1, h, w)
        outputs.append(torch.cat((boxes, scores), 1))
        start = end
    return outputs


def measure(scale: str) -> dict:
    net = model(scale)
    detect = net.model[-1]
    convs, macs = [], {"raw": 0, "dfl": 0}

    def hook(module, inputs, output):
        kh, kw = module.kernel_size
        count = output[0].numel() * (module.in_channels // module.groups) * kh * kw
        if module is detect.dfl.conv:
            macs["dfl"] += count
            return
        macs["raw"] += count
        params = sum(p.numel() for p in module.parameters())
        convs.append([names[module], params, list(output.shape[1:])])

    names = {m: name for name, m in net.named_modules()}
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            module.register_forward_hook(hook)
        assert not isinstance(module, nn.Linear)
    with torch.no_grad():
        outputs = raw_outputs(net, torch.zeros(1, 3, 640, 640))
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    return {
        "params": sum(p.numel() for p in net.parameters()),
        "trainable": sum(p.numel() for p in net.parameters() if p.requires_grad),
        "dfl_params": sum(p.numel() for p in detect.dfl.parameters()),
        "macs": macs["raw"],
        "dfl_macs": macs["dfl"],
        "outputs": [list(y.shape) for y in outputs],
        "convs": convs,
        "batchnorms": sorted({(m.eps, m.momentum) for m in bns}),
    }


def accepted_sizes(sizes) -> list[int]:
    """The square sizes S (input 1×3×S×S) at which YOLOv8n runs."""
    net = model("n")
    ok = []
    for s in sizes:
        try:
            with torch.no_grad():
                raw_outputs(net, torch.zeros(1, 3, s, s))
        except RuntimeError:
            continue
        ok.append(s)
    return ok


def fixture() -> dict:
    """YOLOv8n's raw outputs at a seeded 4×3×64×64 input, with seeded weights and batch norms
    calibrated on that input."""
    net = model("n")
    state = net.state_dict()
    dfl = "model.22.dfl.conv.weight"  # fixed arange weights, used only in decoding: kept
    drawn = seeded_state({k: v for k, v in state.items() if k != dfl})
    net.load_state_dict({**drawn, dfl: state[dfl]}, strict=True)
    x = (2 * seeded("input", (4, 3, 64, 64)) - 1).float()
    calibrate(net, x)
    with torch.no_grad():
        p3, p4, p5 = raw_outputs(net, x)
    return {"p3": p3, "p4": p4, "p5": p5}


def dump(value, indent: str = "") -> str:
    """JSON with a list of lists written one entry a line (a layer, a state_dict key)."""
    inner = indent + " "
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k)}: {dump(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        return "[\n" + ",\n".join(inner + json.dumps(v) for v in value) + "\n" + indent + "]"
    return json.dumps(value)


def main() -> None:
    torch.manual_seed(0)
    figures = {scale: measure(scale) for scale in SCALES}
    figures["n"]["state"] = [[k, list(v.shape)] for k, v in model("n").state_dict().items()]
    figures["accepted"] = accepted_sizes(range(1, 161))
    figures["accepted_near_640"] = accepted_sizes(range(600, 681))
    FIGURES.write_text(dump(figures) + "\n")
    outputs = fixture()
    torch.save(outputs, FIXTURE)
    for scale in SCALES:
        f = figures[scale]
        print(scale, f["params"], f["trainable"], f["macs"], f["dfl_macs"], f["outputs"])
    print({k: (tuple(v.shape), float(v.abs().max()), float(v.std())) for k, v in outputs.items()})


if __name__ == "__main__":
    main()
