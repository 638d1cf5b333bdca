"""Valid input sizes: archc's exact sets against PyTorch, on every H = W from 1 to 256.

PyTorch accepts a size when a forward pass of zeros of shape (1, 1, H, H) through the reference
network (tests/reference/seed_nets.py, eval mode) succeeds. The forward runs on the meta device
(shapes are validated, nothing is computed), and module by module with the outcome memoized by
input shape: after a few poolings, many input sizes share a shape, so the brute force stays fast.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import archc
from archc.analysis.periodic import contains, describe, solve
from archc.analysis.valid_inputs import valid_input_sets
from archc.api import check_file
from archc.dims import Sym
from archc.report import result_json

torch = pytest.importorskip("torch")
from tests.reference import seed_nets  # noqa: E402

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
