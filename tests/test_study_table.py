"""The results table (``tinydip.study.load``, ``results.csv``, ``tinydip study --table``) keeps
the latest row of every run of the current study file; curves.png shows the PSNR it reports."""

from __future__ import annotations

import csv

import pytest

from tinydip.cli.main import main
from tinydip.study import summary
from tinydip.study.store import Store

STUDY = """
name = "t"
images = ["sample:hopper@32"]
[[tasks]]
kind = "denoise"
[defaults]
iters = 5
stop = "none"
net = "decoder"
net_options = { k = 8, layers = 4 }
[grid]
lr = [0.01, 0.02]
"""


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "s.toml").write_text(STUDY)
    assert main(["study", str(tmp_path / "s.toml"), "--out", str(tmp_path / "o"),
                 "--workers", "0", "--quiet"]) == 0
    return tmp_path


def test_load_latest_row_of_current_study_settings_as_columns(folder, capsys):
    pd = pytest.importorskip("pandas")
    import tinydip.study

    # a superseded failed attempt of one run, then the study file shrinks to one setting
    store = Store(folder / "o")
    first = store.rows()[0]
    stale = {**first, "status": "failed", "error": "old"}
    with open(store.jsonl, "a") as f:  # an older attempt appended before the newest one
        import json

        f.write(json.dumps(stale) + "\n" + json.dumps(first) + "\n")
    (folder / "s.toml").write_text(STUDY.replace("lr = [0.01, 0.02]", "lr = [0.01]"))
    assert main(["study", str(folder / "s.toml"), "--out", str(folder / "o"),
                 "--workers", "0", "--quiet"]) == 0
    assert len(store.rows()) == 4  # the log keeps every attempt

    df = tinydip.study.load(folder / "o")
    assert isinstance(df, pd.DataFrame) and len(df) == 1
    row = df.iloc[0]
    assert row["status"] == "ok" and row["settings.lr"] == 0.01
    assert row["settings.net_options.k"] == 8 and row["degradation.sigma"] == 25
    assert "settings" not in df.columns and "degradation" not in df.columns
    assert row["psnr"] > 0

    with open(folder / "o" / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and rows[0]["settings.lr"] == "0.01" and rows[0]["key"] == row["key"]
    assert list(rows[0]) == list(df.columns)

    capsys.readouterr()
    assert main(["study", "--table", str(folder / "o")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("1 of 1 runs recorded, 1 ok")
    assert "psnr" in out[1] and "lr=0.01" in out[2]


def test_table_errors_are_one_line(tmp_path, capsys):
    assert main(["study", "--table", str(tmp_path)]) == 2
    assert "no study here" in capsys.readouterr().err
    assert main(["study", "x.toml", "--table", str(tmp_path)]) == 2
    assert main(["study", "x.toml"]) == 2  # neither --out nor --table
    assert "--out DIR is required" in capsys.readouterr().err


def test_curves_show_the_output_the_table_reports(folder, monkeypatch):
    figs = []
    monkeypatch.setattr(summary, "_save", lambda fig, path: figs.append(fig))
    from tinydip.study.spec import load_study

    study = load_study(folder / "s.toml")
    store = Store(folder / "o")
    rows = summary.study_rows(store, study)
    summary.plot_curves(rows, study, store, folder / "c.png")
    (ax,) = figs[0].axes
    labels = [line.get_label() for line in ax.get_lines()]
    for r in rows:
        (mark,) = [ln for ln in ax.get_lines()
                   if ln.get_label().startswith(f"{r['setting']}: the output")]
        assert mark.get_ydata()[0] == pytest.approx(r["psnr"])  # one run per setting
        assert mark.get_xdata()[0] == r["output_iter"]
        assert f"{r['setting']}: last iterate (n=1)" in labels
    assert ax.get_ylabel() == "mean PSNR vs truth (dB)"
