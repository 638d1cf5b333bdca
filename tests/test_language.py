"""Language constructs, end to end: what each builds, checked on shapes and paths."""

from __future__ import annotations

import archc


def check(text: str):
    return archc.check(archc.load_text(text, "t.yaml"))


def test_ref_takes_a_name_passed_to_a_block():
    network = check(
        """
archc: 1
name: skip
input: [N, 8, 16, 16]
blocks:
  up:
    args: {skip: str, out: int}
    body:
      - convtranspose2d: {out_channels: $out, kernel_size: 2, stride: 2}
      - concat:
          branches:
            x: []
            skip: [ref: $skip]
body:
  - conv2d: {name: enc, out_channels: 4, kernel_size: 3, padding: 1}
  - maxpool2d: {kernel_size: 2}
  - up: {skip: enc, out: 4}
"""
    )
    assert network.ok, network.diagnostics
    assert network.output_shape[1:] == (8, 16, 16)
    concat = network.layers[-1]
    assert (concat.op.name, concat.inputs) == ("concat", (3, 1))  # up-conv output, then `enc`


def test_ref_to_an_undefined_name_from_a_block_argument_is_located():
    network = check(
        """
archc: 1
name: skip
input: [N, 8, 16, 16]
blocks:
  b:
    args: {skip: str}
    body: [ref: $skip]
body:
  - b: {skip: nowhere}
"""
    )
    assert [(d.code, d.line) for d in network.diagnostics] == [("undefined-ref", 8)]


def test_conditional_items_leave_no_gap_in_paths_and_repeat_index_counts():
    network = check(
        """
archc: 1
name: cond
input: [N, 3, 8, 8]
body:
  - repeat:
      times: 3
      body:
        - conv2d: {if: "$i != 1", out_channels: 4, kernel_size: 1}
        - relu
"""
    )
    assert [layer.path for layer in network.layers] == ["0", "1", "2", "3", "4"]
    assert [layer.op.name for layer in network.layers] == [
        "conv2d", "relu", "relu", "conv2d", "relu",
    ]  # fmt: skip


def test_the_incoming_tensor_names_its_spatial_sizes_by_rank():
    # (N, C, L) has a length; (N, C, D, H, W) a depth, height and width.
    sequence = check(
        """
archc: 1
name: sequence
input: [N, 2, 40]
body:
  - conv1d: {out_channels: "in.length // 10", kernel_size: 3}
  - maxpool1d: {kernel_size: "in.length // 19"}
"""
    )
    assert sequence.ok, sequence.diagnostics
    assert sequence.output_shape[1:] == (4, 19)  # 40 // 10 channels; 38 pooled by 38 // 19
    volume = check(
        """
archc: 1
name: volume
input: [N, 3, 4, 6, 8]
body:
  - conv3d: {out_channels: "in.depth + in.height + in.width", kernel_size: 1}
  - avgpool3d: {kernel_size: "in.length"}
"""
    )
    assert not volume.ok  # a volume has no length
    assert [(d.code, d.message) for d in volume.diagnostics] == [
        ("bad-expression", "the incoming tensor has no `length`")
    ]
    assert volume.layers[0].shape[1:] == (18, 4, 6, 8)
