"""Valid input sizes: archc's exact sets against PyTorch, on every H = W from 1 to 256.

PyTorch accepts a size when a forward pass of zeros of shape (1, 1, H, H) through the reference
network (tests/reference/seed_nets.py, eval mode) succeeds. The forward runs on the meta device
(shapes are validated, nothing is computed), and module by module with the outcome memoized by
input shape: after a few poolings, many input sizes share a shape, so the brute force stays fast.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

import archc
from archc.analysis.periodic import contains, describe, solve
from archc.analysis.valid_inputs import valid_input_sets
from archc.api import check_file
from archc.dims import Sym
from archc.report import result_json

torch = pytest.importorskip("torch")
from tests.reference import nd_nets, seed_nets  # noqa: E402

SPECS = Path(__file__).parent.parent / "specs"
SIZES = range(1, 257)


class _Memo:
    """Output shape (or None for an error) of each module per input shape, on meta."""

    def __init__(self):
        self.cache: dict[tuple, tuple | None] = {}

    def run(self, module, shape: tuple | None) -> tuple | None:
        if shape is None:
            return None
        if isinstance(module, torch.nn.Sequential):
            for child in module:
                shape = self.run(child, shape)
            return shape
        key = (id(module), shape)
        if key not in self.cache:
            try:
                with torch.no_grad():
                    out = module(torch.empty(shape, device="meta"))
                self.cache[key] = tuple(out.shape)
            except (RuntimeError, ValueError):
                self.cache[key] = None
        return self.cache[key]


def pytorch_accepts(name: str) -> set[int]:
    make, _ = seed_nets.SEED_NETWORKS[name]
    model = make().eval().to("meta")
    memo = _Memo()
    return {h for h in SIZES if memo.run(model, (1, 1, h, h)) is not None}


@pytest.mark.parametrize("name", sorted(seed_nets.SEED_NETWORKS))
def test_valid_inputs_agree_with_pytorch_on_every_size(name):
    result = result_json(check_file(SPECS / f"{name}.yaml", input_dims=["N", 1, "H", "W"]))
    assert result["ok"], result["diagnostics"]
    progs = result["valid_inputs"]["H"]
    assert result["valid_inputs"]["W"] == progs
    ours = {h for h in SIZES if contains(progs, h)}
    assert ours == pytorch_accepts(name)


def test_meta_device_refuses_what_the_cpu_refuses():
    # The brute force relies on meta raising where a real forward raises.
    for name, sizes in (("lenet", (27, 28, 31, 32)), ("alexnet", (62, 63, 194, 195, 227))):
        make, _ = seed_nets.SEED_NETWORKS[name]
        model, memo = make().eval(), _Memo()
        meta = make().eval().to("meta")
        for h in sizes:
            try:
                with torch.no_grad():
                    model(torch.zeros(1, 1, h, h))
                cpu = True
            except RuntimeError:
                cpu = False
            assert cpu == (memo.run(meta, (1, 1, h, h)) is not None), (name, h)


EXPECTED = {
    "lenet": [[28, 31, 1]],
    "lenet_bn": [[28, 31, 1]],
    "alexnet": [[195, 226, 1]],
    "vgg11": [[224, 255, 1]],
    "nin": [[67, None, 1]],
    "googlenet": [[1, None, 1]],
    "resnet18": [[1, None, 1]],
    "densenet": [[29, None, 1]],
    "regnet": [[1, None, 1]],
}


@pytest.mark.parametrize(("name", "expected"), sorted(EXPECTED.items()))
def test_seed_figures(name, expected):
    result = check_file(SPECS / f"{name}.yaml", input_dims=["N", 1, "H", "W"])
    assert result.valid_inputs["H"] == expected


def test_lenet_is_square_and_reads_as_text():
    result = check_file(SPECS / "lenet.yaml", input_dims=["N", 1, "H", "W"])
    assert result.valid_inputs.square == ("H", "W")
    assert result.valid_inputs.text().startswith("H = W ∈ {28..31}")
    assert result_json(result)["valid_inputs_square"] == ["H", "W"]


def test_one_symbolic_dim():
    result = check_file(SPECS / "lenet.yaml", input_dims=["N", 1, "H", 28])
    assert dict(result.valid_inputs) == {"H": [[28, 31, 1]]}
    assert not result.valid_inputs.square


def test_unet_accepts_multiples_of_16():
    result = check_file(SPECS / "unet.yaml", input_dims=["N", 3, "H", "W"])
    assert result.ok
    assert dict(result.valid_inputs) == {"H": [[16, None, 16]], "W": [[16, None, 16]]}
    assert result.valid_inputs.text() == "H = 16k, k ≥ 1; W = 16k, k ≥ 1"


def test_concrete_failure_says_which_sizes_work():
    result = check_file(SPECS / "lenet.yaml", input_dims=[1, 1, 32, 32])
    first = result.diagnostics[0]
    assert first.code == "features-mismatch"
    assert any("H = W ∈ {28..31}" in note for note in first.notes)
    assert "31×31" in first.hint


def test_text_forms():
    assert describe([[28, 31, 1]], "H") == "H ∈ {28..31}"
    assert describe([[1, None, 1]], "H") == "H ≥ 1"
    assert describe([[16, None, 16]], "H") == "H = 16k, k ≥ 1"
    assert describe([[3, 5, 2], [9, None, 1]], "H") == "H ∈ {3, 5} or H ≥ 9"
    assert describe([], "H") == "no H is valid"


@pytest.mark.parametrize("den", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("const", [-9, -1, 0, 5])
def test_solve_matches_enumeration(den, const):
    h = Sym.var("H")
    expr = (h + const) // den
    conditions = [(expr - 2, "positive"), ((h // 2) * 2 - h + (h - 1) // 3 * 0, "zero")]
    progs = solve(conditions, "H")
    for value in range(1, 400):
        holds = (value + const) // den - 2 >= 1 and value % 2 == 0
        assert contains(progs, value) == holds, value


def test_network_with_errors_has_no_valid_set():
    spec = archc.load(SPECS / "lenet.yaml")
    network = archc.check(spec, ["N", 1, "H", "W"])
    assert valid_input_sets(network) is not None


def test_unet_sizes_against_its_torch_module():
    network = archc.check(archc.load(SPECS / "unet.yaml"))
    model = archc.build(network).eval()
    for h in (16, 24, 32, 40, 48, 56, 63, 64):
        try:
            with torch.no_grad():
                model(torch.zeros(1, 3, h, h))
            accepted = True
        except RuntimeError:
            accepted = False
        assert accepted == (h % 16 == 0), h


def _codes(result) -> list[tuple[str, str]]:
    return [(d.severity, d.code) for d in result.diagnostics]


def test_seed_specs_warn_only_where_input_is_dropped():
    # AlexNet and NiN at 224 drop a row and column in four layers: one warning, with notes.
    for name in ("alexnet", "nin"):
        result = check_file(SPECS / f"{name}.yaml")
        assert result.ok and _codes(result) == [("warning", "lossy-downsampling")]
        assert len(result.diagnostics[0].notes) == 3
    assert "227×227" in check_file(SPECS / "nin.yaml").diagnostics[0].hint
    for name in ("lenet", "lenet_bn", "vgg11", "googlenet", "resnet18", "densenet", "unet"):
        assert check_file(SPECS / f"{name}.yaml").diagnostics == [], name


def test_unet_symbolic_merges_warn_where_they_narrow_the_sizes():
    result = check_file(SPECS / "unet.yaml", input_dims=["N", 3, "H", "W"])
    assert _codes(result) == [("warning", "size-dependent-merge")] * 4
    assert "H mod 16 ∈ {0..7}" in result.diagnostics[0].message


def test_uneven_adaptive_pool():
    text = """
archc: 1
name: adaptive
description: pools 10×10 to 7×7
input: [1, 3, 10, 10]
body:
  - adaptiveavgpool2d: {output_size: 7}
"""
    network = archc.check(archc.load_text(text))
    assert [d.code for d in network.diagnostics] == ["uneven-adaptive-pool"]
    assert network.diagnostics[0].severity == "warning"
    symbolic = archc.check(archc.load_text(text), ["N", 3, "H", "W"])
    assert [d.code for d in symbolic.diagnostics] == ["uneven-adaptive-pool"]
    assert "H = 7k, k ≥ 1" in symbolic.diagnostics[0].message


# One and three spatial axes -------------------------------------------------------------------


def check_text(folder: Path, text: str, input_dims: list):
    """`check_file` of a spec given as text."""
    path = folder / "inline.yaml"
    path.write_text(text)
    return check_file(path, input_dims=input_dims)


def _accepts(model, shape: tuple) -> bool:
    """Whether a forward pass of `model` (on meta, memoized per module) takes `shape`."""
    return _MEMO.run(model, shape) is not None


_MEMO = _Memo()


def _valid(result, name: str, size: int) -> bool:
    return contains(result.valid_inputs[name], size)


def test_m5_lengths_agree_with_pytorch_on_every_length():
    # M5's first convolution reads 80 samples at stride 4, then four poolings by 4 and three
    # 3-wide convolutions: every length from 1,772 on, and none below.
    result = check_file(SPECS / "m5.yaml", input_dims=["N", 1, "L"])
    assert result.ok and dict(result.valid_inputs) == {"L": [[1772, None, 1]]}
    assert result.valid_inputs.text() == "L ≥ 1772"
    model = nd_nets.m5().eval().to("meta")
    for length in range(1, 2400):
        assert _valid(result, "L", length) == _accepts(model, (1, 1, length)), length


def _triples(seed: int, count: int, top: tuple[int, int, int]) -> list[tuple[int, int, int]]:
    """Axis scans (each axis from 1 up, the others at a valid middle size) and random triples."""
    rng = random.Random(seed)
    middle = tuple(t // 2 for t in top)
    scans = [
        tuple(size if a == axis else middle[a] for a in range(3))
        for axis in range(3)
        for size in range(1, top[axis] + 1)
    ]
    return scans + [tuple(rng.randint(1, t) for t in top) for _ in range(count)]


def test_c3d_clip_sizes_agree_with_pytorch():
    # Pooling 1×2×2 then three times 2×2×2: 8 frames or more of 16×16 or more.
    result = check_file(SPECS / "c3d_small.yaml", input_dims=["N", 3, "D", "H", "W"])
    assert result.ok and not result.valid_inputs.square
    assert dict(result.valid_inputs) == {
        "D": [[8, None, 1]],
        "H": [[16, None, 1]],
        "W": [[16, None, 1]],
    }
    assert result.valid_inputs.text() == "D ≥ 8; H ≥ 16; W ≥ 16"
    model = nd_nets.c3d_small().eval().to("meta")
    for d, h, w in _triples(3, 150, (20, 40, 40)):
        ours = _valid(result, "D", d) and _valid(result, "H", h) and _valid(result, "W", w)
        assert ours == _accepts(model, (1, 3, d, h, w)), (d, h, w)


SEQUENCE = """
archc: 1
name: sequence
input: [N, 2, L]
body:
  - conv1d: {out_channels: 4, kernel_size: 7, stride: 3, padding: 2, dilation: 2}
  - instancenorm1d
  - add:
      branches:
        a: [conv1d: {out_channels: 4, kernel_size: 3, stride: 2, padding: 1}]
        b: [maxpool1d: {kernel_size: 3, stride: 2, ceil_mode: true}]
  - upsample: {scale_factor: 3, mode: linear}
  - avgpool1d: {kernel_size: 4, stride: 3, padding: 1, ceil_mode: true, count_include_pad: false}
  - groupnorm: {num_groups: 2}
  - convtranspose1d: {out_channels: 2, kernel_size: 3, stride: 2}
  - adaptivemaxpool1d: {output_size: 5}
"""


class _Sequence(torch.nn.Module):
    """SEQUENCE in plain PyTorch; `add` refuses branches of different shapes, as archc's."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.head = nn.Sequential(nn.Conv1d(2, 4, 7, 3, 2, 2), nn.InstanceNorm1d(4))
        self.a, self.b = nn.Conv1d(4, 4, 3, 2, 1), nn.MaxPool1d(3, 2, ceil_mode=True)
        self.tail = nn.Sequential(
            nn.Upsample(scale_factor=3.0, mode="linear"),
            nn.AvgPool1d(4, 3, 1, ceil_mode=True, count_include_pad=False),
            nn.GroupNorm(2, 4),
            nn.ConvTranspose1d(4, 2, 3, 2),
            nn.AdaptiveMaxPool1d(5),
        )

    def forward(self, x):
        x = self.head(x)
        a, b = self.a(x), self.b(x)
        if a.shape != b.shape:
            raise RuntimeError(f"add of {tuple(a.shape)} and {tuple(b.shape)}")
        return self.tail(a + b)


def test_sequence_lengths_agree_with_pytorch_on_every_length(tmp_path):
    # The branches agree only for some lengths, and instance norm needs two positions.
    network = archc.check(archc.load_text(SEQUENCE))
    assert network.ok
    result = result_json(check_text(tmp_path, SEQUENCE, ["N", 2, "L"]))
    progs = result["valid_inputs"]["L"]
    assert result["axes"] == ["L"]
    model = _Sequence().eval()
    accepted = set()
    for length in range(1, 400):
        try:
            with torch.no_grad():
                model(torch.zeros(1, 2, length))
            accepted.add(length)
        except (RuntimeError, ValueError):
            pass
    assert {n for n in range(1, 400) if contains(progs, n)} == accepted
    assert 0 < len(accepted) < 200  # the merge narrows the set: roughly half the lengths


VOLUME = """
archc: 1
name: volume
input: [N, 1, D, H, W]
body:
  - conv3d: {out_channels: 4, kernel_size: [3, 5, 5], stride: [1, 2, 2], padding: [1, 0, 2]}
  - maxpool3d: {kernel_size: [2, 3, 3], stride: 2, padding: [0, 1, 1], ceil_mode: true}
  - batchnorm3d
  - convtranspose3d: {out_channels: 2, kernel_size: 2, stride: [1, 2, 2]}
  - avgpool3d: {kernel_size: 3, stride: [1, 2, 2]}
  - upsample: {scale_factor: [1, 2, 2], mode: trilinear}
  - adaptiveavgpool3d: {output_size: [2, 3, 3]}
"""


def _volume(instance_norm: bool) -> torch.nn.Module:
    nn = torch.nn
    return nn.Sequential(
        nn.Conv3d(1, 4, (3, 5, 5), (1, 2, 2), (1, 0, 2)),
        nn.MaxPool3d((2, 3, 3), 2, (0, 1, 1), ceil_mode=True),
        nn.InstanceNorm3d(4) if instance_norm else nn.BatchNorm3d(4),
        nn.ConvTranspose3d(4, 2, 2, (1, 2, 2)),
        nn.AvgPool3d(3, (1, 2, 2)),
        nn.Upsample(scale_factor=(1.0, 2.0, 2.0), mode="trilinear"),
        nn.AdaptiveAvgPool3d((2, 3, 3)),
    )


def test_volume_sizes_agree_with_pytorch(tmp_path):
    result = check_text(tmp_path, VOLUME, ["N", 1, "D", "H", "W"])
    assert result.ok and not result.valid_inputs.square
    assert result_json(result)["axes"] == ["D", "H", "W"]
    model = _volume(instance_norm=False).eval().to("meta")
    memo = _Memo()
    for d, h, w in _triples(5, 200, (12, 30, 30)):
        ours = all(_valid(result, n, s) for n, s in zip("DHW", (d, h, w), strict=True))
        assert ours == (memo.run(model, (1, 1, d, h, w)) is not None), (d, h, w)


def test_instance_norm_couples_the_axes_and_agrees_with_pytorch_on_cubes(tmp_path):
    # Instance norm needs D*H*W >= 2 after the pooling: a condition on all three sizes at
    # once, so the valid set is given for equal sizes D = H = W.
    result = check_text(
        tmp_path, VOLUME.replace("batchnorm3d", "instancenorm3d"), ["N", 1, "S", "S", "S"]
    )
    assert result.ok
    model = _volume(instance_norm=True).eval()
    for size in range(1, 24):
        try:
            with torch.no_grad():
                model(torch.zeros(1, 1, size, size, size))
            accepted = True
        except (RuntimeError, ValueError):
            accepted = False
        assert _valid(result, "S", size) == accepted, size
    coupled = check_text(
        tmp_path, VOLUME.replace("batchnorm3d", "instancenorm3d"), ["N", 1, "D", "H", "W"]
    )
    assert coupled.valid_inputs.square == ("D", "H", "W")
    assert coupled.valid_inputs["D"] == result.valid_inputs["S"]
    assert "equal-sized inputs" in coupled.valid_inputs.text()


def test_concrete_failures_say_which_lengths_and_clip_sizes_work():
    # Too short a waveform: the lengths that work, and the nearest one.
    first = check_file(SPECS / "m5.yaml", input_dims=[1, 1, 1000]).diagnostics[0]
    assert first.code == "spatial-collapse"
    assert "this network is valid for inputs with L ≥ 1772" in first.notes
    assert first.hint.endswith("or give the network an input of 1772 or 1773")
    # Too few frames of a clip: the depths that work with its height and width.
    first = check_file(SPECS / "c3d_small.yaml", input_dims=[1, 3, 4, 112, 112]).diagnostics[0]
    assert first.code == "spatial-collapse" and "reduces the depth to 0" in first.message
    assert "with height 112 and width 112, valid: D ≥ 8" in first.notes
    assert first.hint.endswith("or give the network an input depth of 8 or 9")
    # A cube too small: the cubes that work.
    first = check_file(SPECS / "c3d_small.yaml", input_dims=[1, 3, 4, 4, 4]).diagnostics[0]
    assert "this network is valid for cubic inputs with D = H = W ≥ 16" in first.notes
    model = nd_nets.c3d_small().eval().to("meta")
    assert not _accepts(model, (1, 3, 4, 112, 112)) and _accepts(model, (1, 3, 8, 112, 112))
    assert not _accepts(model, (1, 3, 15, 15, 15)) and _accepts(model, (1, 3, 16, 16, 16))
