"""The long form of every diagnostic code, for `archc explain CODE` (as `rustc --explain`).

Each code in `archc.diagnostics.CODES` has an `Explanation` here: what the code means, why
archc refuses (or warns), how to fix it, and an example. A code that a spec can trigger has a
`SpecExample`: a small spec, valid except for one mistake, and the replacement that fixes it.
`explain` runs the example through archc when it prints it, so the diagnostic shown is the one
`archc check` gives today, and tests/test_explain.py proves every example still triggers its
code and every fix checks clean. A code no spec can trigger (a usage error, an export-only
failure) has a `CommandExample` instead: the command line that meets it, and one that does not.

This module is imported by the `explain` command only; `import archc` and `archc check` never
load it.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from archc.diagnostics import CODES, Diagnostic

EXAMPLE_FILE = "example.yaml"


@dataclass(frozen=True)
class SpecExample:
    """A spec with one mistake; replacing `wrong` by `right` (once) fixes it.

    `encoding` is how the spec's bytes are saved (the fix is always saved as UTF-8); `set` and
    `fixed_set` are `--set NAME=VALUE` overrides given with it, before and after the fix.
    """

    spec: str
    wrong: str = ""
    right: str = ""
    encoding: str = "utf-8"
    set: str = ""
    fixed_set: str = ""

    @property
    def fixed(self) -> str:
        return self.spec.replace(self.wrong, self.right, 1) if self.wrong else self.spec

    def command(self, fixed: bool = False) -> str:
        overrides = self.fixed_set if fixed else self.set
        return f"archc check {EXAMPLE_FILE}" + (f" --set {overrides}" if overrides else "")


@dataclass(frozen=True)
class CommandExample:
    """A command line that meets the code, and one that does not."""

    command: str
    fixed: str


@dataclass(frozen=True)
class Explanation:
    """What a code means, why archc reports it, how to fix it; and an example."""

    text: str
    example: SpecExample | CommandExample


def _text(paragraph: str) -> str:
    return textwrap.fill(" ".join(paragraph.split()), width=92)


def _spec(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


_HEAD = "archc: 1\nname: example\n"

EXPLANATIONS: dict[str, Explanation] = {
    # Reading the file ----------------------------------------------------------------------
    "file-unreadable": Explanation(
        """The path given on the command line cannot be read: it does not exist, it is a
        device or socket rather than a regular file, or its permissions forbid reading it. This
        is a usage error, not a finding in a spec: archc exits 2 and checks nothing for that
        path. Check the spelling and the current directory. `archc check` also takes a
        folder (`archc check specs/` checks every *.yaml and *.yml file under it); the other
        commands need a file.""",
        CommandExample("archc check specs/lenett.yaml", "archc check specs/lenet.yaml"),
    ),
    "file-too-large": Explanation(
        """The spec file is over 512 KiB (524,288 bytes), and is refused from its size alone,
        before a byte is read. Loading YAML costs about 100 bytes of memory per byte of text;
        the limit keeps any check within about 2 s and 300 MB, whatever a stranger submits
        (docs/limits.md). Real specs are a few KB: a file this large writes out every layer,
        or is not a spec. Write repeated layers with `repeat` and reused groups as `blocks`.""",
        CommandExample(
            "archc check big.yaml        # a 600 KB file, every layer written out",
            "archc check big.yaml        # the same network, its stages as `repeat`",
        ),
    ),
    "bad-encoding": Explanation(
        """archc reads specs as UTF-8 (a leading byte-order mark is allowed). A byte that is not
        UTF-8 (a file saved as Latin-1, Windows-1252 or UTF-16) or a NUL byte means the file is
        not the text it looks like, and guessing its encoding could change what a name says.
        The diagnostic points at the first bad byte. Save the file as UTF-8, e.g. with your
        editor's "save with encoding", or `iconv -f latin1 -t utf-8 old.yaml > new.yaml`.""",
        SpecExample(
            _HEAD + "description: a café classifier\ninput: [N, 3, 32, 32]\nbody: [relu]\n",
            encoding="latin-1",
        ),
    ),
    "yaml-syntax": Explanation(
        """The file is not well-formed YAML, so archc cannot tell what it says: an unclosed
        bracket or quote, a tab in the indentation, a second document after `---`, or a colon
        inside a plain value. The caret points where the YAML parser gave up, which can be
        after the real mistake. A layer's fields go in a flow mapping `{...}` or on indented
        lines of their own; `key: value: value` on one line is not YAML.""",
        SpecExample(
            _spec(
                """
                archc: 1
                name: example
                input: [N, 1, 28, 28]
                body:
                  - conv2d: out_channels: 6, kernel_size: 5
                  - relu
                """
            ),
            "conv2d: out_channels: 6, kernel_size: 5",
            "conv2d: {out_channels: 6, kernel_size: 5}",
        ),
    ),
    "yaml-tag": Explanation(
        """A YAML tag (`!!int`, `!!set`, `!!binary`, `!!python/object/apply:...`, `!custom`)
        asks the loader to construct a particular type. With PyYAML's unsafe loader, a
        `!!python/...` tag runs code. archc never constructs a tagged node: it refuses it
        where it appears, so a spec is plain data whatever the file says. Write the plain
        value instead: a number, a string, a list or a mapping.""",
        SpecExample(
            _spec(
                """
                archc: 1
                name: example
                input: [N, 1, 28, 28]
                body:
                  - conv2d: {out_channels: !!int "6", kernel_size: 5}
                """
            ),
            'out_channels: !!int "6"',
            "out_channels: 6",
        ),
    ),
    "duplicate-key": Explanation(
        """A mapping states the same key twice. YAML loaders disagree on what that means
        (PyYAML keeps the last value, others the first or refuse), and a repeated key is
        almost always an edit that left the old value behind. archc refuses rather than pick
        one silently; the diagnostic points at the second occurrence. Keep the value you
        mean and delete the other.""",
        SpecExample(
            _spec(
                """
                archc: 1
                name: example
                input: [N, 1, 28, 28]
                body:
                  - conv2d: {out_channels: 6, kernel_size: 5, out_channels: 8}
                """
            ),
            ", out_channels: 8}",
            "}",
        ),
    ),
    "bad-key": Explanation(
        """A mapping key is not a plain string: a list, a mapping, or a complex key written
        with `?`. Every key of a spec is a field, parameter, block or branch name, so only
        strings are meaningful, and a collection as a key is usually a stray pair of
        brackets. Write the key as a plain word.""",
        SpecExample(
            _spec(
                """
                archc: 1
                name: example
                input: [N, 1, 28, 28]
                body:
                  - conv2d: {[out_channels]: 6, kernel_size: 5}
                """
            ),
            "[out_channels]: 6",
            "out_channels: 6",
        ),
    ),
    "too-deep": Explanation(
        """The YAML nests more than 64 mappings and sequences deep (aliases expanded). No
        network needs that; deep nesting is how hostile files crash YAML parsers (libyaml's
        composer recurses in C), so archc stops reading at the 65th level, before building
        anything (docs/limits.md). Flatten the structure: a list of lists of numbers is as
        deep as a parameter needs to be.""",
        SpecExample(
            _HEAD
            + "input: [N, 1, 28, 28]\nparams:\n  nested: "
            + "[" * 70
            + "]" * 70
            + "\nbody: [relu]\n",
            "[" * 70 + "]" * 70,
            "[[1, 2], [3, 4]]",
        ),
    ),
    "too-many-nodes": Explanation(
        """The YAML, with its aliases (`*name`) expanded, has more than 200,000 nodes. Each
        alias copies its anchor, so a few lines of aliases of aliases can expand to billions
        of nodes (the "billion laughs" attack); archc counts while it expands and stops at
        the limit, before any memory is spent (docs/limits.md). Real specs have a few thousand
        nodes: write repetition with `repeat`, and lists of numbers out.""",
        SpecExample(
            _spec(
                """
                archc: 1
                name: example
                input: [N, 1, 28, 28]
                params:
                  a0: &a0 [x, x, x, x, x, x, x, x, x, x]
                  a1: &a1 [*a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0]
                  a2: &a2 [*a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1]
                  a3: &a3 [*a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2]
                  a4: &a4 [*a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3]
                  a5: &a5 [*a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4]
                body: [relu]
                """
            ),
            "  a2: &a2 [*a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1]\n"
            "  a3: &a3 [*a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2]\n"
            "  a4: &a4 [*a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3]\n"
            "  a5: &a5 [*a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4]\n",
            "",
        ),
    ),
    "recursive-alias": Explanation(
        """A YAML alias refers to the node that contains it (`&body [relu, *body]`), so its
        value would be infinite. PyYAML builds such a value as a self-referencing list, which
        loops or crashes whatever walks it; archc refuses it at the alias. Write the items
        out, or use `repeat` to repeat layers.""",
        SpecExample(
            _HEAD + "input: [N, 1, 28, 28]\nbody: &body [relu, *body]\n",
            "&body [relu, *body]",
            "[relu, relu]",
        ),
    ),
    "ambiguous-scalar": Explanation(
        """A plain scalar means different things in YAML 1.1 and 1.2: `010` is 8 (octal) in
        YAML 1.1 and 10 in 1.2; `0x10`, `0o10` and `1_000` are numbers in one and strings or
        errors in the other. Tools around archc read YAML with either version, so archc
        refuses to guess rather than let two tools see different networks. Write the number
        in plain decimal, or quote it if you mean a string.""",
        SpecExample(
            _spec(
                """
                archc: 1
                name: example
                input: [N, 1, 28, 28]
                body:
                  - conv2d: {out_channels: 010, kernel_size: 5}
                """
            ),
            "out_channels: 010",
            "out_channels: 10",
        ),
    ),
    "bad-number": Explanation(
        """A number is not finite (`.nan`, `.inf`, `1e309`, which overflows to infinity) or
        is an integer of more than 18 digits. No size, rate or probability of a network is
        infinite or that large; such a value is a typo or a hostile file, and would make
        every count after it meaningless. Write the finite value you mean.""",
        SpecExample(
            _spec(
                """
                archc: 1
                name: example
                input: [N, 1, 28, 28]
                body:
                  - dropout: {p: .nan}
                """
            ),
            "p: .nan",
            "p: 0.5",
        ),
    ),
    "empty-spec": Explanation(
        """The file holds no YAML document: it is empty, or only comments. A spec needs at
        least `archc`, `name`, `input` and `body`. An empty file is usually a failed save or
        a generator that wrote nothing, so it is an error, not a network with no layers.
        Start from `archc new NAME`, which writes a spec that checks.""",
        SpecExample(
            "# TODO: write the network\n",
            "# TODO: write the network\n",
            _HEAD + "input: [N, 1, 28, 28]\nbody: [relu]\n",
        ),
    ),
    "not-a-mapping": Explanation(
        """A value that must be a mapping (`key: value` pairs) is a list or a scalar. The
        most common case is the whole file: a spec is a mapping with `archc`, `name`,
        `input` and `body`, not a bare list of layers. The same holds for `params`,
        `blocks`, a block's `args`, and a layer's fields. Put the layers under `body:` and
        add the header keys.""",
        SpecExample(
            "- conv2d: {out_channels: 6, kernel_size: 5}\n- relu\n",
            "- conv2d",
            _HEAD + "input: [N, 1, 28, 28]\nbody:\n- conv2d",
        ),
    ),
    # Fields and values -----------------------------------------------------------------------
    "unknown-field": Explanation(
        """A mapping has a key that its object does not know: an op field, a block argument,
        or a top-level key. archc never ignores a key, because a misspelt one (`kernal_size`,
        `paddin`) would otherwise leave the field at its default and change the network
        silently. The help names the nearest known key; `archc ops` lists every op's fields.
        Fix the spelling, or remove the key.""",
        SpecExample(
            _spec(
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
    "missing-field": Explanation(
        """A required key is absent: a field an op cannot default (a convolution's
        `out_channels` and `kernel_size`, a linear layer's `out_features`), a block argument
        without a default, or a top-level key (`archc`, `name`, `input`, `body`). archc does
        not invent sizes. Add the key; `archc ops` marks each op's required fields.""",
        SpecExample(
            _spec(
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
    "wrong-type": Explanation(
        """A value has the wrong type, and archc does not coerce it. Specs are read as YAML
        1.2: `yes`, `no`, `on` and `off` are strings, not booleans (write `true`/`false`);
        `"3"` is a string, not an integer; `1.5` is not an integer; a closed set such as
        `padding` takes only its listed words. The message names the type or values the field
        accepts. Write the value in that type.""",
        SpecExample(
            _spec(
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
    "out-of-range": Explanation(
        """A value has the right type but is outside its field's range: a channel count,
        kernel size or stride of zero or less, a negative padding, a dropout `p` outside
        [0, 1), an input dim below 1. PyTorch would refuse such a layer when built, or build
        one that computes nothing; archc says so at the line. Use a value in the range the
        message gives.""",
        SpecExample(
            _spec(
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
    "unsupported-version": Explanation(
        """The spec's `archc:` format version is not one this archc reads (it reads
        `archc: 1`). A spec written for another version may mean something else in this one,
        so archc refuses it rather than check it under the wrong rules. Write `archc: 1` if
        the spec follows docs/spec.md, or use the archc release that the spec was written
        for.""",
        SpecExample(
            _spec(
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
    # Layers, expressions and names -----------------------------------------------------------
    "unknown-op": Explanation(
        """A layer names neither an op nor a block declared under `blocks:`. archc's ops take
        PyTorch's names in lower case (`conv2d`, `batchnorm2d`, `maxpool2d`); `archc ops`
        lists them all, and the help names the nearest op or block. Fix the spelling, or
        declare the block.""",
        SpecExample(
            _spec(
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
    "bad-layer": Explanation(
        """A layer item is not of a layer's form: an op name alone (`- relu`), or a mapping
        with one key, the op, whose value is a mapping of its fields (`- conv2d: {...}`). A
        scalar after the op (`conv2d: 6`), a number as an item, or a mapping with two op keys
        is none of these. `name` and `if` go inside the fields: `- relu: {name: act}`.""",
        SpecExample(
            _spec(
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
    "bad-expression": Explanation(
        """An expression (a string mentioning `$name` or `in.`) cannot be parsed or
        evaluated: a syntax error, a division by zero, an attribute or call outside the
        allowed set, or a value past the limits (integers within 2^62, 500 characters). `/`
        is refused because sizes are integers: write `//` for floor division, or `div(a, b)`
        for true division. docs/spec.md lists what expressions may use.""",
        SpecExample(
            _spec(
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
    "undefined-name": Explanation(
        """An expression names a parameter or block argument that does not exist where it is
        evaluated. A block's body sees the spec's `params` and its own `args` only, not the
        caller's variables or arguments; a `repeat` adds its index variable (`i`) inside its
        body only. A bare word such as `width` (no `$`) is a string, not a variable. The help
        names the nearest defined name. Fix the spelling, or pass the value as an argument.""",
        SpecExample(
            _spec(
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
    "unknown-param": Explanation(
        """`--set NAME=VALUE` (or a key of `overrides` in Python) names a parameter that the
        spec's `params:` does not declare.
        Overriding a parameter that does not exist would do nothing, so a typo in a sweep
        would check the default network and report it as the variant. This is a usage error
        (exit 2); the help names the nearest parameter, or lists them all. Fix the name, or
        declare the parameter under `params:`.""",
        SpecExample(
            _spec(
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
    "undefined-ref": Explanation(
        """A `ref` names an output that is not defined before it. `ref: NAME` continues from
        the output of the item named NAME (`name: NAME`), which must come earlier in the
        flow, so that every tensor exists before it is used; a forward reference would be a
        cycle. The help names the nearest defined name. Fix the spelling, or name the layer
        you mean.""",
        SpecExample(
            _spec(
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
    "duplicate-name": Explanation(
        """Two sibling items have the same `name`. A layer's path (the names of the items that
        contain it, joined by dots) is its `state_dict` key prefix, its ONNX node name and its
        name in messages, so two siblings with one name would have colliding weights, and a
        `ref` to the name would be ambiguous. Rename one of them.""",
        SpecExample(
            _spec(
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
    "reserved-name": Explanation(
        """A block argument is called `name`, `if` or `in_channels`. A block call accepts those
        keys for itself (the call's path segment, its condition, the width it expects), so an
        argument of that name could never be passed. Rename the argument, or drop it: a call
        may state `name:` already.""",
        SpecExample(
            _spec(
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
    "recursive-block": Explanation(
        """A block calls itself, directly or through other blocks, so its expansion would
        never end. Blocks have no base case: to repeat layers a number of times, use `repeat`
        with `times:` (which may be an argument). The message shows the cycle of calls.""",
        SpecExample(
            _spec(
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
    "too-many-layers": Explanation(
        """The network would expand to more than 10,000 layers, or its expansion would take
        more than 100,000 steps or 1,000,000 expression operations. The largest real networks
        have a few thousand layers; a nested `repeat` with a large `times` is usually a typo.
        archc stops as soon as the count projects past the limit, before building the layers
        (docs/limits.md). Check each `repeat`'s `times`.""",
        SpecExample(
            _spec(
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
    # Shapes ------------------------------------------------------------------------------------
    "bad-input": Explanation(
        """The input shape is malformed. It lists the dims batch first, `[N, C, H, W]` for
        images; the batch and spatial dims may be names (symbolic), but the channel dim must
        be a number, since every layer's weights depend on it. To check a range of sizes, name
        the spatial dims (`[N, 3, H, W]`); to check a number of channels, use `--input`.""",
        SpecExample(
            _spec(
                """
                archc: 1
                name: example
                input: [N, C, 28, 28]
                body: [relu]
                """
            ),
            "[N, C, 28, 28]",
            "[N, 3, 28, 28]",
        ),
    ),
    "rank-mismatch": Explanation(
        """An op receives a tensor of a rank (number of dims) that it does not accept: a
        `conv2d` or a pooling after `flatten` gets (N, features), not (N, C, H, W); a
        `batchnorm1d` gets an image. The message gives the shape it received. Move the
        `flatten` after the last spatial layer, or use the op for that rank
        (`batchnorm2d` for images).""",
        SpecExample(
            _spec(
                """
                archc: 1
                name: example
                input: [N, 1, 28, 28]
                body:
                  - flatten
                  - conv2d: {out_channels: 6, kernel_size: 5}
                """
            ),
            "  - flatten\n  - conv2d: {out_channels: 6, kernel_size: 5}\n",
            "  - conv2d: {out_channels: 6, kernel_size: 5}\n  - flatten\n",
        ),
    ),
    "channel-mismatch": Explanation(
        """A layer states the width it expects (`in_channels`, or batch norm's
        `num_features`), and the incoming tensor has another. Widths are inferred from the
        incoming tensor, so the stated one is a check, and it failed: a layer before it has
        another `out_channels` than you thought. Checking continues with the real width, so
        later mistakes are found too. Correct the stated width, or remove it and let archc
        infer it.""",
        SpecExample(
            _spec(
                """
                archc: 1
                name: example
                input: [N, 1, 28, 28]
                body:
                  - conv2d: {in_channels: 3, out_channels: 6, kernel_size: 5}
                """
            ),
            "in_channels: 3",
            "in_channels: 1",
        ),
    ),
    "features-mismatch": Explanation(
        """A linear layer states `in_features`, and the features flowing in are another
        number. After `flatten` that number is channels × height × width, so it changes with
        the input size and with every convolution and pooling before it; a count copied from
        a paper for another input size is the usual cause. The message gives the real count.
        Write it, or remove `in_features` and let archc infer it.""",
        SpecExample(
            _spec(
                """
                archc: 1
                name: example
                input: [N, 4, 5, 5]
                body:
                  - flatten
                  - linear: {in_features: 64, out_features: 10}
                """
            ),
            "in_features: 64",
            "in_features: 100",
        ),
    ),
    "spatial-collapse": Explanation(
        """A spatial size (height or width) becomes zero or negative: a kernel larger than its
        padded input, or too many downsampling stages for the input size. PyTorch raises at
        run time, deep in the forward pass; archc reports the layer, the size it receives,
        and the sizes at which the network works. Pad, use a smaller kernel or stride, drop a
        stage, or give a larger input. Layers after it are not reported again.""",
        SpecExample(
            _spec(
                """
                archc: 1
                name: example
                input: [N, 1, 4, 4]
                body:
                  - conv2d: {out_channels: 6, kernel_size: 5}
                """
            ),
            "kernel_size: 5",
            "kernel_size: 3",
        ),
    ),
    "bad-groups": Explanation(
        """A grouped convolution splits its input and output channels into `groups` equal
        parts, so both channel counts must be divisible by `groups`; PyTorch refuses the layer
        otherwise. Choose `groups` dividing both counts (for a depthwise convolution,
        `groups` equal to the input channels), or change `out_channels`.""",
        SpecExample(
            _spec(
                """
                archc: 1
                name: example
                input: [N, 6, 28, 28]
                body:
                  - conv2d: {out_channels: 8, kernel_size: 3, groups: 4}
                """
            ),
            "groups: 4",
            "groups: 2",
        ),
    ),
    "bad-padding": Explanation(
        """The padding is one PyTorch refuses: `padding: same` with a stride other than 1
        (the output cannot be the same size), or a pooling padding larger than half its
        window. Give the padding as a number: for a convolution of kernel k and stride s,
        `padding: (k - 1) // 2` gives a size of ceil(size / s). The help gives the value.""",
        SpecExample(
            _spec(
                """
                archc: 1
                name: example
                input: [N, 6, 28, 28]
                body:
                  - conv2d: {out_channels: 8, kernel_size: 3, stride: 2, padding: same}
                """
            ),
            "padding: same",
            "padding: 1",
        ),
    ),
    "merge-mismatch": Explanation(
        """Branches merged by `add` must agree in every dim; by `concat`, in every dim but the
        channels (`mul` broadcasts size-1 dims). The usual cause is a residual block whose
        main branch changes the width or stride and whose shortcut does not. The message
        gives each branch's shape. Make them agree: give the shortcut a 1×1 convolution with
        the main branch's `out_channels` and `stride`, or pad the smaller branch.""",
        SpecExample(
            _spec(
                """
                archc: 1
                name: example
                input: [N, 64, 24, 24]
                body:
                  - add:
                      branches:
                        main: [conv2d: {out_channels: 128, kernel_size: 3, padding: 1}]
                        shortcut: []
                """
            ),
            "shortcut: []",
            "shortcut: [conv2d: {out_channels: 128, kernel_size: 1}]",
        ),
    ),
    "symbolic-channels": Explanation(
        """A channel or feature count depends on a symbolic input dim: with `input: [N, 1, H,
        W]`, `flatten` gives C·H·W features, so the linear layer after it would have a
        different number of weights for every input size; no single set of weights exists.
        Pool to a fixed size first (`globalavgpool2d`, or `adaptiveavgpool2d`), or check a
        concrete input (`--input 1,1,28,28`).""",
        SpecExample(
            _spec(
                """
                archc: 1
                name: example
                input: [N, 1, H, W]
                body:
                  - conv2d: {out_channels: 6, kernel_size: 5}
                  - flatten
                  - linear: {out_features: 10}
                """
            ),
            "  - flatten\n",
            "  - globalavgpool2d\n  - flatten\n",
        ),
    ),
    # Warnings ----------------------------------------------------------------------------------
    "lossy-downsampling": Explanation(
        """A warning: a pooling or strided convolution's windows end before the last rows or
        columns of its input, which are never read (a 2×2 pool with stride 2 on a 7×7 input
        ignores the 7th row and column). The network runs, but discards input silently,
        which is rarely meant. The help names the nearest input size that loses nothing. Use
        that size, pad, or round up with `ceil_mode: true`.""",
        SpecExample(
            _spec(
                """
                archc: 1
                name: example
                input: [N, 1, 7, 7]
                body:
                  - maxpool2d: {kernel_size: 2}
                """
            ),
            "[N, 1, 7, 7]",
            "[N, 1, 8, 8]",
        ),
    ),
    "onnx-ceil-mode": Explanation(
        """A warning: a pooling with `ceil_mode: true` whose last window would start past its
        input (a 1×1 window with stride 2 over 6 rows: windows at 0, 2, 4 and, rounded up, 6).
        PyTorch drops such a window and gives 3; ONNX's pooling keeps it and gives 4, so the
        exported graph computes another shape and `archc export` fails its verification.
        Use `ceil_mode: false` (with enough `padding` to keep the last rows), or an input size
        whose last window starts inside it.""",
        SpecExample(
            _spec(
                """
                archc: 1
                name: example
                input: [N, 1, 6, 6]
                body:
                  - maxpool2d: {kernel_size: 1, stride: 2, ceil_mode: true}
                """
            ),
            "maxpool2d: {kernel_size: 1, stride: 2, ceil_mode: true}",
            "maxpool2d: {kernel_size: 1, stride: 2}",
        ),
    ),
    "uneven-adaptive-pool": Explanation(
        """A warning: an adaptive pool's output size does not divide its input size, so its
        windows overlap and differ in size (a 7×7 input pooled to 2×2 uses windows of 4).
        PyTorch computes it, but ONNX export of such a pool fails, and the result differs
        from a fixed pooling. Make the input a multiple of the output size, or pool to 1×1
        with `globalavgpool2d`.""",
        SpecExample(
            _spec(
                """
                archc: 1
                name: example
                input: [N, 1, 7, 7]
                body:
                  - adaptiveavgpool2d: {output_size: 2}
                """
            ),
            "adaptiveavgpool2d: {output_size: 2}",
            "globalavgpool2d",
        ),
    ),
    "size-dependent-merge": Explanation(
        """A warning, for symbolic inputs (`[N, C, H, W]`): the branches of an `add` or
        `concat` agree only for some input sizes, typically because they downsample with
        different rounding (U-Net's skips agree only when every pooling divides evenly).
        The message gives the sizes that remain valid. Make the branches round alike, pad or
        crop one, or use input sizes from that set.""",
        SpecExample(
            _spec(
                """
                archc: 1
                name: example
                input: [N, 4, H, W]
                body:
                  - add:
                      branches:
                        - [maxpool2d: {kernel_size: 2, stride: 2, ceil_mode: true}]
                        - [maxpool2d: {kernel_size: 2, stride: 2}]
                """
            ),
            ", ceil_mode: true}",
            "}",
        ),
    ),
    # build and export --------------------------------------------------------------------------
    "over-budget": Explanation(
        """`build` or `export` would allocate more parameters and buffers than `--max-params`
        (default 2,000,000,000, 8 GB of fp32 weights). `check` never allocates weights and
        accepts any size; building needs the memory, so archc refuses before torch allocates
        anything, rather than let the machine swap or be killed. This is a usage error
        (exit 2). Raise `--max-params` if the machine has the memory, or shrink the network.""",
        CommandExample(
            "archc export specs/resnet18.yaml -o r18.onnx --max-params 1000000",
            "archc export specs/resnet18.yaml -o r18.onnx --max-params 20000000",
        ),
    ),
    "missing-dependency": Explanation(
        """`build` and `export` need torch, and `export` also onnx and onnxruntime; `check`
        needs none of them, so they are an optional extra, and one of them cannot be
        imported here. This is a usage error (exit 2). Install the extra:
        `pip install 'archc[export]'`.""",
        CommandExample(
            "archc export specs/lenet.yaml -o lenet.onnx    # without torch installed",
            "pip install 'archc[export]' && archc export specs/lenet.yaml -o lenet.onnx",
        ),
    ),
    "lowering-mismatch": Explanation(
        """The torch module archc built disagrees with its own static answers (a parameter or
        buffer count, or two layers claiming one path). No spec should trigger it: it is a
        bug in archc's lowering, caught before a wrong module is returned or exported. Please
        report it with the spec and the command; the static answers of `archc check` are
        not affected.""",
        CommandExample(
            "archc export SPEC.yaml -o out.onnx    # no spec triggers it on purpose",
            "archc check SPEC.yaml                 # the static answers, and report the bug",
        ),
    ),
    "bad-output": Explanation(
        """The export's output path cannot be written: it is a directory, a device or pipe,
        the spec file itself, or in a folder that does not exist or is not writable. archc
        checks this before any work, so a long export does not fail at its last step. This
        is a usage error (exit 2). Give a file path in a writable folder.""",
        CommandExample(
            "archc export specs/lenet.yaml -o specs/",
            "archc export specs/lenet.yaml -o lenet.onnx",
        ),
    ),
    "bad-option": Explanation(
        """An export option has a value it does not accept: an `--opset` outside what the
        chosen exporter writes (torchscript: 9 to 20; dynamo: 18 to 23). This is a usage error
        (exit 2), reported before any work. Use an opset in the range the message gives.""",
        CommandExample(
            "archc export specs/lenet.yaml -o lenet.onnx --opset 99",
            "archc export specs/lenet.yaml -o lenet.onnx --opset 18",
        ),
    ),
    "symbolic-input": Explanation(
        """An ONNX export needs concrete spatial sizes, and the input (the spec's, or
        `--input`'s) has symbolic ones such as H and W. The batch dim may stay symbolic (a
        dynamic axis). This is a usage error (exit 2). Give the sizes with `--input`;
        `archc check` on the spec lists the sizes it accepts.""",
        CommandExample(
            "archc export specs/unet.yaml -o unet.onnx --input N,3,H,W",
            "archc export specs/unet.yaml -o unet.onnx --input N,3,128,128",
        ),
    ),
    "provider-unavailable": Explanation(
        """`--provider cuda` asks to verify the export on ONNX Runtime's CUDA provider, and
        this ONNX Runtime has none (the `onnxruntime` package is CPU-only; CUDA needs
        `onnxruntime-gpu` with a matching CUDA). archc does not fall back silently, since you
        asked for CUDA. This is a usage error (exit 2). Install onnxruntime-gpu, or use
        `--provider cpu` (or `auto`, which uses CUDA where it is available).""",
        CommandExample(
            "archc export specs/lenet.yaml -o lenet.onnx --provider cuda   # no CUDA here",
            "archc export specs/lenet.yaml -o lenet.onnx --provider cpu",
        ),
    ),
    "export-failed": Explanation(
        """torch's ONNX exporter failed on a spec that checks. No spec should trigger it: the
        spec is valid, and the failure is a bug or limitation of archc or of torch's exporter.
        Nothing is written (the output is left as it was). Try the other exporter
        (`--exporter dynamo` or `torchscript`), and please report it with the spec.""",
        CommandExample(
            "archc export SPEC.yaml -o out.onnx    # no spec triggers it on purpose",
            "archc export SPEC.yaml -o out.onnx --exporter dynamo",
        ),
    ),
    "verify-failed": Explanation(
        """The exported ONNX file disagrees with archc's static shapes, is rejected by the
        ONNX checker, or its outputs on ONNX Runtime differ from PyTorch's beyond tolerance.
        No spec should trigger it: it is a bug in archc, torch's exporter or ONNX Runtime,
        and the file is not written. Try `--provider cpu` if it failed on CUDA, or the other
        exporter, and please report it with the spec.""",
        CommandExample(
            "archc export SPEC.yaml -o out.onnx    # no spec triggers it on purpose",
            "archc export SPEC.yaml -o out.onnx --provider cpu",
        ),
    ),
    "write-failed": Explanation(
        """Writing the exported file failed after the export itself succeeded: the disk is
        full, a quota is reached, or a permission changed. archc writes to a temporary file
        beside the output and moves it into place only when complete, so the output is left
        as it was. Free space, or write somewhere else.""",
        CommandExample(
            "archc export specs/resnet18.yaml -o /mnt/full/r18.onnx   # a full disk",
            "archc export specs/resnet18.yaml -o r18.onnx",
        ),
    ),
}


def diagnose(example: SpecExample, fixed: bool = False) -> tuple[list[Diagnostic], str]:
    """What `archc check` reports for `example` (or its fix), and the source it shows.

    >>> diags, _ = diagnose(EXPLANATIONS["channel-mismatch"].example)
    >>> [d.code for d in diags]
    ['channel-mismatch']
    """
    from archc.api import check, load_text
    from archc.cli_args import parse_set
    from archc.diagnostics import SpecError, UsageError
    from archc.spec.loader import decode

    text = example.fixed if fixed else example.spec
    data = text.encode("utf-8" if fixed else example.encoding)
    source = data.decode("utf-8", errors="replace")
    pair = example.fixed_set if fixed else example.set
    overrides = parse_set([pair]) if pair else None
    try:
        spec = load_text(decode(data, EXAMPLE_FILE), EXAMPLE_FILE, overrides)
    except (SpecError, UsageError) as exc:
        return exc.diagnostics, source
    return check(spec).diagnostics, source


def _indent(text: str) -> str:
    return textwrap.indent(text.rstrip("\n"), "    ", lambda line: True)


def explain(code: str) -> str:
    """The long form of `code`: description, explanation, example, its diagnostic, the fix."""
    from archc.diagnostics import render

    entry = EXPLANATIONS[code]
    out = [f"{code}: {CODES[code]}", "", _text(entry.text), ""]
    example = entry.example
    if isinstance(example, CommandExample):
        out += ["Example:", "", _indent(f"$ {example.command}"), ""]
        out += ["Fix:", "", _indent(f"$ {example.fixed}")]
        return "\n".join(out)
    saved = f", saved as {example.encoding}" if example.encoding != "utf-8" else ""
    out += [f"Example ({EXAMPLE_FILE}{saved}):", "", _indent(example.spec), ""]
    diagnostics, source = diagnose(example)
    out += [_indent(f"$ {example.command()}")]
    if diagnostics:
        out += [_indent("\n\n".join(render(d, source) for d in diagnostics))]
    else:
        out += [_indent("(no diagnostic: this example is stale; please report it)")]
    resaved = " (the same text, saved as UTF-8)" if saved else ""
    out += ["", f"Fix{resaved}:", ""]
    if example.wrong or saved:
        out += [_indent(example.fixed), ""]
    if example.set != example.fixed_set:
        out += [_indent(f"$ {example.command(fixed=True)}"), ""]
    return "\n".join(out).rstrip("\n")


def listing() -> str:
    """Every code with its one-line description, one a line."""
    width = max(map(len, CODES))
    return "\n".join(f"{code:{width}}  {description}" for code, description in CODES.items())
