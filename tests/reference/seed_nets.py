"""Plain PyTorch reference implementations of the D2L CNN seed networks.

These follow the code of the CNN chapter of "Dive into Deep Learning"
(PyTorch edition, ShusenTang/Dive-into-DL-PyTorch), adapted to one input
channel and ten classes.  They are an independent ground truth for archc's
static shape and parameter inference and deliberately import nothing from
``archc``.

Every primitive operation is a leaf module (``nn.ReLU`` rather than
``F.relu``, ``nn.Flatten`` rather than ``view``), so that :func:`trace`
sees each op in execution order.
"""

from collections.abc import Callable

import torch
from torch import nn

__all__ = [
    "SEED_NETWORKS",
    "AnyNet",
    "DenseBlock",
    "Inception",
    "ResNeXtBlock",
    "Residual",
    "alexnet",
    "dense_block",
    "densenet",
    "googlenet",
    "lenet",
    "lenet_bn",
    "nin",
    "regnetx32",
    "resnet18",
    "trace",
    "transition_block",
    "vgg11",
]


def lenet() -> nn.Module:
    """LeNet (book 5.5) for 1x28x28 inputs."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5),
        nn.Sigmoid(),
        nn.MaxPool2d(2, 2),
        nn.Conv2d(6, 16, 5),
        nn.Sigmoid(),
        nn.MaxPool2d(2, 2),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, 120),
        nn.Sigmoid(),
        nn.Linear(120, 84),
        nn.Sigmoid(),
        nn.Linear(84, 10),
    )


def lenet_bn() -> nn.Module:
    """LeNet with batch normalization (book 5.10) for 1x28x28 inputs."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5),
        nn.BatchNorm2d(6),
        nn.Sigmoid(),
        nn.MaxPool2d(2, 2),
        nn.Conv2d(6, 16, 5),
        nn.BatchNorm2d(16),
        nn.Sigmoid(),
        nn.MaxPool2d(2, 2),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, 120),
        nn.BatchNorm1d(120),
        nn.Sigmoid(),
        nn.Linear(120, 84),
        nn.BatchNorm1d(84),
        nn.Sigmoid(),
        nn.Linear(84, 10),
    )


def alexnet() -> nn.Module:
    """AlexNet (book 5.6) for 1x224x224 inputs."""
    return nn.Sequential(
        nn.Conv2d(1, 96, 11, 4),
        nn.ReLU(),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(96, 256, 5, 1, 2),
        nn.ReLU(),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(256, 384, 3, 1, 1),
        nn.ReLU(),
        nn.Conv2d(384, 384, 3, 1, 1),
        nn.ReLU(),
        nn.Conv2d(384, 256, 3, 1, 1),
        nn.ReLU(),
        nn.MaxPool2d(3, 2),
        nn.Flatten(),
        nn.Linear(256 * 5 * 5, 4096),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(4096, 4096),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(4096, 10),
    )


def vgg_block(num_convs: int, in_channels: int, out_channels: int) -> nn.Module:
    """VGG block: ``num_convs`` 3x3 conv + ReLU pairs, then a 2x2 max pool."""
    layers: list[nn.Module] = []
    for i in range(num_convs):
        layers.append(
            nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, padding=1)
        )
        layers.append(nn.ReLU())
    layers.append(nn.MaxPool2d(2, 2))
    return nn.Sequential(*layers)


def vgg11() -> nn.Module:
    """VGG-11 (book 5.7) for 1x224x224 inputs."""
    conv_arch = ((1, 1, 64), (1, 64, 128), (2, 128, 256), (2, 256, 512), (2, 512, 512))
    return nn.Sequential(
        *(vgg_block(*block) for block in conv_arch),
        nn.Flatten(),
        nn.Linear(512 * 7 * 7, 4096),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(4096, 4096),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(4096, 10),
    )


def nin_block(
    in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int
) -> nn.Module:
    """NiN block: one spatial conv followed by two 1x1 convs, each with ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding),
        nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, 1),
        nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, 1),
        nn.ReLU(),
    )


def nin() -> nn.Module:
    """Network in Network (book 5.8) for 1x224x224 inputs."""
    return nn.Sequential(
        nin_block(1, 96, 11, 4, 0),
        nn.MaxPool2d(3, 2),
        nin_block(96, 256, 5, 1, 2),
        nn.MaxPool2d(3, 2),
        nin_block(256, 384, 3, 1, 1),
        nn.MaxPool2d(3, 2),
        nn.Dropout(0.5),
        nin_block(384, 10, 3, 1, 1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )


class Inception(nn.Module):
    """GoogLeNet Inception block with four parallel paths concatenated on channels."""

    def __init__(
        self,
        in_c: int,
        c1: int,
        c2: tuple[int, int],
        c3: tuple[int, int],
        c4: int,
    ) -> None:
        super().__init__()
        self.p1 = nn.Sequential(nn.Conv2d(in_c, c1, 1), nn.ReLU())
        self.p2 = nn.Sequential(
            nn.Conv2d(in_c, c2[0], 1),
            nn.ReLU(),
            nn.Conv2d(c2[0], c2[1], 3, padding=1),
            nn.ReLU(),
        )
        self.p3 = nn.Sequential(
            nn.Conv2d(in_c, c3[0], 1),
            nn.ReLU(),
            nn.Conv2d(c3[0], c3[1], 5, padding=2),
            nn.ReLU(),
        )
        self.p4 = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(in_c, c4, 1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the paths in order p1..p4 and concatenate their outputs."""
        return torch.cat((self.p1(x), self.p2(x), self.p3(x), self.p4(x)), dim=1)


def googlenet() -> nn.Module:
    """GoogLeNet (book 5.9) for 1x96x96 inputs; b2 has no ReLU, as in the book."""
    b1 = nn.Sequential(nn.Conv2d(1, 64, 7, 2, 3), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
    b2 = nn.Sequential(
        nn.Conv2d(64, 64, 1),
        nn.Conv2d(64, 192, 3, padding=1),
        nn.MaxPool2d(3, 2, 1),
    )
    b3 = nn.Sequential(
        Inception(192, 64, (96, 128), (16, 32), 32),
        Inception(256, 128, (128, 192), (32, 96), 64),
        nn.MaxPool2d(3, 2, 1),
    )
    b4 = nn.Sequential(
        Inception(480, 192, (96, 208), (16, 48), 64),
        Inception(512, 160, (112, 224), (24, 64), 64),
        Inception(512, 128, (128, 256), (24, 64), 64),
        Inception(512, 112, (144, 288), (32, 64), 64),
        Inception(528, 256, (160, 320), (32, 128), 128),
        nn.MaxPool2d(3, 2, 1),
    )
    b5 = nn.Sequential(
        Inception(832, 256, (160, 320), (32, 128), 128),
        Inception(832, 384, (192, 384), (48, 128), 128),
        nn.AdaptiveAvgPool2d(1),
    )
    return nn.Sequential(b1, b2, b3, b4, b5, nn.Flatten(), nn.Linear(1024, 10))


class Residual(nn.Module):
    """ResNet residual block with an optional 1x1 projection shortcut."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        use_1x1conv: bool = False,
        stride: int = 1,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, stride=stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv3 = nn.Conv2d(in_channels, out_channels, 1, stride=stride) if use_1x1conv else None
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Compute ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``."""
        y = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        if self.conv3 is not None:
            x = self.conv3(x)
        return self.relu2(y + x)


def resnet_block(
    in_channels: int, out_channels: int, num_residuals: int, first_block: bool = False
) -> nn.Module:
    """Stage of residual blocks; the first halves resolution unless ``first_block``."""
    if first_block:
        assert in_channels == out_channels
    blocks: list[nn.Module] = []
    for i in range(num_residuals):
        if i == 0 and not first_block:
            blocks.append(Residual(in_channels, out_channels, use_1x1conv=True, stride=2))
        else:
            blocks.append(Residual(out_channels, out_channels))
    return nn.Sequential(*blocks)


def resnet18() -> nn.Module:
    """ResNet-18 (book 5.11) for 1x96x96 inputs."""
    return nn.Sequential(
        nn.Conv2d(1, 64, 7, 2, 3),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(3, 2, 1),
        resnet_block(64, 64, 2, first_block=True),
        resnet_block(64, 128, 2),
        resnet_block(128, 256, 2),
        resnet_block(256, 512, 2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(512, 10),
    )


def conv_block(in_channels: int, out_channels: int) -> nn.Module:
    """DenseNet pre-activation conv block: BN, ReLU, 3x3 conv."""
    return nn.Sequential(
        nn.BatchNorm2d(in_channels),
        nn.ReLU(),
        nn.Conv2d(in_channels, out_channels, 3, padding=1),
    )


class DenseBlock(nn.Module):
    """DenseNet dense block: each conv block's output is concatenated onto its input."""

    def __init__(self, num_convs: int, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.net = nn.ModuleList(
            conv_block(in_channels + i * out_channels, out_channels) for i in range(num_convs)
        )
        self.out_channels = in_channels + num_convs * out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply each conv block and concatenate its output onto the running input."""
        for blk in self.net:
            x = torch.cat((x, blk(x)), dim=1)
        return x


def dense_block(num_convs: int, in_channels: int, out_channels: int) -> DenseBlock:
    """Build a dense block with growth rate ``out_channels``."""
    return DenseBlock(num_convs, in_channels, out_channels)


def transition_block(in_channels: int, out_channels: int) -> nn.Module:
    """DenseNet transition block: BN, ReLU, 1x1 conv, 2x2 average pool."""
    return nn.Sequential(
        nn.BatchNorm2d(in_channels),
        nn.ReLU(),
        nn.Conv2d(in_channels, out_channels, 1),
        nn.AvgPool2d(2, 2),
    )


def densenet() -> nn.Module:
    """DenseNet (book 5.12) for 1x96x96 inputs: four dense blocks of four convs."""
    layers: list[nn.Module] = [
        nn.Conv2d(1, 64, 7, 2, 3),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(3, 2, 1),
    ]
    num_channels, growth_rate = 64, 32
    num_convs_in_dense_blocks = [4, 4, 4, 4]
    for i, num_convs in enumerate(num_convs_in_dense_blocks):
        block = dense_block(num_convs, num_channels, growth_rate)
        layers.append(block)
        num_channels = block.out_channels
        if i != len(num_convs_in_dense_blocks) - 1:
            layers.append(transition_block(num_channels, num_channels // 2))
            num_channels //= 2
    layers += [
        nn.BatchNorm2d(num_channels),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(num_channels, 10),
    ]
    return nn.Sequential(*layers)


class ResNeXtBlock(nn.Module):
    """The book's ResNeXt block (8.6): 1x1, grouped 3x3 with groups of ``groups`` channels (the
    book's argument is the group width), 1x1, and an optional 1x1 projection shortcut."""

    def __init__(
        self,
        in_channels: int,
        num_channels: int,
        groups: int,
        bot_mul: float,
        use_1x1conv: bool = False,
        strides: int = 1,
    ) -> None:
        super().__init__()
        bot_channels = round(num_channels * bot_mul)
        self.conv1 = nn.Conv2d(in_channels, bot_channels, kernel_size=1, stride=1)
        self.bn1 = nn.BatchNorm2d(bot_channels)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(
            bot_channels,
            bot_channels,
            kernel_size=3,
            stride=strides,
            padding=1,
            groups=bot_channels // groups,
        )
        self.bn2 = nn.BatchNorm2d(bot_channels)
        self.relu2 = nn.ReLU()
        self.conv3 = nn.Conv2d(bot_channels, num_channels, kernel_size=1, stride=1)
        self.bn3 = nn.BatchNorm2d(num_channels)
        self.conv4 = self.bn4 = None
        if use_1x1conv:
            self.conv4 = nn.Conv2d(in_channels, num_channels, kernel_size=1, stride=strides)
            self.bn4 = nn.BatchNorm2d(num_channels)
        self.relu3 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu1(self.bn1(self.conv1(x)))
        y = self.relu2(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        if self.conv4 is not None:
            x = self.bn4(self.conv4(x))
        return self.relu3(y + x)


class AnyNet(nn.Module):
    """The book's AnyNet (8.8): a stem, stages of ResNeXt blocks (the first of each halves the
    size with a projection shortcut), and a head."""

    def __init__(
        self,
        arch: tuple[tuple[int, int, int, float], ...],
        stem_channels: int,
        in_channels: int = 1,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem_channels, kernel_size=3, stride=2, padding=1),
            nn.BatchNorm2d(stem_channels),
            nn.ReLU(),
        )
        channels = stem_channels
        for i, (depth, num_channels, groups, bot_mul) in enumerate(arch):
            blocks = []
            for j in range(depth):
                first = j == 0
                blocks.append(
                    ResNeXtBlock(
                        channels,
                        num_channels,
                        groups,
                        bot_mul,
                        use_1x1conv=first,
                        strides=2 if first else 1,
                    )
                )
                channels = num_channels
            self.add_module(f"stage{i + 1}", nn.Sequential(*blocks))
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(channels, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for module in self.children():
            x = module(x)
        return x


def regnetx32() -> nn.Module:
    """RegNetX-32 (book 8.8): depths (4, 6), widths (32, 80), group width 16, bottleneck 1."""
    return AnyNet(((4, 32, 16, 1), (6, 80, 16, 1)), stem_channels=32)


SEED_NETWORKS: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "lenet": (lenet, (1, 1, 28, 28)),
    "lenet_bn": (lenet_bn, (1, 1, 28, 28)),
    "alexnet": (alexnet, (1, 1, 224, 224)),
    "vgg11": (vgg11, (1, 1, 224, 224)),
    "nin": (nin, (1, 1, 224, 224)),
    "googlenet": (googlenet, (1, 1, 96, 96)),
    "resnet18": (resnet18, (1, 1, 96, 96)),
    "densenet": (densenet, (1, 1, 96, 96)),
    "regnet": (regnetx32, (1, 1, 96, 96)),
}
"""Spec name -> (constructor, input shape) for each seed network."""


def trace(model: nn.Module, input_shape: tuple[int, ...]) -> list[dict]:
    """Record every leaf-module call of one eval-mode forward pass on zeros.

    Returns one ``{"op", "output", "params", "buffers"}`` dict per call, in
    execution order: ``op`` is the lower-cased module class name, ``output`` the
    output shape as a list, ``params`` and ``buffers`` the module's own parameter
    and buffer element counts.
    """
    records: list[dict] = []

    def hook(module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        records.append(
            {
                "op": type(module).__name__.lower(),
                "output": list(output.shape),
                "params": sum(p.numel() for p in module.parameters(recurse=False)),
                "buffers": sum(b.numel() for b in module.buffers(recurse=False)),
            }
        )

    model.eval()
    handles = [
        m.register_forward_hook(hook) for m in model.modules() if next(m.children(), None) is None
    ]
    try:
        with torch.no_grad():
            model(torch.zeros(input_shape))
    finally:
        for handle in handles:
            handle.remove()
    return records
