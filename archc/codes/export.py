"""Codes of `build` and `export`: a request archc refuses, and a failure after the check.

No spec given to `archc check` triggers these, so each example is a command line. The kind
matters most here: a bad request (a path, an option, a missing package) exits 2, an export
that fails although the spec checks exits 1.
"""

from __future__ import annotations

from archc.codes._code import Code, CommandExample

STAGE = 5

CODES: list[Code] = [
    Code(
        "over-budget",
        "Building the network would allocate more parameters than `--max-params`, or running "
        "it more activations than `--max-activation-bytes`.",
        kind="usage",
        explanation="""`build` or `export` would allocate more parameters and buffers than
        `--max-params` (default 2,000,000,000, 8 GB of fp32 weights), or the forward passes an
        export runs would hold more activations than `--max-activation-bytes` (default 1 GiB:
        the static peak of `archc check` times the largest batch run, 7 with a dynamic batch,
        else the static batch; the input counts). `check` allocates nothing and accepts any
        size; building and running need the memory, so archc refuses before torch allocates
        anything, rather than let the machine swap or be killed. This is a usage error (exit 2).
        Raise the limit if the machine has the memory, or shrink the network or the batch.""",
        example=CommandExample(
            "archc export specs/resnet18.yaml -o r18.onnx --max-params 1000000",
            "archc export specs/resnet18.yaml -o r18.onnx --max-params 20000000",
        ),
    ),
    Code(
        "missing-dependency",
        "A package that `build` or `export` needs (torch, onnx, onnxruntime) is not installed.",
        kind="usage",
        explanation="""`build` and `export` need torch, and `export` also onnx and onnxruntime;
        `check` needs none of them, so they are an optional extra, and one of them cannot be
        imported here. This is a usage error (exit 2). Install the extra: `pip install
        'archc[export]'`.""",
        example=CommandExample(
            "archc export specs/lenet.yaml -o lenet.onnx    # without torch installed",
            "pip install 'archc[export]' && archc export specs/lenet.yaml -o lenet.onnx",
        ),
    ),
    Code(
        "lowering-mismatch",
        "The torch module disagrees with the static answers (a bug in archc).",
        kind="export",
        explanation="""The torch module archc built disagrees with its own static answers (a
        parameter or buffer count, or two layers claiming one path). No spec should trigger it:
        it is a bug in archc's lowering, caught before a wrong module is returned or exported.
        Please report it with the spec and the command; the static answers of `archc check` are
        not affected.""",
        example=CommandExample(
            "archc export SPEC.yaml -o out.onnx    # no spec triggers it on purpose",
            "archc check SPEC.yaml                 # the static answers, and report the bug",
        ),
    ),
    Code(
        "bad-output",
        "The export's output path is a directory, a device, the spec itself, or in a "
        "missing or read-only folder.",
        kind="usage",
        explanation="""The export's output path cannot be written: it is a directory, a device
        or pipe, the spec file itself, or in a folder that does not exist or is not writable.
        archc checks this before any work, so a long export does not fail at its last step. This
        is a usage error (exit 2). Give a file path in a writable folder.""",
        example=CommandExample(
            "archc export specs/lenet.yaml -o specs/",
            "archc export specs/lenet.yaml -o lenet.onnx",
        ),
    ),
    Code(
        "bad-option",
        "An export option has a value it does not accept (an opset or a seed out of range).",
        kind="usage",
        explanation="""An export option has a value it does not accept: an `--opset` outside
        what the chosen exporter writes (torchscript: 9 to 20; dynamo: 18 to 23), a `--seed`
        outside 0 to 2^64-1, or a budget (`--max-params`, `--max-activation-bytes`) below 1.
        This is a usage error (exit 2), reported before any work. Use a value in the range the
        message
        gives.""",
        example=CommandExample(
            "archc export specs/lenet.yaml -o lenet.onnx --opset 99",
            "archc export specs/lenet.yaml -o lenet.onnx --opset 18",
        ),
    ),
    Code(
        "symbolic-input",
        "An ONNX export needs concrete spatial sizes; the input has symbolic ones.",
        kind="usage",
        explanation="""An ONNX export needs concrete spatial sizes, and the input (the spec's,
        or `--input`'s) has symbolic ones such as H and W. The batch dim may stay symbolic (a
        dynamic axis). This is a usage error (exit 2). Give the sizes with `--input`; `archc
        check` on the spec lists the sizes it accepts.""",
        example=CommandExample(
            "archc export specs/unet.yaml -o unet.onnx --input N,3,H,W",
            "archc export specs/unet.yaml -o unet.onnx --input N,3,128,128",
        ),
    ),
    Code(
        "provider-unavailable",
        "`--provider cuda` was asked for where ONNX Runtime cannot run CUDA.",
        kind="usage",
        explanation="""`--provider cuda` asks to verify the export on ONNX Runtime's CUDA
        provider, and this ONNX Runtime has none (the `onnxruntime` package is CPU-only; CUDA
        needs `onnxruntime-gpu` with a matching CUDA). archc does not fall back silently, since
        you asked for CUDA. This is a usage error (exit 2). Install onnxruntime-gpu, or use
        `--provider cpu` (or `auto`, which uses CUDA where it is available).""",
        example=CommandExample(
            "archc export specs/lenet.yaml -o lenet.onnx --provider cuda   # no CUDA here",
            "archc export specs/lenet.yaml -o lenet.onnx --provider cpu",
        ),
    ),
    Code(
        "export-failed",
        "torch's ONNX exporter failed on a spec that checks.",
        kind="export",
        explanation="""torch's ONNX exporter failed on a spec that checks. No spec should
        trigger it: the spec is valid, and the failure is a bug or limitation of archc or of
        torch's exporter. Nothing is written (the output is left as it was). Try the other
        exporter (`--exporter dynamo` or `torchscript`), and please report it with the spec.""",
        example=CommandExample(
            "archc export SPEC.yaml -o out.onnx    # no spec triggers it on purpose",
            "archc export SPEC.yaml -o out.onnx --exporter dynamo",
        ),
    ),
    Code(
        "verify-failed",
        "The exported ONNX file disagrees with the static shapes or with PyTorch.",
        kind="export",
        explanation="""The exported ONNX file disagrees with archc's static shapes, is rejected
        by the ONNX checker, or its outputs on ONNX Runtime differ from PyTorch's beyond
        tolerance. No spec should trigger it: it is a bug in archc, torch's exporter or ONNX
        Runtime, and the file is not written. Try `--provider cpu` if it failed on CUDA, or the
        other exporter, and please report it with the spec.""",
        example=CommandExample(
            "archc export SPEC.yaml -o out.onnx    # no spec triggers it on purpose",
            "archc export SPEC.yaml -o out.onnx --provider cpu",
        ),
    ),
    Code(
        "write-failed",
        "Writing the exported file failed (a full disk, a permission).",
        kind="usage",
        explanation="""Writing the exported file failed after the export itself succeeded: the
        disk is full, a quota is reached, or a permission changed. archc writes to a temporary
        file beside the output and moves it into place only when complete, so the output is left
        as it was. Like a refused output, this is a usage error (exit 2). Free space, or write
        somewhere else.""",
        example=CommandExample(
            "archc export specs/resnet18.yaml -o /mnt/full/r18.onnx   # a full disk",
            "archc export specs/resnet18.yaml -o r18.onnx",
        ),
    ),
    Code(
        "weights-unreadable",
        "The weights given to `--weights` (or `weights=`) are not a readable state dict.",
        kind="usage",
        explanation="""The weights cannot be used: the file does not exist, is neither a PyTorch
        checkpoint (a zip archive or a pickle) nor a safetensors file, is damaged, or holds no
        state dict (a mapping of names to tensors, bare or under `state_dict` or `model`); or
        the Python value is not a path, a state dict or a module built by `archc.build`. This
        is a usage error (exit 2). Save the weights with `torch.save(model.state_dict(), FILE)`
        or `safetensors.torch.save_file`.""",
        example=CommandExample(
            "archc export specs/resnet18.yaml -o r18.onnx --weights notes.txt",
            "archc export specs/resnet18.yaml -o r18.onnx --weights r18.pth",
        ),
    ),
    Code(
        "weights-unsafe",
        "The weights file holds a pickled object that loading would have to construct or call.",
        kind="usage",
        explanation="""A PyTorch checkpoint is a pickle, and unpickling can call any function the
        file names: a whole pickled model, or a crafted file, runs code when loaded. archc reads
        checkpoints with `torch.load(weights_only=True)`, which builds tensors and plain
        containers only, and refuses the file before anything in it runs; the message names what
        the file refers to. This is a usage error (exit 2). Save `model.state_dict()` rather
        than the model, or convert the weights to safetensors where you trust the file.""",
        example=CommandExample(
            "archc export specs/resnet18.yaml -o r18.onnx --weights whole_model.pt",
            "archc export specs/resnet18.yaml -o r18.onnx --weights state_dict.pt",
        ),
    ),
    Code(
        "weights-missing",
        "A parameter or buffer of a layer has no tensor in the weights.",
        kind="export",
        explanation="""Weights must give every parameter and buffer of the network, under the
        key that is its layer's spec path (`layer1.0.conv1.weight`), and the file lacks this
        one. Every missing, unexpected and wrongly shaped key is reported at once, each missing
        key at its layer's line; nothing is written. A batch norm's
        `num_batches_tracked` alone may be absent. Name the spec's layers as the checkpoint's
        modules are named (`name:`, templates, `inline: true`), or rename the file's keys.""",
        example=CommandExample(
            "archc export specs/resnet18.yaml -o r18.onnx --weights other_net.pth",
            "archc export specs/resnet18.yaml -o r18.onnx --weights resnet18_trained.pth",
        ),
    ),
    Code(
        "weights-unexpected",
        "The weights hold a tensor under a key that no layer of the network has.",
        kind="export",
        explanation="""The weights hold a key that is not a parameter or buffer of the network:
        the checkpoint comes from another network, or its modules are named differently from
        the spec's layer paths (the help names the closest missing key when one is close).
        Keys must match exactly; nothing is written. Compare the keys with those of
        `archc.build(spec).state_dict()`, and rename the spec's layers or the file's keys.""",
        example=CommandExample(
            "archc export specs/resnet18.yaml -o r18.onnx --weights other_net.pth",
            "archc export specs/resnet18.yaml -o r18.onnx --weights resnet18_trained.pth",
        ),
    ),
    Code(
        "weights-shape",
        "A tensor of the weights has another shape (or kind of dtype) than its layer's.",
        kind="export",
        explanation="""A key of the weights names a parameter or buffer of the network, but the
        tensor's shape differs from the layer's (a classifier for 1,000 classes loaded into one
        for 10), or it holds integers where the layer has floating point. The message gives both
        shapes, located at the layer's line; nothing is written. Set the spec's
        parameters to those the weights were trained with (`--set classes=1000`).""",
        example=CommandExample(
            "archc export specs/resnet18.yaml -o r18.onnx --weights r18_1000_classes.pth",
            "archc export specs/resnet18.yaml -o r18.onnx --weights r18_10_classes.pth",
        ),
    ),
    Code(
        "bench-failed",
        "ONNX Runtime or PyTorch failed to load or run the model being benchmarked.",
        kind="export",
        explanation="""`archc bench` runs the model on ONNX Runtime and on PyTorch eager, each in
        a process of its own, and one of them failed: it could not load the model, ran out of
        memory at a batch size, or its process died. The message quotes the runtime's own error.
        Try smaller batch sizes (`--batch 1,8`), or check the model with `archc
        export` first, which proves that ONNX Runtime computes what PyTorch computes.""",
        example=CommandExample(
            "archc bench specs/imagenet/vgg.yaml --batch 4096   # more memory than there is",
            "archc bench specs/imagenet/vgg.yaml --batch 1,8",
        ),
    ),
]
