"""Every op of the registry, proved on its own examples against PyTorch and ONNX Runtime.

Each op declares `examples` (an input shape and fields). For each, the example becomes a
one-item spec; archc's static answers (output shape of every layer, parameters, buffers, MACs)
must equal what PyTorch computes and counts, with MACs measured by torch's FLOP counter; and
the example must export with a dynamic batch and give the same output on ONNX Runtime.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import typing

import pytest

import archc
import archc.ops
from archc.ops import OPS, Op
from archc.ops.base import Category, Example

CASES = [
    pytest.param(name, example, id=f"{name}-{index}")
    for name, cls in sorted(OPS.items())
    for index, example in enumerate(getattr(cls, "examples", ()))
]


def example_spec(name: str, example: Example) -> archc.spec.document.Spec:
    """The one-item spec of an example, with a symbolic batch."""
    item = {name: example.fields} if example.fields else name
    document = {
        "archc": 1,
        "name": f"{name}-example",
        "input": ["N", *example.input[1:]],
        "body": [item],
    }
    return archc.load_text(json.dumps(document), f"<{name} example>")


# The contract ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_declares_the_whole_contract(name):
    cls = OPS[name]
    assert cls.name == name and name == name.lower()
    assert getattr(cls, "examples", ()), f"`{name}` has no example"
    assert cls.geometry is not Op.geometry, f"`{name}` declares no geometry"
    assert cls.category in typing.get_args(Category)
    assert cls.summary and cls.__doc__


def test_every_module_of_the_package_is_imported_and_every_op_class_registered():
    for module in pkgutil.iter_modules(archc.ops.__path__):
        loaded = importlib.import_module(f"archc.ops.{module.name}")
        for value in vars(loaded).values():
            named = isinstance(value, type) and issubclass(value, Op) and "name" in vars(value)
            if named and value.__module__ == loaded.__name__:
                assert OPS[value.name] is value, f"{value.__name__} is not registered"


def test_the_registry_refuses_a_second_op_of_the_same_name():
    from archc.ops.base import register

    class Twin(Op):
        name: typing.ClassVar[str] = "relu"

    with pytest.raises(ValueError, match="registered twice"):
        register(Twin)


@pytest.mark.parametrize(("name", "example"), CASES)
def test_axes_say_what_every_output_dim_holds(name, example):
    network = archc.check(example_spec(name, example))
    for layer in network.layers:
        x = layer.input_shapes[0]
        held = layer.op.axes(x)
        assert len(held) == len(layer.shape), layer.path
        assert held[0] == (0,), layer.path  # the batch stays where it is
        assert all(0 <= axis < len(x) for dims in held for axis in dims), layer.path


# Against PyTorch ------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "example"), CASES)
def test_static_answers_equal_pytorch(name, example):
    torch = pytest.importorskip("torch")
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    network = archc.check(example_spec(name, example))
    assert network.ok, [d.message for d in network.diagnostics]
    model = archc.build(network).eval()
    batch = 3
    x = torch.randn(batch, *example.input[1:])
    # torch's counter sees attention's two matmuls (q·kᵀ and attn·v, which archc's MACs
    # count) only where scaled-dot-product attention runs its math kernel, as bmm calls: its
    # fused CPU kernels count 0.
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        values = model.values(x)
    for index, layer in enumerate(network.layers, start=1):
        assert tuple(values[index].shape) == (batch, *layer.shape[1:]), layer.path
    assert sum(p.numel() for p in model.parameters()) == network.params
    assert sum(b.numel() for b in model.buffers()) == network.buffers
    # torch counts a multiply-accumulate as two FLOPs, over the whole batch.
    assert counter.get_total_flops() == 2 * batch * network.macs


# Against ONNX Runtime -------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "example"), CASES)
def test_example_exports_with_a_dynamic_batch_and_matches_on_onnx_runtime(name, example, tmp_path):
    pytest.importorskip("onnxruntime")
    result = archc.export(example_spec(name, example), tmp_path / f"{name}.onnx")
    assert result.verified and result.dynamic_batch
    assert result.batch_sizes == [1, 7]
    assert result.max_abs_diff <= result.tolerance
