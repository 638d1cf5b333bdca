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


def test_an_argument_of_a_union_type_takes_each_member():
    network = check(
        """
archc: 1
name: u
input: [N, 3, 17, 17]
blocks:
  conv:
    args: {out: int, k: int | list, p: {type: "int | list", default: 0}}
    body: [conv2d: {out_channels: $out, kernel_size: $k, padding: $p}]
body:
  - conv: {out: 4, k: 3}
  - conv: {out: 4, k: [1, 7], p: [0, 3]}
  - conv: {out: 4, k: true}
"""
    )
    assert [(d.code, d.line) for d in network.diagnostics] == [("wrong-type", 12)]
    assert "int | list" in network.diagnostics[0].message
    assert [layer.shape[2:] for layer in network.layers] == [(15, 15), (15, 15)]


def test_an_assertion_fails_with_its_message_at_its_condition():
    text = """
archc: 1
name: a
input: [N, 3, 8, 8]
params: {width: 30, groups: 8}
body:
  - assert:
      that: "$width % $groups == 0"
      message: "width {$width} is not a multiple of {$groups}"
  - conv2d: {out_channels: $width, kernel_size: 3}
"""
    network = check(text)
    assert [(d.code, d.line, d.message) for d in network.diagnostics] == [
        ("assertion-failed", 8, "width 30 is not a multiple of 8")
    ]
    fine = archc.check(archc.load_text(text, "t.yaml", overrides={"width": 32}))
    assert fine.ok and [layer.op.name for layer in fine.layers] == ["conv2d"]


def test_input_reads_the_block_input_and_in_the_current_item():
    network = check(
        """
archc: 1
name: mb
input: [N, 8, 6, 6]
blocks:
  mbconv:
    args: {out: int, expand: {type: int, default: "input.channels * 4"}}
    body:
      - add:
          if: "$out == input.channels"
          branches:
            main:
              - conv2d: {out_channels: $expand, kernel_size: 1}
              - conv2d: {out_channels: "input.channels + in.channels", kernel_size: 1}
              - conv2d: {out_channels: $out, kernel_size: 1}
            skip: []
body:
  - mbconv: {out: 8}
"""
    )
    assert network.ok, network.diagnostics
    assert [layer.shape[1] for layer in network.layers] == [32, 40, 8, 8]  # 8 + 32, then add


def test_in_where_the_block_input_was_meant_is_a_warning():
    network = check(
        """
archc: 1
name: mb
input: [N, 8, 6, 6]
blocks:
  expand:
    args: {out: int}
    body:
      - conv2d: {out_channels: $out, kernel_size: 1}
      - relu: {if: "$out == in.channels"}
      - sigmoid: {if: "$out != in.channels * 4"}
body:
  - expand: {out: 16}
"""
    )
    assert network.ok
    found = [(d.code, d.line) for d in network.diagnostics]
    assert found == [("in-not-block-input", 10)]  # the sigmoid's condition agrees either way


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
        ("bad-expression", "the tensor `in` has no `length`")
    ]
    assert volume.layers[0].shape[1:] == (18, 4, 6, 8)
