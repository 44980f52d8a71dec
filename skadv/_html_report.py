"""A self-contained HTML report: tables, figures and text in one offline file.

``skadv study`` writes its findings with :func:`write_html_report`. The file
carries everything it shows -- inline CSS, figures as base64 PNG ``data:``
URIs, no script, no external address -- so it opens the same from an e-mail
attachment, an air-gapped machine or a CI artefact store. Every piece of text
that comes from the user (title, headings, column names and cells of their
CSV) is escaped, so a column named ``<script>...`` shows as text and never
runs.

:func:`column_shift_table` summarises, per column, how far an attack moved
the data, for the per-column part of such a report.

pandas and matplotlib are optional (the ``pandas`` and ``plot`` extras) and
are imported only when a table or figure is handled.
"""

import base64
import html
import io
import math
import numbers
import os
import sys
import tempfile

import numpy as np

__all__ = ["PNGImage", "column_shift_table", "png_bytes", "write_html_report"]

_MISSING = "\u2013"  # en dash
# Figures are rasterised at this resolution and shown at CSS size, so they
# stay sharp on high-density screens.
_DPI = 150
_CSS_PX_PER_INCH = 96

_CSS = """\
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 75rem; padding: 1.5rem 2rem 3rem;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue",
    Arial, sans-serif;
  color: #1d2125; background: #fff; }
h1 { font-size: 1.7rem; margin: 0 0 1rem; }
h2 { font-size: 1.3rem; margin: 2.2rem 0 .8rem; padding-bottom: .25rem;
  border-bottom: 1px solid #d8dde2; }
nav.toc { background: #f5f7f9; border: 1px solid #e1e5ea; border-radius: 6px;
  padding: .6rem 1.2rem; display: inline-block; min-width: 16rem; }
nav.toc h2 { font-size: 1rem; margin: .2rem 0 .3rem; border: 0; padding: 0; }
nav.toc ol { margin: 0; padding-left: 1.3rem; }
a { color: #0b5cad; }
p { max-width: 50rem; white-space: pre-line; }
figure { margin: 1rem 0 1.6rem; }
figcaption, caption { color: #4a535c; font-size: .92rem; padding: .35rem 0; }
caption { caption-side: top; text-align: left; }
img { max-width: 100%; height: auto; display: block; }
.table-wrap { overflow: auto; max-height: 40rem; margin: .5rem 0 1.6rem;
  border: 1px solid #d8dde2; border-radius: 4px; display: inline-block;
  max-width: 100%; }
table { border-collapse: separate; border-spacing: 0; font-size: .9rem; }
th, td { padding: .3rem .75rem; text-align: left; vertical-align: top;
  border-bottom: 1px solid #e8ebee; white-space: nowrap; }
thead th { position: sticky; top: 0; z-index: 1; background: #eef1f4;
  border-bottom: 2px solid #c5ccd3; font-weight: 600; }
tbody tr:nth-child(even) td, tbody tr:nth-child(even) th { background: #f7f9fa; }
tbody th { font-weight: 600; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
@media print { .table-wrap { max-height: none; overflow: visible; }
  thead th { position: static; } }
"""


class PNGImage:
    """A figure already rendered: ``png`` bytes at ``dpi``, embedded as they are.

    A caller that also writes the PNG to a file renders the figure once
    (:func:`png_bytes`) and hands the same bytes to the page.
    """

    def __init__(self, png, dpi):
        if not (isinstance(png, bytes) and png.startswith(b"\x89PNG\r\n\x1a\n")):
            raise TypeError(f"png must be the bytes of a PNG file. Got {png!r:.40} instead.")
        self.png, self.dpi = png, float(dpi)


def png_bytes(fig, dpi=_DPI):
    """``fig`` as PNG bytes (tight bounding box, white background); closes it."""
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight",
                    facecolor="white")
    finally:
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:  # a figure made without pyplot is not registered
            pyplot.close(fig)
    return buffer.getvalue()


def write_html_report(path, *, title, sections):
    """Write one self-contained HTML file with a table of contents.

    The page needs no network and no JavaScript: styles are inline, figures
    are embedded PNGs, and each section is linked from the table of contents
    at the top. The file is written to a temporary file beside ``path`` and
    moved over it, so a reader never sees half a report.

    Parameters
    ----------
    path : str or os.PathLike
        Where to write; an existing file is replaced (keeping its
        permissions; a new file gets ``0o644``). The folder must exist.
    title : str
        The page's title and top heading.
    sections : list of (str, list)
        ``(heading, items)`` pairs, shown in order. Each item is one of:

        - a pandas DataFrame: a table. Cells are escaped; floats show three
          significant digits (whole numbers up to a million in full), missing
          values an en dash; numeric columns are right-aligned; the index is
          shown only when it is named.
        - a matplotlib Figure: embedded as a PNG whose alt text is the
          heading; the figure is closed afterwards.
        - a :class:`PNGImage`: embedded likewise, as rendered.
        - a str: a paragraph of plain text (escaped; line breaks kept).
        - a ``(caption, item)`` tuple: one of the above with a caption.

    Returns
    -------
    path : str
        The path written.

    Examples
    --------
    >>> import os, tempfile
    >>> import pandas as pd
    >>> from skadv._html_report import write_html_report
    >>> scores = pd.DataFrame({"eps": [0.0, 0.1], "accuracy": [0.9666, 0.4]})
    >>> out = os.path.join(tempfile.mkdtemp(), "study.html")
    >>> written = write_html_report(out, title="Study", sections=[
    ...     ("Accuracy", ["Accuracy under PGD.", ("Per budget", scores)])])
    >>> written == out
    True
    >>> page = open(out, encoding="utf-8").read()
    >>> '<td class="num">0.967</td>' in page and 'href="#section-1"' in page
    True
    """
    if not isinstance(title, str):
        raise TypeError(f"title must be a str. Got {type(title).__name__} instead.")
    body = [f"<h1>{_escape(title)}</h1>"]
    sections = _check_sections(sections)
    if sections:
        body.append('<nav class="toc" aria-label="Contents"><h2>Contents</h2><ol>')
        body.extend(f'<li><a href="#section-{i}">{_escape(heading)}</a></li>'
                    for i, (heading, _) in enumerate(sections, 1))
        body.append("</ol></nav>")
    for i, (heading, items) in enumerate(sections, 1):
        body.append(f'<section id="section-{i}">')
        body.append(f"<h2>{_escape(heading)}</h2>")
        body.extend(_render_item(item, heading) for item in items)
        body.append("</section>")
    page = "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_escape(title)}</title>",
        f"<style>\n{_CSS}</style>",
        "</head>",
        "<body>",
        *body,
        "</body>",
        "</html>",
        "",
    ])
    return _write_atomically(os.fspath(path), page)


def _check_sections(sections):
    if isinstance(sections, (str, bytes)) or not hasattr(sections, "__iter__"):
        raise TypeError("sections must be a list of (heading, items) pairs. "
                        f"Got {type(sections).__name__} instead.")
    checked = []
    for k, section in enumerate(sections):
        if not (isinstance(section, tuple) and len(section) == 2
                and isinstance(section[0], str)):
            raise TypeError(
                f"sections[{k}] must be a (heading: str, items: list) pair. "
                f"Got {section!r:.80} instead.")
        heading, items = section
        if not isinstance(items, list):
            raise TypeError(
                f"The items of section {heading!r} must be a list; wrap a single "
                f"item in [...]. Got {type(items).__name__} instead.")
        checked.append((heading, items))
    return checked


def _render_item(item, heading, caption=None):
    if isinstance(item, tuple):
        if caption is not None or len(item) != 2 or not isinstance(item[0], str):
            raise TypeError(
                f"A captioned item in section {heading!r} must be a (caption: str, "
                "item) pair around a DataFrame, Figure, PNGImage or str. "
                f"Got {item!r:.80} instead.")
        return _render_item(item[1], heading, caption=item[0])
    if isinstance(item, str):
        paragraph = f"<p>{_escape(item)}</p>"
        return paragraph if caption is None else _figure(paragraph, caption)
    if _is_instance(item, "pandas", "DataFrame"):
        return _table(item, caption)
    if isinstance(item, PNGImage) or _is_instance(item, "matplotlib.figure", "Figure"):
        alt = heading if caption is None else f"{heading} \u2014 {caption}"
        if not isinstance(item, PNGImage):
            item = PNGImage(png_bytes(item), _DPI)
        return _figure(_image(item, alt), caption)
    raise TypeError(
        f"An item of section {heading!r} must be a pandas DataFrame, a "
        "matplotlib Figure, a PNGImage, a str or a (caption, item) pair. "
        f"Got {type(item).__name__} instead.")


def _is_instance(obj, module, name):
    # A class from a library that is not imported cannot have instances, so
    # this never imports the optional library itself.
    mod = sys.modules.get(module)
    return mod is not None and isinstance(obj, getattr(mod, name))


def _figure(inner, caption):
    if caption is None:
        return f"<figure>{inner}</figure>"
    return f"<figure>{inner}<figcaption>{_escape(caption)}</figcaption></figure>"


def _image(image, alt):
    png = image.png
    # Width and height from the PNG header (IHDR), so the page lays out
    # before the image is decoded; CSS pixels keep the figure's size in inches.
    width, height = (int.from_bytes(png[i:i + 4], "big") for i in (16, 20))
    scale = _CSS_PX_PER_INCH / image.dpi
    data = base64.b64encode(png).decode("ascii")
    return (f'<img src="data:image/png;base64,{data}" alt="{_escape(alt)}" '
            f'width="{round(width * scale)}" height="{round(height * scale)}">')


def _table(df, caption):
    import pandas as pd

    show_index = any(name is not None for name in df.index.names)
    numeric = [_is_numeric(dtype) for dtype in df.dtypes]
    rows = ['<div class="table-wrap"><table>']
    if caption is not None:
        rows.append(f"<caption>{_escape(caption)}</caption>")
    header = []
    if show_index:
        header += [f'<th scope="col">{_escape(_label(n))}</th>' for n in df.index.names]
    header += [f'<th scope="col"{_num_class(num)}>{_escape(_label(c))}</th>'
               for c, num in zip(df.columns, numeric)]
    rows.append(f"<thead><tr>{''.join(header)}</tr></thead>")
    rows.append("<tbody>")
    for key, values in zip(df.index, df.itertuples(index=False, name=None)):
        cells = []
        if show_index:
            keys = key if isinstance(df.index, pd.MultiIndex) else (key,)
            cells += [f'<th scope="row">{_escape(_format_cell(k))}</th>' for k in keys]
        cells += [f"<td{_num_class(num)}>{_escape(_format_cell(v))}</td>"
                  for v, num in zip(values, numeric)]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    rows.append("</tbody></table></div>")
    return "\n".join(rows)


def _num_class(numeric):
    return ' class="num"' if numeric else ""


def _label(label):
    # Columns of a MultiIndex are tuples; an unnamed index level is None.
    if isinstance(label, tuple):
        return " / ".join(_label(part) for part in label)
    return "" if label is None else str(label)


def _format_cell(value):
    """Text of one table cell: floats to three significant digits, missing as a dash."""
    import pandas as pd

    # pd.isna knows None, NaN, NaT and pd.NA alike; on a sequence it answers
    # per element, so only scalars are asked.
    if np.ndim(value) == 0 and not isinstance(value, str) and pd.isna(value):
        return _MISSING
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return _format_float(float(value))
    return str(value)


def _format_float(x):
    if math.isinf(x):
        return "\u221e" if x > 0 else "\u2212\u221e"
    if x == 0:  # -0.0 too
        return "0"
    # '.3g' switches to an exponent from 1000 on; whole thousands read better
    # in full, up to a million.
    if 999.5 <= abs(x) < 1e6:
        return f"{x:.0f}"
    return f"{x:.3g}"


def _escape(text):
    return html.escape(str(text), quote=True)


def _write_atomically(path, text):
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".skadv-report-", suffix=".html.tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file private (0600); a report is meant to be shared.
        try:
            mode = os.stat(path).st_mode & 0o777
        except FileNotFoundError:
            mode = 0o644
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def column_shift_table(X_clean, X_adv, *, columns=None):
    """How much an attack changed each column: one row per column.

    Rows are compared by position. A numeric column reports the fraction of
    rows changed and the mean and maximum absolute change, in the column's
    own units; any other column (strings, categories, booleans, dates)
    reports the fraction changed, with NaN for the mean and maximum. Missing
    on both sides counts as unchanged; missing on one side counts as a change
    but adds no absolute change. When either side of a column is float32 the
    two are compared at float32 precision, so a float64 value rounded to
    float32 and back (as a model's input would be) is not reported as moved.

    Parameters
    ----------
    X_clean, X_adv : array-like or pandas DataFrame of shape (n_samples, n_features)
        The data before and after the attack. Arrays may be of object dtype
        with mixed columns. With two DataFrames, ``X_adv``'s columns are
        matched to ``X_clean``'s by name.
    columns : list of str, default=None
        With arrays: the names of all columns (default ``x0, x1, ...``).
        With a DataFrame: the columns to report, in this order (default all).

    Returns
    -------
    table : pandas DataFrame
        Columns ``column``, ``kind`` (``"numeric"`` or ``"categorical"``),
        ``fraction_changed``, ``mean_abs_change`` and ``max_abs_change``; the
        mean is over all rows, unchanged ones included.

    Examples
    --------
    >>> import pandas as pd
    >>> from skadv._html_report import column_shift_table
    >>> clean = pd.DataFrame({"age": [30.0, 40.0, 50.0, 60.0],
    ...                       "job": ["a", "b", "a", "c"]})
    >>> adv = pd.DataFrame({"age": [30.0, 42.0, 49.0, 60.0],
    ...                     "job": ["a", "a", "a", "c"]})
    >>> column_shift_table(clean, adv)
      column         kind  fraction_changed  mean_abs_change  max_abs_change
    0    age      numeric              0.50             0.75             2.0
    1    job  categorical              0.25              NaN             NaN
    """
    import pandas as pd

    clean, adv = _as_frames(X_clean, X_adv, columns)
    rows = []
    for name in clean.columns:
        a = _infer(clean[name])
        b = _infer(adv[name])
        if _is_numeric(a.dtype) and _is_numeric(b.dtype):
            rows.append((name, "numeric", *_numeric_shift(a, b)))
        else:
            rows.append((name, "categorical", _categorical_changed(a, b), np.nan, np.nan))
    return pd.DataFrame(rows, columns=["column", "kind", "fraction_changed",
                                       "mean_abs_change", "max_abs_change"])


def _as_frames(X_clean, X_adv, columns):
    import pandas as pd

    frames = []
    for name, X in (("X_clean", X_clean), ("X_adv", X_adv)):
        if isinstance(X, pd.DataFrame):
            frames.append(X.reset_index(drop=True))
            continue
        arr = np.asarray(X)
        if arr.ndim != 2:
            raise ValueError(f"{name} must be 2-D (n_samples, n_features). "
                             f"Got an array of shape {arr.shape} instead.")
        frames.append(pd.DataFrame(arr))
    clean, adv = frames
    if clean.shape != adv.shape:
        raise ValueError(f"X_clean and X_adv must have the same shape. Got "
                         f"{clean.shape} and {adv.shape} instead.")
    named = [X.columns for X in (X_clean, X_adv) if isinstance(X, pd.DataFrame)]
    for names in named:
        if not names.is_unique:
            raise ValueError("The column names must be unique. Got "
                             f"{list(names[names.duplicated()])} repeated instead.")
    if len(named) == 2:
        only_one = set(named[0]) ^ set(named[1])
        if only_one:
            raise ValueError(
                "X_clean and X_adv must have the same column names. Got "
                f"{sorted(map(str, only_one))} in only one of them instead.")
        adv = adv[list(named[0])]
    if named:
        clean.columns = adv.columns = list(named[0])
        if columns is not None:
            missing = [c for c in columns if c not in clean.columns]
            if missing:
                raise ValueError(f"columns must name columns of the data. Got "
                                 f"{missing} which are not among them instead.")
            clean, adv = clean[list(columns)], adv[list(columns)]
    else:
        names = [f"x{j}" for j in range(clean.shape[1])] if columns is None else list(columns)
        if len(names) != clean.shape[1]:
            raise ValueError(f"columns must give one name per column "
                             f"({clean.shape[1]}). Got {len(names)} instead.")
        clean.columns = adv.columns = names
    return clean, adv


def _infer(series):
    # A column of an object array holding only numbers is numeric.
    return series.infer_objects() if series.dtype == object else series


def _is_numeric(dtype):
    # Booleans are flags, not quantities: they are compared, not subtracted.
    import pandas as pd

    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def _numeric_shift(a, b):
    # Compare at the coarser of the two precisions (float32 if either side is).
    dtypes = [np.dtype(getattr(s.dtype, "numpy_dtype", s.dtype)) for s in (a, b)]
    floats = [d for d in dtypes if d.kind == "f"]
    coarse = min(floats, key=lambda d: d.itemsize) if floats else np.float64
    a, b = (s.to_numpy(dtype=np.float64, na_value=np.nan).astype(coarse)
            .astype(np.float64) for s in (a, b))
    return _shift_stats(a, b)


def _shift_stats(a, b):
    n = len(a)
    if n == 0:
        return np.nan, np.nan, np.nan
    missing_a, missing_b = np.isnan(a), np.isnan(b)
    both = ~missing_a & ~missing_b
    changed = (missing_a != missing_b) | (both & (a != b))
    diff = np.abs(a[both] - b[both])
    mean = diff.sum() / n
    top = diff.max() if diff.size else np.nan
    return changed.mean(), mean, top


def _categorical_changed(a, b):
    if len(a) == 0:
        return np.nan
    a = a.astype(object)
    b = b.astype(object)
    same = (a.isna() & b.isna()) | (a == b).fillna(False).astype(bool)
    return float(1.0 - same.mean())
