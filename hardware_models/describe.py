"""Plain-text descriptions of chip specs: the table ``itnet-neuro chips`` prints, and one chip in full.

Values whose source is marked uncertain carry a ``?``; ``none`` means unbounded or not applicable
(each field's documentation says which).
"""

from __future__ import annotations

import textwrap

from hardware_models.spec import ChipSpec

__all__ = ["format_value", "chip_summary_row", "format_chip_table", "format_chip_details", "SUMMARY_COLUMNS"]

UNCERTAIN_MARK = "?"


def format_value(value, unit: str = "") -> str:
    """One value as text: ``none``, ``true``/``false``, ``%g`` numbers, comma-joined lists, with unit."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, tuple):
        text = "[" + ", ".join(format_value(v) for v in value) + "]"
    else:
        text = str(value)
    if unit and not isinstance(value, str) and unit not in ("relative std",):
        text += f" {unit}"
    return text


def _mark(chip: ChipSpec, key: str, text: str) -> str:
    src = chip.source(key)
    return text + (UNCERTAIN_MARK if src is not None and src.uncertain else "")


def _weights_text(chip: ChipSpec) -> str:
    w = chip.weights
    if w.sign == "float":
        return "float"
    extra = {"axon-types": f"{w.n_axon_types} types", "two-rows": "sign by row", "exponent": "+exp",
             "signed": "signed"}[w.sign]
    return f"{w.bits}b {extra}"


def _tick_text(chip: ChipSpec) -> str:
    t = chip.timing
    text = f"{t.tick_seconds:g} s"
    if t.acceleration_factor is not None:
        text += f" (x{t.acceleration_factor:g})"
    return text


#: (header, function chip → text) for the summary table.
SUMMARY_COLUMNS = (
    ("chip", lambda c: c.name),
    ("kind", lambda c: c.kind),
    ("cores/chip", lambda c: _mark(c, "chip.cores_per_chip", format_value(c.chip.cores_per_chip))),
    ("neurons/core", lambda c: _mark(c, "core.max_neurons", format_value(c.core.max_neurons))
     if c.core.architecture == "crossbar" else "conv layer"),
    ("axons/core", lambda c: _mark(c, "core.max_axons", format_value(c.core.max_axons))
     if c.core.architecture == "crossbar" else "conv layer"),
    ("weights", lambda c: _mark(c, "weights.bits", _weights_text(c))),
    ("tick", lambda c: _mark(c, "timing.tick_seconds", _tick_text(c))),
    ("max delay", lambda c: _mark(c, "neuron.max_synaptic_delay_ticks",
                                  format_value(c.neuron.max_synaptic_delay_ticks))),
    ("looped", lambda c: _mark(c, "neuron.parameters_switchable_at_runtime",
                               "yes" if c.looped_schedule_allowed else "no")),
)


def chip_summary_row(chip: ChipSpec) -> list[str]:
    """The summary-table cells of one chip."""
    return [fn(chip) for _, fn in SUMMARY_COLUMNS]


def format_chip_table(chips: list[ChipSpec]) -> str:
    """A fixed-width table of key limits, one chip per line, with a legend."""
    headers = [h for h, _ in SUMMARY_COLUMNS]
    rows = [chip_summary_row(c) for c in chips]
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in [headers, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    lines.append(f"{UNCERTAIN_MARK} = no primary source pins this value (see `itnet-neuro chips NAME`); "
                 "none = unbounded or not applicable;")
    lines.append("looped = neuron parameters can change at run time, so the looped schedule is allowed.")
    return "\n".join(lines)


def format_chip_details(chip: ChipSpec, width: int = 100) -> str:
    """One chip in full: identity, every value with unit, its source and its uncertain mark."""
    out = [f"{chip.full_name} [{chip.name}, {chip.kind}]"]
    if chip.path:
        out.append(f"file: {chip.path}")
    out.append("")
    out.extend(textwrap.wrap(" ".join(chip.description.split()), width))
    out.append("")
    section = None
    indent = " " * 6
    for key, value, unit, _doc, src in chip.rows():
        if "." not in key:
            continue
        sec = key.split(".")[0]
        if sec != section:
            section = sec
            out.append(f"[{sec}]")
        mark = "  [UNCERTAIN]" if src is not None and src.uncertain else ""
        out.append(f"  {key.split('.', 1)[1]} = {format_value(value, unit)}{mark}")
        if src is not None and src.text:
            out.extend(textwrap.wrap("source: " + src.text, width, initial_indent=indent, subsequent_indent=indent))
        if src is not None and src.note:
            out.extend(textwrap.wrap("note: " + src.note, width, initial_indent=indent, subsequent_indent=indent))
    if chip.references:
        out.append("")
        out.append("references:")
        for ref in chip.references:
            out.extend(textwrap.wrap(ref, width, initial_indent="  - ", subsequent_indent="    "))
    return "\n".join(out)
