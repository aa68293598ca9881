"""The benchmark suite's runner writes valid results (a tiny run of the SQLite-only figure)."""

from __future__ import annotations

import json
import xml.dom.minidom

from click.testing import CliRunner

from paigong.cli import main


def test_a_tiny_run_writes_results_json_markdown_and_chart(tmp_path):
    result = CliRunner().invoke(main, ["bench", "--tiny", "--only", "history", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "2. 历史增长" in result.output
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert results["mode"] == "tiny"
    for key in ("cpu_count", "cpu_model", "python", "sqlite", "spiffworkflow", "date"):
        assert results["machine"][key], key
    assert list(results["figures"]) == ["history"]
    fig = results["figures"]["history"]
    assert "error" not in fig, fig
    assert fig["goal"] == 1.5 and isinstance(fig["met"], bool)
    loops = fig["details"]
    assert set(loops) == {"0", "10", "100"}
    assert all(row["warm_step_ms"] > 0 and row["cold_step_ms"] > 0 for row in loops.values())
    assert fig["value"] == round(loops["100"]["cold_step_ms"] / loops["0"]["cold_step_ms"], 3)
    markdown = (tmp_path / "RESULTS.md").read_text(encoding="utf-8")
    assert "| 2. 历史增长 History growth |" in markdown and "## 机器与版本" in markdown
    assert "返工循环次数" in markdown  # the text chart of cost against size
    svg = xml.dom.minidom.parse(str(tmp_path / "growth.svg"))
    assert svg.documentElement.tagName == "svg"
    assert svg.getElementsByTagName("polyline")


def test_an_unknown_figure_is_refused_and_nothing_is_written(tmp_path):
    result = CliRunner().invoke(main, ["bench", "--tiny", "--only", "speed", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "未知的基准 speed" in result.output
    assert not (tmp_path / "results.json").exists()


def test_only_replaces_its_figures_and_keeps_the_others_of_the_same_mode(tmp_path):
    previous = {"mode": "tiny", "seconds": 7.0, "machine": {}, "figures": {
        "memory": {"title": "6. 内存 Memory", "value": 3.0, "unit": "%", "goal": 10.0, "goal_text": "≤ 10 %",
                   "met": True, "summary": "earlier run", "seconds": 7.0},
        "history": {"title": "2. 历史增长 History growth", "value": 99.0, "summary": "stale", "seconds": 1.0}}}
    (tmp_path / "results.json").write_text(json.dumps(previous), encoding="utf-8")
    result = CliRunner().invoke(main, ["bench", "--tiny", "--only", "history", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert list(results["figures"]) == ["history", "memory"]  # in figure order
    assert results["figures"]["memory"]["summary"] == "earlier run"
    assert results["figures"]["history"]["value"] != 99.0 and "measured_at" in results["figures"]["history"]
    assert len(results["figures"]["history"]["load_average"]) == 2
    markdown = (tmp_path / "RESULTS.md").read_text(encoding="utf-8")
    assert "| 6. 内存 Memory | 3.0 % |" in markdown

    (tmp_path / "results.json").write_text(json.dumps({**previous, "mode": "full"}), encoding="utf-8")
    result = CliRunner().invoke(main, ["bench", "--tiny", "--only", "history", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert list(results["figures"]) == ["history"]  # a full run's figures are never mixed into a tiny one
