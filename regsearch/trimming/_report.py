"""`TrimReport`: what `trim()` did to each layer, as data and as a readable table."""

from __future__ import annotations

from dataclasses import dataclass

from regsearch.trimming._records import LayerTrim


def _kernel(shape: tuple[int, ...] | None) -> str:
    if shape is None:
        return "-"
    return "x".join(str(k) for k in shape) if shape else "dense"


def _count(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def _ratio(before: int, after: int) -> str:
    return f"{after / before:.1%}" if before else "-"


@dataclass(frozen=True)
class TrimReport:
    """What ``regsearch.trimming.trim`` did, per layer and in total.

    Attributes:
        layers: one ``LayerTrim`` per layer, in execution order, with kernel
            size, filters, parameters and MACs before and after, a ``note`` saying
            what was kept and why, and the layers its channels are ``coupled`` with.
            The printed table adds the coupled group to the note of a layer that lost
            channels or kept some (``coupled with stem, b1_conv through b0_add,
            b1_add``).
        params_before: parameters of the original model.
        params_after: parameters of the trimmed model.
        macs_before: multiply-accumulates per sample of the original model.
        macs_after: multiply-accumulates per sample of the trimmed model.
        max_abs_error: largest absolute difference between the two models' outputs on
            ``sample``, or ``None`` when no sample was given.
        threshold: the threshold used.
        relative: whether the threshold was relative to each layer's largest weight.
        round_to: the multiple channel counts were rounded up to, or ``None``.

    Examples:

    >>> import keras, regsearch
    >>> model = keras.Sequential([keras.Input((8, 1)), keras.layers.Conv1D(2, 3)])
    >>> _, report = regsearch.trim(model)
    >>> report.params_after <= report.params_before
    True
    """

    layers: tuple[LayerTrim, ...]
    params_before: int
    params_after: int
    macs_before: int
    macs_after: int
    max_abs_error: float | None
    threshold: float
    relative: bool
    round_to: int | None = None

    @property
    def skipped(self) -> dict[str, str]:
        """Layers (or parts of layers) that were kept as they are, mapped to the reason."""
        return {layer.name: layer.note for layer in self.layers if layer.note}

    def __str__(self) -> str:
        header = ("layer", "type", "kernel", "filters", "params", "MACs", "note")
        rows = [header]
        for e in self.layers:
            if not e.changed and not e.note and e.kernel_before is None:
                continue  # layers without weights that trimming leaves alone
            kernel = _kernel(e.kernel_before)
            if e.kernel_after != e.kernel_before:
                kernel += f" -> {_kernel(e.kernel_after)}"
            filters = _count(e.filters_before)
            if e.filters_after != e.filters_before:
                filters += f" -> {_count(e.filters_after)}"
            if e.unused_filters:
                filters += f" ({len(e.unused_filters)} unused)"
            params = _count(e.params_before)
            if e.params_after != e.params_before:
                params += f" -> {_count(e.params_after)}"
            macs = _count(e.macs_before)
            if e.macs_after != e.macs_before:
                macs += f" -> {_count(e.macs_after)}"
            note = e.note
            if e.coupled_through and (e.note or e.filters_after != e.filters_before):
                note = "; ".join(part for part in (e.note, e.coupling) if part)
            rows.append((e.name, e.class_name, kernel, filters, params, macs, note))
        widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
        lines = []
        for i, row in enumerate(rows):
            cells = [cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)]
            lines.append("  ".join([*cells, row[-1]]).rstrip())
            if i == 0:
                lines.append("  ".join("-" * w for w in widths))
        mode = "x largest |w| per layer" if self.relative else ""
        lines.append("")
        rounding = f"; channels rounded up to multiples of {self.round_to}" if self.round_to else ""
        lines.append(f"threshold: {self.threshold:g}{mode}{rounding}")
        lines.append(
            f"params: {self.params_before:,} -> {self.params_after:,} "
            f"({_ratio(self.params_before, self.params_after)})"
        )
        lines.append(
            f"MACs/sample: {self.macs_before:,} -> {self.macs_after:,} "
            f"({_ratio(self.macs_before, self.macs_after)})"
        )
        if self.max_abs_error is not None:
            lines.append(f"max |error| on sample: {self.max_abs_error:.3g}")
        return "\n".join(lines)
