"""Codes of reading a spec file: the file itself, its encoding, and its YAML.

These are found before archc knows what the document says, by the loader in
archc/spec/loader.py, which bounds every cost of a file before paying it (docs/limits.md).
"""

from __future__ import annotations

from archc.codes._code import HEAD, Code, CommandExample, SpecExample, spec_text

STAGE = 1

CODES: list[Code] = [
    Code(
        "file-unreadable",
        "The spec file cannot be read (missing, a directory, or unreadable).",
        kind="usage",
        explanation="""The path given on the command line cannot be read: it does not exist, it
        is a device or socket rather than a regular file, or its permissions forbid reading it.
        This is a usage error, not a finding in a spec: archc exits 2 and checks nothing for
        that path. Check the spelling and the current directory. `archc check` also takes a
        folder (`archc check specs/` checks every *.yaml and *.yml file under it); the other
        commands need a file.""",
        example=CommandExample("archc check specs/lenett.yaml", "archc check specs/lenet.yaml"),
    ),
    Code(
        "symlink-outside",
        "A spec is a symlink to a file outside the folder being checked.",
        kind="usage",
        explanation="""`archc check` does not read a spec reached through a symlink that points
        outside the folder being checked (for a folder argument) or outside the current
        directory (for a file argument). In CI, a pull request can commit a symlink to
        `/proc/self/environ` or to a credentials file, and an error about the file would quote
        its contents in the log. Symlinks to files inside the checked folder work. archc exits
        2 and names the symlink, not its target. If the link is meant, pass
        `--follow-symlinks`; better, commit the spec itself.""",
        example=CommandExample(
            "archc check specs/        # specs/net.yaml -> /proc/self/environ",
            "archc check specs/ --follow-symlinks",
        ),
    ),
    Code(
        "not-a-spec",
        "A YAML file named on the command line is not a spec, or a folder holds no spec.",
        kind="usage",
        explanation="""A spec is a YAML document whose top level has the `archc:` key (the format
        version). In a folder, `archc check` checks the specs and skips every other YAML file
        (workflows, configuration), counting them in its summary; it never descends into hidden
        folders, `node_modules` or virtual environments. A file named on the command line must
        be a spec, and a folder must hold at least one: otherwise archc exits 2. Add `archc: 1`
        at the top of a spec; pass `--skip-non-specs` where files are named for you (the
        pre-commit hook does).""",
        example=CommandExample(
            "archc check .github/workflows/ci.yml",
            "archc check --skip-non-specs .github/workflows/ci.yml specs/lenet.yaml",
        ),
    ),
    Code(
        "bad-arguments",
        "The command line is malformed: an unknown option, a missing argument, a bad value.",
        kind="usage",
        explanation="""The command line itself is wrong: an option archc does not have, a missing
        argument, or a value that does not parse, such as `--input 1,3,x` (dims are integers or
        names) or `--set depth` (overrides are NAME=VALUE). Nothing is checked; archc exits 2,
        and with `--format json` or `--format sarif` it still prints a document reporting the
        error, so that a CI step reading the output gets valid input. `archc COMMAND --help`
        lists the options.""",
        example=CommandExample(
            "archc check specs/lenet.yaml --input 1,3,x",
            "archc check specs/lenet.yaml --input 1,1,28,28",
        ),
    ),
    Code(
        "file-too-large",
        "The spec file is larger than the size limit.",
        explanation="""The spec file is over 512 KiB (524,288 bytes), and is refused from its
        size alone, before a byte is read. Loading YAML costs about 100 bytes of memory per byte
        of text; the limit keeps any check within about 2 s and 300 MB, whatever a stranger
        submits (docs/limits.md). Real specs are a few KB: a file this large writes out every
        layer, or is not a spec. Write repeated layers with `repeat` and reused groups as
        `blocks`.""",
        example=CommandExample(
            "archc check big.yaml        # a 600 KB file, every layer written out",
            "archc check big.yaml        # the same network, its stages as `repeat`",
        ),
    ),
    Code(
        "bad-encoding",
        "The file is not valid UTF-8 text, or contains NUL bytes.",
        explanation="""archc reads specs as UTF-8 (a leading byte-order mark is allowed). A byte
        that is not UTF-8 (a file saved as Latin-1, Windows-1252 or UTF-16) or a NUL byte means
        the file is not the text it looks like, and guessing its encoding could change what a
        name says. The diagnostic points at the first bad byte. Save the file as UTF-8, e.g.
        with your editor's "save with encoding", or `iconv -f latin1 -t utf-8 old.yaml >
        new.yaml`.""",
        example=SpecExample(
            HEAD + "description: a café classifier\ninput: [N, 3, 32, 32]\nbody: [relu]\n",
            encoding="latin-1",
        ),
    ),
    Code(
        "yaml-syntax",
        "The file is not well-formed YAML.",
        explanation="""The file is not well-formed YAML, so archc cannot tell what it says: an
        unclosed bracket or quote, a tab in the indentation, a second document after `---`, or a
        colon inside a plain value. The caret points where the YAML parser gave up, which can be
        after the real mistake. A layer's fields go in a flow mapping `{...}` or on indented
        lines of their own; `key: value: value` on one line is not YAML.""",
        example=SpecExample(
            spec_text(
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
    Code(
        "yaml-tag",
        "A YAML tag (`!!python/...`, `!!set`, `!custom`) was used; archc accepts plain data only.",
        explanation="""A YAML tag (`!!int`, `!!set`, `!!binary`, `!!python/object/apply:...`,
        `!custom`) asks the loader to construct a particular type. With PyYAML's unsafe loader,
        a `!!python/...` tag runs code. archc never constructs a tagged node: it refuses it
        where it appears, so a spec is plain data whatever the file says. Write the plain value
        instead: a number, a string, a list or a mapping.""",
        example=SpecExample(
            spec_text(
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
    Code(
        "duplicate-key",
        "A mapping states the same key twice.",
        explanation="""A mapping states the same key twice. YAML loaders disagree on what that
        means (PyYAML keeps the last value, others the first or refuse), and a repeated key is
        almost always an edit that left the old value behind. archc refuses rather than pick one
        silently; the diagnostic points at the second occurrence. Keep the value you mean and
        delete the other.""",
        example=SpecExample(
            spec_text(
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
    Code(
        "bad-key",
        "A mapping key is not a plain string.",
        explanation="""A mapping key is not a plain string: a list, a mapping, or a complex key
        written with `?`. Every key of a spec is a field, parameter, block or branch name, so
        only strings are meaningful, and a collection as a key is usually a stray pair of
        brackets. Write the key as a plain word.""",
        example=SpecExample(
            spec_text(
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
    Code(
        "too-deep",
        "The YAML nests deeper than the nesting limit.",
        explanation="""The YAML nests more than 64 mappings and sequences deep (aliases
        expanded). No network needs that; deep nesting is how hostile files crash YAML parsers
        (libyaml's composer recurses in C), so archc stops reading at the 65th level, before
        building anything (docs/limits.md). Flatten the structure: a list of lists of numbers is
        as deep as a parameter needs to be.""",
        example=SpecExample(
            HEAD
            + "input: [N, 1, 28, 28]\nparams:\n  nested: "
            + "[" * 70
            + "]" * 70
            + "\nbody: [relu]\n",
            "[" * 70 + "]" * 70,
            "[[1, 2], [3, 4]]",
        ),
    ),
    Code(
        "too-many-nodes",
        "The YAML, with its aliases expanded, has more nodes than the limit.",
        explanation="""The YAML, with its aliases (`*name`) expanded, has more than 200,000
        nodes. Each alias copies its anchor, so a few lines of aliases of aliases can expand to
        billions of nodes (the "billion laughs" attack); archc counts while it expands and stops
        at the limit, before any memory is spent (docs/limits.md). Real specs have a few
        thousand nodes: write repetition with `repeat`, and lists of numbers out.""",
        example=SpecExample(
            spec_text(
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
    Code(
        "recursive-alias",
        "A YAML alias refers to a node that contains it.",
        explanation="""A YAML alias refers to the node that contains it (`&body [relu, *body]`),
        so its value would be infinite. PyYAML builds such a value as a self-referencing list,
        which loops or crashes whatever walks it; archc refuses it at the alias. Write the items
        out, or use `repeat` to repeat layers.""",
        example=SpecExample(
            HEAD + "input: [N, 1, 28, 28]\nbody: &body [relu, *body]\n",
            "&body [relu, *body]",
            "[relu, relu]",
        ),
    ),
    Code(
        "ambiguous-scalar",
        "A plain scalar whose meaning differs between YAML versions (`010`, `0x10`).",
        explanation="""A plain scalar means different things in YAML 1.1 and 1.2: `010` is 8
        (octal) in YAML 1.1 and 10 in 1.2; `0x10`, `0o10` and `1_000` are numbers in one and
        strings or errors in the other. Tools around archc read YAML with either version, so
        archc refuses to guess rather than let two tools see different networks. Write the
        number in plain decimal, or quote it if you mean a string.""",
        example=SpecExample(
            spec_text(
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
    Code(
        "bad-number",
        "A number that is not finite or is too large.",
        explanation="""A number is not finite (`.nan`, `.inf`, `1e309`, which overflows to
        infinity) or is an integer of more than 18 digits. No size, rate or probability of a
        network is infinite or that large; such a value is a typo or a hostile file, and would
        make every count after it meaningless. Write the finite value you mean.""",
        example=SpecExample(
            spec_text(
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
    Code(
        "empty-spec",
        "The file holds no document.",
        explanation="""The file holds no YAML document: it is empty, or only comments. A spec
        needs at least `archc`, `name`, `input` and `body`. An empty file is usually a failed
        save or a generator that wrote nothing, so it is an error, not a network with no layers.
        Start from `archc new NAME`, which writes a spec that checks.""",
        example=SpecExample(
            "# TODO: write the network\n",
            "# TODO: write the network\n",
            HEAD + "input: [N, 1, 28, 28]\nbody: [relu]\n",
        ),
    ),
    Code(
        "not-a-mapping",
        "A value that must be a mapping is something else.",
        explanation="""A value that must be a mapping (`key: value` pairs) is a list or a
        scalar. The most common case is the whole file: a spec is a mapping with `archc`,
        `name`, `input` and `body`, not a bare list of layers. The same holds for `params`,
        `blocks`, a block's `args`, and a layer's fields. Put the layers under `body:` and add
        the header keys.""",
        example=SpecExample(
            "- conv2d: {out_channels: 6, kernel_size: 5}\n- relu\n",
            "- conv2d",
            HEAD + "input: [N, 1, 28, 28]\nbody:\n- conv2d",
        ),
    ),
]
