"""Codes of what a spec says: its fields and values, its layers, expressions and names.

These are found while validating the document and expanding its blocks and repeats
(archc/spec/), before any shape is known; `--set` overrides are checked here too.
"""

from __future__ import annotations

from archc.codes._code import HEAD, Code, SpecExample, spec_text

STAGE = 2
# The example of `too-deep-expansion`: 71 blocks, each calling the next.
CHAIN = "".join(f"  b{i}: {{body: [b{i + 1}]}}\n" for i in range(70)) + "  b70: {body: [relu]}\n"

CODES: list[Code] = [
    Code(
        "unknown-field",
        "A mapping has a key that its object does not know.",
        explanation="""A mapping has a key that its object does not know: an op field, a block
        argument, or a top-level key. archc never ignores a key, because a misspelt one
        (`kernal_size`, `paddin`) would otherwise leave the field at its default and change the
        network silently. The help names the nearest known key; `archc ops` lists every op's
        fields. Fix the spelling, or remove the key.""",
        example=SpecExample(
            spec_text(
                """
                archc: 1
                name: example
                input: [N, 1, 28, 28]
                body:
                  - conv2d: {out_channels: 6, kernal_size: 5}
                """
            ),
            "kernal_size",
            "kernel_size",
        ),
    ),
    Code(
        "missing-field",
        "A required key is absent.",
        explanation="""A required key is absent: a field an op cannot default (a convolution's
        `out_channels` and `kernel_size`, a linear layer's `out_features`), a block argument
        without a default, or a top-level key (`archc`, `name`, `input`, `body`). archc does not
        invent sizes. Add the key; `archc ops` marks each op's required fields.""",
        example=SpecExample(
            spec_text(
                """
                archc: 1
                name: example
                input: [N, 1, 28, 28]
                body:
                  - conv2d: {out_channels: 6}
                """
            ),
            "{out_channels: 6}",
            "{out_channels: 6, kernel_size: 5}",
        ),
    ),
    Code(
        "wrong-type",
        "A value has the wrong type.",
        explanation="""A value has the wrong type, and archc does not coerce it. Specs are read
        as YAML 1.2: `yes`, `no`, `on` and `off` are strings, not booleans (write
        `true`/`false`); `"3"` is a string, not an integer; `1.5` is not an integer; a closed
        set such as `padding` takes only its listed words. The message names the type or values
        the field accepts. Write the value in that type.""",
        example=SpecExample(
            spec_text(
                """
                archc: 1
                name: example
                input: [N, 1, 28, 28]
                body:
                  - conv2d: {out_channels: 6, kernel_size: 5, bias: no}
                """
            ),
            "bias: no",
            "bias: false",
        ),
    ),
    Code(
        "out-of-range",
        "A value is outside the range its field accepts.",
        explanation="""A value has the right type but is outside its field's range: a channel
        count, kernel size or stride of zero or less, a negative padding, a dropout `p` outside
        [0, 1), an input dim below 1. PyTorch would refuse such a layer when built, or build one
        that computes nothing; archc says so at the line. Use a value in the range the message
        gives.""",
        example=SpecExample(
            spec_text(
                """
                archc: 1
                name: example
                input: [N, 1, 28, 28]
                body:
                  - conv2d: {out_channels: 0, kernel_size: 5}
                """
            ),
            "out_channels: 0",
            "out_channels: 6",
        ),
    ),
    Code(
        "unsupported-version",
        "The spec's format version is not one this archc reads.",
        explanation="""The spec's `archc:` format version is not one this archc reads (it reads
        `archc: 1`). A spec written for another version may mean something else in this one, so
        archc refuses it rather than check it under the wrong rules. Write `archc: 1` if the
        spec follows docs/spec.md, or use the archc release that the spec was written for.""",
        example=SpecExample(
            spec_text(
                """
                archc: 2
                name: example
                input: [N, 1, 28, 28]
                body: [relu]
                """
            ),
            "archc: 2",
            "archc: 1",
        ),
    ),
    Code(
        "unknown-op",
        "A layer names an op or block that does not exist.",
        explanation="""A layer names neither an op nor a block declared under `blocks:`. archc's
        ops take PyTorch's names in lower case (`conv2d`, `batchnorm2d`, `maxpool2d`); `archc
        ops` lists them all, and the help names the nearest op or block. Fix the spelling, or
        declare the block.""",
        example=SpecExample(
            spec_text(
                """
                archc: 1
                name: example
                input: [N, 1, 28, 28]
                body:
                  - conv2: {out_channels: 6, kernel_size: 5}
                """
            ),
            "conv2:",
            "conv2d:",
        ),
    ),
    Code(
        "bad-layer",
        "A layer item is not of the form `op` or `op: {fields}`.",
        explanation="""A layer item is not of a layer's form: an op name alone (`- relu`), or a
        mapping with one key, the op, whose value is a mapping of its fields (`- conv2d:
        {...}`). A scalar after the op (`conv2d: 6`), a number as an item, or a mapping with two
        op keys is none of these. `name` and `if` go inside the fields: `- relu: {name: act}`.""",
        example=SpecExample(
            spec_text(
                """
                archc: 1
                name: example
                input: [N, 1, 28, 28]
                body:
                  - conv2d: 6
                """
            ),
            "conv2d: 6",
            "conv2d: {out_channels: 6, kernel_size: 5}",
        ),
    ),
    Code(
        "bad-expression",
        "An expression in an argument cannot be parsed or evaluated.",
        explanation="""An expression (a string mentioning `$name` or `in.`) cannot be parsed or
        evaluated: a syntax error, a division by zero, an attribute or call outside the allowed
        set, or a value past the limits (integers within 2^62, 500 characters). `/` is refused
        because sizes are integers: write `//` for floor division, or `div(a, b)` for true
        division. docs/spec.md lists what expressions may use.""",
        example=SpecExample(
            spec_text(
                """
                archc: 1
                name: example
                input: [N, 1, 28, 28]
                params:
                  width: 16
                body:
                  - conv2d: {out_channels: $width / 2, kernel_size: 3}
                """
            ),
            "$width / 2",
            "$width // 2",
        ),
    ),
    Code(
        "undefined-name",
        "An expression names a parameter or argument that does not exist.",
        explanation="""An expression names a parameter or block argument that does not exist
        where it is evaluated. A block's body sees the spec's `params` and its own `args` only,
        not the caller's variables or arguments; a `repeat` adds its index variable (`i`) inside
        its body only. A bare word such as `width` (no `$`) is a string, not a variable. The
        help names the nearest defined name. Fix the spelling, or pass the value as an argument.""",
        example=SpecExample(
            spec_text(
                """
                archc: 1
                name: example
                input: [N, 1, 28, 28]
                params:
                  width: 16
                body:
                  - conv2d: {out_channels: $widht, kernel_size: 3}
                """
            ),
            "$widht",
            "$width",
        ),
    ),
    Code(
        "unknown-param",
        "An override (`--set`, or `overrides` in Python) names no spec parameter.",
        kind="usage",
        explanation="""`--set NAME=VALUE` (or a key of `overrides` in Python) names a parameter that
        the spec's `params:` does not declare. Overriding a parameter that does not exist would do
        nothing, so a typo in a sweep would check the default network and report it as the variant.
        This is a usage error (exit 2); the help names the nearest parameter, or lists them all. Fix
        the name, or declare the parameter under `params:`.""",
        example=SpecExample(
            spec_text(
                """
                archc: 1
                name: example
                input: [N, 1, 28, 28]
                params:
                  classes: 10
                body:
                  - flatten
                  - linear: {out_features: $classes}
                """
            ),
            set="clases=5",
            fixed_set="classes=5",
        ),
    ),
    Code(
        "bad-override",
        "An override (`--set`, or `overrides` in Python) gives a parameter another type.",
        kind="usage",
        explanation="""`--set NAME=VALUE` (or a key of `overrides` in Python) gives a parameter a
        value of another type than the one the spec declares: `--set classes=five` where `classes:
        10` is an integer, or a single number where the spec has a list. The value is read as YAML,
        so `5` is an integer, `[3, 4, 6, 3]` a list and `five` a string. Like an unknown name, this
        is a usage error (exit 2), reported before anything is checked. Give a value of the
        parameter's type.""",
        example=SpecExample(
            spec_text(
                """
                archc: 1
                name: example
                input: [N, 1, 28, 28]
                params:
                  classes: 10
                body:
                  - flatten
                  - linear: {out_features: $classes}
                """
            ),
            set="classes=five",
            fixed_set="classes=5",
        ),
    ),
    Code(
        "undefined-ref",
        "A `ref` names an output that was not defined before it.",
        explanation="""A `ref` names an output that is not defined before it. `ref: NAME`
        continues from the output of the item named NAME (`name: NAME`), which must come earlier
        in the flow, so that every tensor exists before it is used; a forward reference would be
        a cycle. The help names the nearest defined name. Fix the spelling, or name the layer
        you mean.""",
        example=SpecExample(
            spec_text(
                """
                archc: 1
                name: example
                input: [N, 8, 16, 16]
                body:
                  - conv2d: {name: stem, out_channels: 8, kernel_size: 3, padding: 1}
                  - relu
                  - concat: {branches: {main: [], skip: [ref: stme]}}
                """
            ),
            "ref: stme",
            "ref: stem",
        ),
    ),
    Code(
        "assertion-failed",
        "An `assert:` item's condition does not hold.",
        explanation="""A spec states what must hold with an `assert:` item — `that:` an
        expression giving true or false, and a `message:` whose `{expression}` parts are
        evaluated. The condition is false for these parameters (or this input), so the spec
        refuses them with its own message. Change the parameters, or the spec if the assertion
        is wrong.""",
        example=SpecExample(
            spec_text(
                """
                archc: 1
                name: example
                input: [N, 3, 32, 32]
                params: {width: 30, groups: 8}
                body:
                  - assert:
                      that: "$width % $groups == 0"
                      message: "width {$width} is not a multiple of {$groups}"
                  - conv2d: {out_channels: $width, kernel_size: 3, groups: 1}
                """
            ),
            "width: 30",
            "width: 32",
        ),
    ),
    Code(
        "duplicate-name",
        "Two siblings have the same name, so their paths would collide.",
        explanation="""Two sibling items have the same `name`. A layer's path (the names of the
        items that contain it, joined by dots) is its `state_dict` key prefix, its ONNX node
        name and its name in messages, so two siblings with one name would have colliding
        weights, and a `ref` to the name would be ambiguous. Rename one of them.""",
        example=SpecExample(
            spec_text(
                """
                archc: 1
                name: example
                input: [N, 8, 16, 16]
                body:
                  - conv2d: {name: conv, out_channels: 8, kernel_size: 1}
                  - conv2d: {name: conv, out_channels: 8, kernel_size: 3}
                """
            ),
            "{name: conv, out_channels: 8, kernel_size: 3}",
            "{name: conv3, out_channels: 8, kernel_size: 3}",
        ),
    ),
    Code(
        "reserved-name",
        "A block argument uses a name reserved for layer items.",
        explanation="""A block argument is called `name`, `if` or `in_channels`. A block call
        accepts those keys for itself (the call's path segment, its condition, the width it
        expects), so an argument of that name could never be passed. Rename the argument, or
        drop it: a call may state `name:` already.""",
        example=SpecExample(
            spec_text(
                """
                archc: 1
                name: example
                input: [N, 8, 16, 16]
                blocks:
                  unit:
                    args: {name: str, out: int}
                    body: [conv2d: {out_channels: $out, kernel_size: 1}]
                body:
                  - unit: {name: stem, out: 16}
                """
            ),
            "{name: str, out: int}",
            "{out: int}",
        ),
    ),
    Code(
        "recursive-block",
        "A block includes itself, directly or through other blocks.",
        explanation="""A block calls itself, directly or through other blocks, so its expansion
        would never end. Blocks have no base case: to repeat layers a number of times, use
        `repeat` with `times:` (which may be an argument). The message shows the cycle of calls.""",
        example=SpecExample(
            spec_text(
                """
                archc: 1
                name: example
                input: [N, 8, 16, 16]
                blocks:
                  unit:
                    args: {}
                    body: [relu, unit]
                body:
                  - unit
                """
            ),
            "body: [relu, unit]",
            "body: [relu]",
        ),
    ),
    Code(
        "too-many-layers",
        "The network expands to more layers than the limit.",
        explanation="""The network would expand to more than 10,000 layers, or its expansion
        would take more than 100,000 steps or 1,000,000 expression operations. The largest real
        networks have a few thousand layers; a nested `repeat` with a large `times` is usually a
        typo. archc stops as soon as the count projects past the limit, before building the
        layers (docs/limits.md). Check each `repeat`'s `times`.""",
        example=SpecExample(
            spec_text(
                """
                archc: 1
                name: example
                input: [N, 8, 16, 16]
                body:
                  - repeat:
                      times: 1000
                      body: [repeat: {times: 1000, body: [relu]}]
                """
            ),
            "times: 1000\n",
            "times: 4\n",
        ),
    ),
    Code(
        "too-deep-expansion",
        "Blocks, repeats, groups and branches nest deeper than the limit.",
        explanation="""Block calls, `repeat`s, `seq` groups and merge branches nest more than 64
        levels deep, counting through every block a block calls. YAML nesting is limited the
        same way; a chain of blocks, each calling the next, is the one way past it. Building
        and exporting a network walk its groups as deeply as they nest, so archc stops at the
        limit, before expanding further (docs/limits.md). Call the blocks one after another
        rather than each from inside the last.""",
        example=SpecExample(
            HEAD + "input: [N, 1, 28, 28]\nblocks:\n" + CHAIN + "body: [b0]\n",
            "body: [b0]",
            "body: [b60]",
        ),
    ),
]
