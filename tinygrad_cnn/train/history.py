"""History: per-epoch loss and metrics of a training run, and a plot of them."""

from __future__ import annotations

import math


class History:
    """What ``fit`` returns: ``history.history["loss"]``, ``["val_accuracy"]``, ... one value per
    epoch (Keras' layout), plus ``epochs`` (1-based epoch numbers).

    ``stopped_early`` / ``interrupted`` tell how the run ended; ``stop_reason`` says why.
    """

    def __init__(self, history=None, epochs=None):
        self.history: dict[str, list[float]] = {k: list(v) for k, v in (history or {}).items()}
        self.epochs: list[int] = list(epochs or [])
        self.stopped_early = False
        self.interrupted = False
        self.stop_reason: str | None = None

    def append(self, epoch: int, logs: dict) -> None:
        """Record the numbers of one finished epoch (a key missing so far gets NaN before it)."""
        for key, value in logs.items():
            column = self.history.setdefault(key, [math.nan] * len(self.epochs))
            column.append(float(value))
        self.epochs.append(int(epoch))
        for column in self.history.values():  # keys absent this epoch
            if len(column) < len(self.epochs):
                column.append(math.nan)

    def __getitem__(self, key: str) -> list[float]:
        if key not in self.history:
            raise KeyError(f"History has no {key!r}; recorded: {sorted(self.history)}")
        return self.history[key]

    def __contains__(self, key: str) -> bool:
        return key in self.history

    def __len__(self) -> int:
        return len(self.epochs)

    def last(self) -> dict[str, float]:
        """The numbers of the last epoch."""
        return {k: v[-1] for k, v in self.history.items() if v}

    def to_dict(self) -> dict:
        """Plain data (for checkpoints and JSON)."""
        columns = {k: list(v) for k, v in self.history.items()}
        return {"epochs": list(self.epochs), "history": columns}

    @classmethod
    def from_dict(cls, data: dict) -> History:
        """The History that ``to_dict`` gave (how the run ended is not part of it)."""
        return cls(history=data.get("history", {}), epochs=data.get("epochs", []))

    def plot(self, path, title: str | None = None) -> str:
        """Write loss and metric curves (train and validation) to a PNG at ``path``.

        Needs matplotlib (``pip install matplotlib``, in the ``main`` extra). Returns the path.
        """
        try:
            import matplotlib  # noqa: PLC0415 - optional dependency

            matplotlib.use("Agg")  # files only, never a window
            import matplotlib.pyplot as plt  # noqa: PLC0415
        except ImportError as e:
            raise ImportError(
                f"History.plot needs matplotlib ({e}); install it with pip install matplotlib "
                "(or pip install 'tinygrad_cnn[main]')"
            ) from None
        if not self.epochs:
            raise ValueError("History.plot: nothing to plot, no epoch has finished")
        names = [k for k in self.history if not k.startswith("val_") and k not in ("lr", "time")]
        fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.6), squeeze=False)
        for ax, name in zip(axes[0], names, strict=True):
            ax.plot(self.epochs, self.history[name], "o-", label=f"train {name}")
            if f"val_{name}" in self.history:
                ax.plot(self.epochs, self.history[f"val_{name}"], "s--", label=f"validation {name}")
            ax.set_xlabel("epoch")
            ax.set_ylabel(name)
            ax.grid(alpha=0.3)
            ax.legend()
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return str(path)

    def __repr__(self) -> str:
        return f"History({len(self)} epochs, keys={sorted(self.history)})"
