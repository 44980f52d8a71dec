"""write_html_report and column_shift_table: one offline file, escaped, rendered.

The last test opens the report in real headless Chromium, when it is
installed, and checks that the tables and figures are actually drawn.
"""

import base64
import io
import json
import os
import re
import shutil
import signal
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
matplotlib = pytest.importorskip("matplotlib")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from skadv._html_report import column_shift_table, write_html_report  # noqa: E402

HOSTILE = "<script>alert(1)</script>"
RED, BLUE = "#ff0000", "#0000ff"


class _Page(HTMLParser):
    """Tags, attributes and text of a page, as a browser's parser sees them."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.tags, self.texts, self._stack = [], [], []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._stack.append([tag, dict(attrs), ""])

    def handle_endtag(self, tag):
        while self._stack:
            open_tag, attrs, text = self._stack.pop()
            self.texts.append((open_tag, attrs, text))
            if self._stack:
                self._stack[-1][2] += text
            if open_tag == tag:
                break

    def handle_data(self, data):
        if self._stack:
            self._stack[-1][2] += data

    def text_of(self, tag, **attrs):
        return [t for name, a, t in self.texts if name == tag
                and all(a.get(k) == v for k, v in attrs.items())]

    def attrs_of(self, tag):
        return [a for name, a in self.tags if name == tag]


def _figure(colour, seed):
    fig, ax = plt.subplots(figsize=(4, 2.5))
    rng = np.random.default_rng(seed)
    ax.bar(np.arange(5), rng.uniform(1, 2, 5), color=colour, width=0.8)
    ax.plot(np.arange(5), rng.uniform(0, 1, 5), color="black")
    return fig


def _frames():
    scores = pd.DataFrame({
        "attack": ["FGSM", "PGD", "Square"],
        "accuracy": [0.912345, np.nan, 0.5],
        HOSTILE: [1234.5678, 0.000123456, -7.0],
        "n": np.array([10, 20, 30]),
    })
    shift = pd.DataFrame({"fraction_changed": [0.25, 1 / 3, 0.0],
                          "kind": ["numeric", "categorical", "numeric"]},
                         index=pd.Index(["age", "job", "income"], name="column"))
    return scores, shift


def _report(path):
    scores, shift = _frames()
    sections = [
        ("Accuracy", [("Accuracy per attack", scores), ("Red bars", _figure(RED, 0))]),
        ("Column shift", ["How far each column moved.", shift, _figure(BLUE, 1)]),
    ]
    return write_html_report(path, title="Study of model.pkl", sections=sections)


def _without_data_uris(text):
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "data:", text)


def test_report_is_one_offline_file(tmp_path):
    path = tmp_path / "report.html"
    written = _report(path)
    assert written == str(path)
    raw = path.read_bytes()
    text = raw.decode("utf-8")
    page = _Page(text)
    assert {"charset": "utf-8"} in page.attrs_of("meta")
    # Nothing to fetch: every source is embedded, every link is in the page.
    srcs = [a["src"] for a in page.attrs_of("img")]
    assert len(srcs) == 2 and all(s.startswith("data:image/png;base64,") for s in srcs)
    ids = {a["id"] for _, a in page.tags if "id" in a}
    hrefs = [a["href"] for a in page.attrs_of("a")]
    assert len(hrefs) == 2 and all(h.startswith("#") and h[1:] in ids for h in hrefs)
    assert page.attrs_of("link") == [] and page.attrs_of("script") == []
    loads = [v for _, a in page.tags for k, v in a.items()
             if k in {"src", "href", "srcset", "poster", "action", "data", "background"}]
    assert all(v.startswith(("data:", "#")) for v in loads)
    rest = _without_data_uris(text).lower()
    for pattern in (r"https?:", r"ftp:", r"//[a-z0-9]", r"url\(", r"@import"):
        assert re.search(pattern, rest) is None, pattern
    # The table of contents names the sections in order.
    assert page.text_of("a") == ["Accuracy", "Column shift"]
    assert [t.strip() for t in page.text_of("h2")][1:] == ["Accuracy", "Column shift"]
    assert not list(tmp_path.glob(".*tmp")), "a temporary file was left behind"


def test_user_text_cannot_inject_markup(tmp_path):
    evil = 'x" onmouseover="alert(2)'
    df = pd.DataFrame({HOSTILE: [HOSTILE, evil]})
    fig = _figure(RED, 0)
    path = tmp_path / "r.html"
    write_html_report(path, title=HOSTILE, sections=[
        (HOSTILE, [(evil, df), HOSTILE, (HOSTILE, fig)]), (evil, [])])
    page = _Page(path.read_text(encoding="utf-8"))
    assert page.attrs_of("script") == []
    assert not any(k.startswith("on") for _, a in page.tags for k in a)
    # The hostile text comes back verbatim, as text.
    assert page.text_of("title") == [HOSTILE] and page.text_of("h1") == [HOSTILE]
    assert page.text_of("th") == [HOSTILE]
    assert page.text_of("td") == [HOSTILE, evil]
    assert page.text_of("caption") == [evil]
    assert page.text_of("p") == [HOSTILE]
    assert page.text_of("a") == [HOSTILE, evil]
    assert page.attrs_of("img")[0]["alt"].startswith(HOSTILE)


def test_cells_are_formatted_and_numeric_columns_right_aligned(tmp_path):
    scores, shift = _frames()
    path = tmp_path / "r.html"
    write_html_report(path, title="t", sections=[("s", [scores, shift])])
    page = _Page(path.read_text(encoding="utf-8"))
    tables = page.text_of("table")
    assert len(tables) == 2
    cells = [t for _, a, t in page.texts if _ == "td"]
    n_first = scores.size
    first = np.array(cells[:n_first], dtype=object).reshape(scores.shape)
    for j, column in enumerate(scores.columns):
        for i, value in enumerate(scores[column]):
            shown = first[i, j]
            if isinstance(value, str):
                assert shown == value
            elif np.isnan(value):
                assert shown == "\u2013"
            else:
                assert float(shown) == pytest.approx(value, rel=5e-3)
                digits = re.sub(r"e.*|[-.]", "", shown).lstrip("0")
                assert len(digits) <= max(3, len(str(int(abs(value))))), shown
    # Right alignment goes with the numeric dtypes, header cells included.
    numeric = [c for c in scores.columns if c != "attack"]
    th = page.attrs_of("th")
    assert [a.get("class") == "num" for a in th[:len(scores.columns)]] == [
        c in numeric for c in scores.columns]
    # The unnamed index is hidden; the named one is shown as row headers.
    row_heads = [t for name, a, t in page.texts if name == "th" and a.get("scope") == "row"]
    assert row_heads == list(shift.index)
    assert "column" in page.text_of("th", scope="col")


def test_figures_are_embedded_as_their_png_and_closed(tmp_path):
    fig = _figure(RED, 0)
    number = fig.number
    expected = io.BytesIO()
    fig.savefig(expected, format="png", dpi=150, bbox_inches="tight", facecolor="white")
    path = tmp_path / "r.html"
    write_html_report(path, title="t", sections=[("Curves", [fig])])
    assert not plt.fignum_exists(number)
    (img,) = _Page(path.read_text(encoding="utf-8")).attrs_of("img")
    assert img["alt"] == "Curves"
    png = base64.b64decode(img["src"].split(",", 1)[1])
    shown = mpimg.imread(io.BytesIO(png))
    assert shown.shape == mpimg.imread(io.BytesIO(expected.getvalue())).shape
    # The declared size keeps the aspect ratio of the pixels.
    ratio = int(img["width"]) / int(img["height"])
    assert ratio == pytest.approx(shown.shape[1] / shown.shape[0], rel=0.02)


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "r.html"
    path.write_text("old report")
    os.chmod(path, 0o640)
    write_html_report(path, title="new", sections=[])
    assert "<h1>new</h1>" in path.read_text(encoding="utf-8")
    assert os.stat(path).st_mode & 0o777 == 0o640

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_html_report(path, title="newer", sections=[])
    assert "<h1>new</h1>" in path.read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]


@pytest.mark.parametrize("sections, match", [
    ("Accuracy", "sections must be a list"),
    ([("Accuracy", pd.DataFrame())], "must be a list; wrap"),
    ([("A", [np.zeros(3)])], "section 'A' must be a pandas DataFrame"),
    ([("A", [("caption", ("nested", "x"))])], "captioned item in section 'A'"),
    ([("A",)], r"sections\[0\] must be"),
])
def test_bad_sections_say_what_is_expected(tmp_path, sections, match):
    with pytest.raises(TypeError, match=match):
        write_html_report(tmp_path / "r.html", title="t", sections=sections)
    assert not (tmp_path / "r.html").exists()


# --- column_shift_table --------------------------------------------------


def _mixed(rng, n=40):
    return pd.DataFrame({
        "age": rng.integers(18, 90, n),
        "income": np.where(rng.random(n) < 0.1, np.nan, rng.normal(5e4, 1e4, n)),
        "job": pd.Categorical(rng.choice(["a", "b", "c"], n)),
        "city": rng.choice(["x", "y", None], n).astype(object),
        "owner": rng.random(n) < 0.5,
    })


def _perturb(clean, rng):
    adv = clean.copy()
    rows = rng.random(len(clean)) < 0.3
    adv.loc[rows, "age"] += rng.integers(-3, 4, rows.sum())
    income = adv["income"].to_numpy().copy()
    moved = rng.random(len(clean)) < 0.5
    income[moved] = income[moved] + rng.normal(0, 100, moved.sum())
    income[rng.random(len(clean)) < 0.1] = np.nan  # appear or stay missing
    adv["income"] = income
    adv["job"] = pd.Categorical(np.where(rng.random(len(clean)) < 0.2, "c",
                                         clean["job"].astype(str)))
    adv["city"] = np.where(rng.random(len(clean)) < 0.2, None, clean["city"]).astype(object)
    adv["owner"] = np.where(rng.random(len(clean)) < 0.2, ~clean["owner"], clean["owner"])
    return adv


def _missing(v):
    return v is None or (isinstance(v, float) and np.isnan(v))


def _brute_force(clean, adv, numeric):
    out = {}
    for name in clean.columns:
        changed, diffs = 0, []
        for a, b in zip(clean[name].tolist(), adv[name].tolist()):
            if _missing(a) and _missing(b):
                continue
            if _missing(a) or _missing(b):
                changed += 1
                continue
            changed += a != b
            if name in numeric:
                diffs.append(abs(float(a) - float(b)))
        n = len(clean)
        out[name] = (changed / n,
                     sum(diffs) / n if name in numeric else np.nan,
                     max(diffs, default=np.nan) if name in numeric else np.nan)
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_column_shift_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    clean = _mixed(rng)
    adv = _perturb(clean, rng)
    table = column_shift_table(clean, adv)
    assert table["column"].tolist() == list(clean.columns)
    numeric = {"age", "income"}
    assert dict(zip(table["column"], table["kind"])) == {
        c: "numeric" if c in numeric else "categorical" for c in clean.columns}
    expected = _brute_force(clean, adv, numeric)
    got = table.set_index("column")[["fraction_changed", "mean_abs_change",
                                     "max_abs_change"]]
    for name, row in expected.items():
        np.testing.assert_allclose(got.loc[name].to_numpy(dtype=float), row,
                                   rtol=1e-12, equal_nan=True)
    assert table.loc[table["column"] == "age", "fraction_changed"].item() > 0

    # Object arrays give the same table, under the names passed in.
    as_arrays = column_shift_table(clean.astype(object).to_numpy(),
                                   adv.astype(object).to_numpy(), columns=list(clean.columns))
    pd.testing.assert_frame_equal(as_arrays, table)
    # Columns of X_adv are matched by name; `columns` selects and orders.
    shuffled = adv[list(reversed(adv.columns))]
    pd.testing.assert_frame_equal(column_shift_table(clean, shuffled), table)
    picked = column_shift_table(clean, adv, columns=["job", "age"])
    pd.testing.assert_frame_equal(picked, table.set_index("column").loc[["job", "age"]]
                                  .reset_index())


def test_column_shift_ignores_float32_rounding():
    rng = np.random.default_rng(0)
    clean = rng.normal(size=(50, 3))
    adv = clean.astype(np.float32)
    adv[:10, 1] += 0.5
    table = column_shift_table(clean, adv)
    assert table["fraction_changed"].tolist() == [0.0, 0.2, 0.0]
    np.testing.assert_allclose(table["max_abs_change"], [0.0, 0.5, 0.0], atol=1e-6)
    assert table["column"].tolist() == ["x0", "x1", "x2"]


@pytest.mark.parametrize("clean, adv, kwargs, match", [
    (np.zeros((3, 2)), np.zeros((3, 3)), {}, "same shape"),
    (np.zeros(3), np.zeros(3), {}, "must be 2-D"),
    (np.zeros((3, 2)), np.zeros((3, 2)), {"columns": ["a"]}, "one name per column"),
    (pd.DataFrame({"a": [1]}), pd.DataFrame({"b": [1]}), {}, r"\['a', 'b'\] in only one"),
    (pd.DataFrame({"a": [1]}), pd.DataFrame({"a": [1]}), {"columns": ["z"]}, "not among"),
])
def test_column_shift_errors(clean, adv, kwargs, match):
    with pytest.raises(ValueError, match=match):
        column_shift_table(clean, adv, **kwargs)


# --- In a real browser -----------------------------------------------------

_CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--force-device-scale-factor=1",
    # No name resolves: the page is rendered as it would be offline.
    "--host-resolver-rules=MAP * ~NOTFOUND",
]

# Test-only instrumentation: once the page has loaded, record what the
# browser made of it on <body>, where --dump-dom shows it.
_PROBE = """<script id="probe">
addEventListener("load", () => {
  const box = (e) => { const r = e.getBoundingClientRect();
                       return {x: r.x, y: r.y, w: r.width, h: r.height}; };
  const style = (e, p) => e ? getComputedStyle(e)[p] : null;
  const tables = [...document.querySelectorAll("table")].map((t) => ({
    box: box(t),
    bodyRows: t.tBodies[0].rows.length,
    headers: [...t.tHead.rows[0].cells].map((c) => c.textContent),
    sticky: style(t.tHead.rows[0].cells[0], "position"),
    numAlign: style(t.querySelector("td.num"), "textAlign"),
    zebra: [0, 1].map((i) => t.tBodies[0].rows[i] ?
                      style(t.tBodies[0].rows[i].cells[0], "backgroundColor") : null),
  }));
  const images = [...document.images].map((i) => ({
    box: box(i), complete: i.complete, natural: [i.naturalWidth, i.naturalHeight]}));
  const links = [...document.querySelectorAll("nav a")].map(
    (a) => document.getElementById(a.hash.slice(1)) !== null);
  document.body.setAttribute("data-probe", JSON.stringify({
    tables, images, links, scripts: document.scripts.length}));
});
</script>"""


def _run_chromium(args, tmp_path, timeout=60):
    profile = tmp_path / f"profile{len(list(tmp_path.glob('profile*')))}"
    proc = subprocess.Popen(["chromium", *_CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # its renderer and helpers too
        proc.communicate()
        raise
    return proc.returncode, out, err


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    """Skip, saying why, unless headless Chromium renders a trivial page here."""
    if shutil.which("chromium") is None:
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium)")
    tmp = tmp_path_factory.mktemp("chromium")
    probe = tmp / "probe.html"
    probe.write_text("<!DOCTYPE html><p>chromium-works</p>")
    try:
        rc, out, err = _run_chromium(["--dump-dom", probe.as_uri()], tmp)
    except (subprocess.TimeoutExpired, OSError) as exc:
        pytest.skip(f"chromium does not start here: {exc}")
    if rc != 0 or "chromium-works" not in out:
        pytest.skip(f"chromium does not render here (exit {rc}): {err[-500:]}")
    return tmp


def _pixels(shot, box, rgb):
    """Pixels of a pure colour inside a CSS box of the screenshot."""
    x0, y0 = int(box["x"]), int(box["y"])
    area = shot[y0:y0 + int(box["h"]), x0:x0 + int(box["w"]), :3]
    target = np.array([int(rgb[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    return int((np.abs(area - target).max(axis=-1) < 0.06).sum())


def test_report_renders_in_headless_chromium(chromium, tmp_path):
    report = tmp_path / "report.html"
    _report(report)
    text = report.read_text(encoding="utf-8")
    assert "<script" not in text
    probed = tmp_path / "probed.html"
    probed.write_text(text.replace("</body>", _PROBE + "</body>"), encoding="utf-8")

    rc, dom, err = _run_chromium(["--dump-dom", probed.as_uri()], tmp_path)
    assert rc == 0, err[-2000:]
    (body,) = _Page(dom).attrs_of("body")
    assert "data-probe" in body, "the page never finished loading"
    seen = json.loads(body["data-probe"])
    # Only the probe runs: the hostile column name stayed text.
    assert seen["scripts"] == 1
    assert seen["links"] == [True, True]
    scores, shift = _frames()
    assert [t["bodyRows"] for t in seen["tables"]] == [len(scores), len(shift)]
    assert seen["tables"][0]["headers"] == [str(c) for c in scores.columns]
    for table in seen["tables"]:
        assert table["box"]["h"] > 20 * table["bodyRows"] and table["box"]["w"] > 100
        assert table["sticky"] == "sticky" and table["numAlign"] == "right"
        assert table["zebra"][0] != table["zebra"][1]
    assert len(seen["images"]) == 2
    for image in seen["images"]:
        assert image["complete"] and min(image["natural"]) > 100, image
        assert image["box"]["w"] > 200 and image["box"]["h"] > 100
        assert image["box"]["y"] + image["box"]["h"] <= 2000, "below the screenshot"

    shot_path = tmp_path / "shot.png"
    rc, _, err = _run_chromium([f"--screenshot={shot_path}", "--window-size=1200,2000",
                                report.as_uri()], tmp_path)
    assert rc == 0 and shot_path.exists(), err[-2000:]
    shot = mpimg.imread(shot_path)
    assert shot.shape[:2] == (2000, 1200) and shot[..., :3].std() > 0.01
    red_box, blue_box = (image["box"] for image in seen["images"])
    area = red_box["w"] * red_box["h"]
    # Each figure's bars are drawn where the layout put that image, and only there.
    assert _pixels(shot, red_box, RED) > 0.05 * area
    assert _pixels(shot, blue_box, BLUE) > 0.05 * area
    assert _pixels(shot, red_box, BLUE) == 0 and _pixels(shot, blue_box, RED) == 0
    assert _pixels(shot, {"x": 0, "y": 0, "w": 1200, "h": 2000}, RED) == _pixels(
        shot, red_box, RED)


def test_the_study_report_renders_in_headless_chromium(chromium, tmp_path):
    # The study's own report.html, on a user's table with a category column:
    # every table lays out with its rows and every embedded plot decodes.
    import pandas as pd
    from sklearn.datasets import load_breast_cancer

    import skadv

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    frame = X.iloc[:, :6].assign(size=np.where(X.iloc[:, 0] > 14, "large", "small"),
                                 malignant=np.where(y == 0, "yes", "no"))
    result = skadv.study(frame, target="malignant", defenses=["hgb"], attacks=["square"],
                         eps=[0.3], quick=True, max_rows=30, out=str(tmp_path / "study"))
    report = tmp_path / "study" / "report.html"
    assert result.paths["report.html"] == str(report)
    probed = tmp_path / "probed.html"
    probed.write_text(report.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"),
                      encoding="utf-8")
    rc, dom, err = _run_chromium(["--dump-dom", probed.as_uri()], tmp_path)
    assert rc == 0, err[-2000:]
    (body,) = _Page(dom).attrs_of("body")
    seen = json.loads(body["data-probe"])
    assert seen["scripts"] == 1 and all(seen["links"])
    accuracy = next(t for t in seen["tables"] if "worst case" in t["headers"])
    assert accuracy["bodyRows"] == len(pd.unique(result.report.estimator))  # one eps
    assert {"estimator", "eps", "clean", "square", "certified"} <= set(accuracy["headers"])
    for table in seen["tables"]:
        assert table["bodyRows"] > 0 and table["box"]["h"] > 20 * table["bodyRows"]
    assert len(seen["images"]) >= 2
    for image in seen["images"]:
        assert image["complete"] and min(image["natural"]) > 100, image
        assert image["box"]["w"] > 200 and image["box"]["h"] > 100


def test_a_prerendered_png_is_embedded_as_given(tmp_path):
    import base64

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from skadv._html_report import PNGImage, png_bytes, write_html_report

    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1], [1, 0])
    png = png_bytes(fig, dpi=80)
    # Closed (another test in this worker may have left a figure of its own open).
    assert fig.number not in plt.get_fignums()
    page = open(write_html_report(str(tmp_path / "r.html"), title="t", sections=[
        ("Curves", [PNGImage(png, 80)])]), encoding="utf-8").read()
    assert base64.b64encode(png).decode("ascii") in page
    # sized in CSS pixels for its inches: 96 per inch whatever the dpi
    width = int.from_bytes(png[16:20], "big")
    assert f'width="{round(width * 96 / 80)}"' in page
    with pytest.raises(TypeError, match="PNG"):
        PNGImage(b"GIF89a", 80)
