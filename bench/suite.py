"""The benchmark suite: seven figures, each a ratio or comparison measured in the same run.

``paigong bench [--quick] [--only NAME]`` and ``make bench`` run it; it writes
``bench/results.json`` (the machine, the versions, and per figure its value, goal, whether
it is met, the baselines compared and the parameters), ``bench/RESULTS.md`` (tables and a
text chart) and ``bench/growth.svg`` (how cost grows with size). ``--quick`` runs smaller
sizes and shorter loads (a few minutes); ``--tiny`` (seconds) only proves the machinery.
PostgreSQL comes from ``PAIGONG_BENCH_PG_URL`` (default: the local server); each benchmark
creates a database of its own there and drops it afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

FIGURES = ("throughput", "history", "inbox", "http", "timers", "memory", "scaleout")
TITLES = {
    "throughput": "1. 引擎吞吐 Engine throughput",
    "history": "2. 历史增长 History growth",
    "inbox": "3. 收件箱规模 Inbox at scale",
    "http": "4. HTTP 负载 HTTP under load",
    "timers": "5. 定时器 Timers",
    "memory": "6. 内存 Memory",
    "scaleout": "7. 横向扩展 Scale-out",
}


def _mode(quick: bool, tiny: bool) -> str:
    return "tiny" if tiny else ("quick" if quick else "full")


# -- the figures: measure, then judge against the goal -------------------------------------


def fig_throughput(quick: bool, tiny: bool, echo) -> dict:
    from bench.common import pg_database
    from bench.engine_throughput import main

    with pg_database("throughput") as url:
        r = main(quick=quick, echo=echo, tiny=tiny, pg_url=url)
    med = r["median"]
    ratio = med["ratio"]
    return {
        "value": round(ratio, 3), "unit": "× raw", "goal": 0.5, "goal_text": "持久化 (SQLite) ≥ 0.5 × 纯内存",
        "met": ratio >= 0.5,
        "baselines": {"raw_inmemory_per_s": round(med["raw"], 1), "durable_sqlite_per_s": round(med["durable_sqlite"], 1),
                      "durable_postgresql_per_s": round(med["durable_postgresql"], 1),
                      "naive_json_per_s": round(med["naive_json"], 1),
                      "postgresql_vs_raw": round(med["ratio_postgresql"], 3),
                      "naive_vs_raw": round(med["naive_json"] / med["raw"], 3),
                      "durable_sqlite_vs_naive": round(med["durable_sqlite"] / med["naive_json"], 2)},
        "parameters": {"rounds": len(r["runs"]["raw"]), "flow": "9 个用户任务的派工流程 (bench/dispatch_model.py)",
                       "unit": "instances/s, every completion a committed transaction"},
        "summary": (f"SQLite {med['durable_sqlite']:.1f}/s, PostgreSQL {med['durable_postgresql']:.1f}/s, "
                    f"raw {med['raw']:.1f}/s, naive {med['naive_json']:.1f}/s"),
    }


def fig_history(quick: bool, tiny: bool, echo) -> dict:
    from bench.history_growth import figure

    r = figure(quick, echo, tiny=tiny)
    ratio = r["ratio_100_vs_0_cold"]
    longest = r.get("longest", {})
    correct = bool(longest.get("correct")) and longest.get("loops", 0) >= 1000
    return {
        "value": ratio, "unit": "× (100 loops / 0 loops, cold step)", "goal": 1.5,
        "goal_text": "100 次循环的每步耗时 ≤ 1.5 × 0 次; 1,000 次循环正确完成",
        "met": ratio <= 1.5 and correct,
        "baselines": {"warm_ratio_100_vs_0": r["ratio_100_vs_0_warm"], "cold_ratio_100_vs_0": ratio,
                      "longest": longest},
        "parameters": {"steps_timed_per_order": r["steps_timed_per_order"], "database": "SQLite"},
        "details": r["loops"],
        "summary": ", ".join(f"{k} 次: 热 {v['warm_step_ms']} / 冷 {v['cold_step_ms']} ms"
                             for k, v in r["loops"].items()),
    }


def fig_inbox(quick: bool, tiny: bool, echo) -> dict:
    from bench.inbox_scale import figure

    r = figure(quick, echo, tiny=tiny)
    small, large = (str(x) for x in r["sizes"])
    worst_p95 = max(r[db][large]["p95_ms"] for db in ("sqlite", "postgresql"))
    worst_ratio = max(r[db]["ratio"] for db in ("sqlite", "postgresql"))
    return {
        "value": worst_p95, "unit": f"ms p95 at {large} open (worst of SQLite/PostgreSQL)", "goal": 20.0,
        "goal_text": f"查询 p95 ≤ 20 ms, 且 {large} 时 ≤ 1.5 × {small} 时",
        "met": worst_p95 <= 20.0 and worst_ratio <= 1.5,
        "baselines": {db: {"p95_small_ms": r[db][small]["p95_ms"], "p95_large_ms": r[db][large]["p95_ms"],
                           "ratio": r[db]["ratio"], "counts_p95_large_ms": r[db][large]["counts_p95_ms"]}
                      for db in ("sqlite", "postgresql")},
        "parameters": {"open_orders": r["sizes"], "completed_tasks": r["completed_tasks"], "filter": r["filter"],
                       "query": "engine.queue(actor, TaskFilter(order_type='repair', sort='customer_name'))"},
        "details": r,
        "summary": "; ".join(f"{db}: {r[db][small]['p95_ms']} → {r[db][large]['p95_ms']} ms (× {r[db]['ratio']})"
                             for db in ("sqlite", "postgresql")),
    }


def fig_http(quick: bool, tiny: bool, echo) -> dict:
    from bench.http_load import figure

    r = figure(quick, echo, tiny=tiny)
    met = r["completions_per_s"] >= 300 and r["p99_ms"] <= 150 and r["errors"] == 0
    return {
        "value": r["completions_per_s"], "unit": "task completions/s", "goal": 300.0,
        "goal_text": "≥ 300 次完成/s, p99 ≤ 150 ms, 除 409 外无错误", "met": met,
        "baselines": {"p99_ms": r["p99_ms"], "p95_ms": r["p95_ms"], "errors": r["errors"],
                      "conflicts_409": r["conflicts_409"], "requests_per_s": r["requests_per_s"],
                      "machine_cpu_busy": r["machine_cpu_busy"]},
        "parameters": {k: r[k] for k in ("seconds", "clients", "web_processes", "gunicorn_threads")},
        "details": r,
        "summary": (f"{r['completions_per_s']} 完成/s ({r['requests_per_s']} 请求/s), p99 {r['p99_ms']} ms, "
                    f"错误 {r['errors']}, 409 {r['conflicts_409']}"),
    }


def fig_timers(quick: bool, tiny: bool, echo) -> dict:
    from bench.timers import figure

    r = figure(quick, echo, tiny=tiny)
    b, s = r["burst"], r["steady"]
    once = b["fired_twice_or_more"] == 0 and b["never_fired"] == 0 and s["fired_twice_or_more"] == 0
    met = b["all_fired"] and b["seconds_to_fire_all"] <= 10 and once and s["lateness_p99_s"] <= 1.0
    return {
        "value": b["seconds_to_fire_all"], "unit": f"s to fire {b['timers']} timers (2 workers)", "goal": 10.0,
        "goal_text": "10,000 个同时到期的定时器 10 s 内全部触发, 无重复; 稳定负载 p99 延迟 ≤ 1 s", "met": met,
        "baselines": {"timers_per_s": b["timers_per_s"], "fired_twice": b["fired_twice_or_more"],
                      "never_fired": b["never_fired"], "steady_lateness_p99_s": s["lateness_p99_s"],
                      "steady_lateness_p50_s": s["lateness_p50_s"]},
        "parameters": {"timers": b["timers"], "workers": 2, "worker_interval_s": r["worker_interval_s"],
                       "steady_rate_per_s": s["rate_per_s"], "steady_seconds": s["seconds"]},
        "details": r,
        "summary": (f"{b['timers']} 个: {b['seconds_to_fire_all']} s ({b['timers_per_s']}/s), 重复 "
                    f"{b['fired_twice_or_more']}; 稳定 p99 延迟 {s['lateness_p99_s']} s"),
    }


def fig_memory(quick: bool, tiny: bool, echo) -> dict:
    from bench.memory import figure

    r = figure(quick, echo, tiny=tiny)
    worst = max(r["web_growth"], r["worker_growth"])
    return {
        "value": round(worst * 100, 1), "unit": f"% RSS growth {r['sizes'][0]} → {r['sizes'][1]} instances (worst)",
        "goal": 10.0, "goal_text": "web 与 worker 的 RSS 从 1k 到 100k 实例增长 ≤ 10 %", "met": worst <= 0.10,
        "baselines": {"web_growth_pct": round(r["web_growth"] * 100, 1),
                      "worker_growth_pct": round(r["worker_growth"] * 100, 1), **{
                          f"rss_at_{k}": {"web_mb": v["web_rss_mb"], "worker_mb": v["worker_rss_mb"]}
                          for k, v in r["readings"].items()}},
        "parameters": {"instances": r["sizes"]},
        "details": r,
        "summary": (f"web {r['readings'][str(r['sizes'][0])]['web_rss_mb']} → "
                    f"{r['readings'][str(r['sizes'][1])]['web_rss_mb']} MiB, worker "
                    f"{r['readings'][str(r['sizes'][0])]['worker_rss_mb']} → "
                    f"{r['readings'][str(r['sizes'][1])]['worker_rss_mb']} MiB"),
    }


def fig_scaleout(quick: bool, tiny: bool, echo) -> dict:
    from bench import http_load, timers

    web = http_load.scale_out(quick, echo, tiny=tiny)
    jobs = timers.scale_out(quick, echo, tiny=tiny)
    web_factor = round(web[2]["completions_per_s"] / max(0.1, web[1]["completions_per_s"]), 2)
    worker_factor = round(jobs[2]["timers_per_s"] / max(0.1, jobs[1]["timers_per_s"]), 2)
    return {
        "value": web_factor, "unit": "× (2 vs 1 web processes)", "goal": None,
        "goal_text": "报告扩展倍数 (无硬性目标)", "met": None,
        "baselines": {"web_1_completions_per_s": web[1]["completions_per_s"],
                      "web_2_completions_per_s": web[2]["completions_per_s"], "web_factor": web_factor,
                      "web_1_machine_cpu": web[1]["machine_cpu_busy"], "web_2_machine_cpu": web[2]["machine_cpu_busy"],
                      "worker_1_timers_per_s": jobs[1]["timers_per_s"], "worker_2_timers_per_s": jobs[2]["timers_per_s"],
                      "worker_factor": worker_factor},
        "parameters": {"cpu_count": os.cpu_count()},
        "details": {"web": web, "workers": jobs},
        "summary": (f"web 1→2 进程: {web[1]['completions_per_s']} → {web[2]['completions_per_s']} 完成/s "
                    f"(× {web_factor}); worker 1→2: {jobs[1]['timers_per_s']} → {jobs[2]['timers_per_s']} 定时器/s "
                    f"(× {worker_factor})"),
    }


RUNNERS: dict[str, Callable[[bool, bool, Callable[[str], None]], dict]] = {
    "throughput": fig_throughput, "history": fig_history, "inbox": fig_inbox, "http": fig_http,
    "timers": fig_timers, "memory": fig_memory, "scaleout": fig_scaleout,
}


# -- the run -------------------------------------------------------------------------------


def run(*, quick: bool = False, tiny: bool = False, only: list[str] | None = None, out_dir: str = HERE,
        echo: Callable[[str], None] = print) -> dict:
    """Run the figures (all, or ``only``); write results.json, RESULTS.md and growth.svg into ``out_dir``."""
    import signal
    import threading

    main_thread = threading.current_thread() is threading.main_thread()
    if main_thread:  # a stopped run still stops its servers (restored afterwards)
        before = signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    try:
        return _run(quick, tiny, only, out_dir, echo)
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, before)


def _run(quick: bool, tiny: bool, only: list[str] | None, out_dir: str, echo: Callable[[str], None]) -> dict:
    from bench.common import machine

    names = list(only) if only else list(FIGURES)
    unknown = [n for n in names if n not in RUNNERS]
    if unknown:
        raise ValueError(f"未知的基准 {', '.join(unknown)}; 可选: {', '.join(FIGURES)}")
    results: dict[str, Any] = {"mode": _mode(quick, tiny), "machine": machine(), "figures": {}}
    previous = _previous(out_dir, results["mode"]) if only else None
    if previous is not None:  # --only: the other figures of the last run of the same mode stay
        results["figures"] = {k: v for k, v in previous["figures"].items() if k not in names}
    started = time.monotonic()
    for i, name in enumerate(names, 1):
        echo(f"==> [{i}/{len(names)}] {TITLES[name]}  ({time.monotonic() - started:.0f}s)")
        t0 = time.monotonic()
        load_before = os.getloadavg()[0]
        try:
            fig = RUNNERS[name](quick, tiny, echo)
        except Exception as exc:  # one broken benchmark still leaves the others' figures
            echo(traceback.format_exc())
            fig = {"value": None, "unit": "", "goal": None, "goal_text": "", "met": False,
                   "error": f"{type(exc).__name__}: {exc}", "summary": f"失败: {type(exc).__name__}: {exc}"}
        fig["title"] = TITLES[name]
        fig["seconds"] = round(time.monotonic() - t0, 1)
        fig["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        # other processes on the machine: the 1-minute load average before and after (cores: machine.cpu_count)
        fig["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        results["figures"][name] = fig
        verdict = {True: "达标", False: "未达标", None: "仅报告"}[fig.get("met")]
        echo(f"    => {fig.get('summary', '')} [{verdict}]")
    results["figures"] = {k: results["figures"][k] for k in FIGURES if k in results["figures"]}
    results["seconds"] = round(time.monotonic() - started, 1) + (previous or {}).get("seconds", 0.0)
    results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    write(results, out_dir)
    echo(f"完成 ({results['seconds']:.0f}s): {os.path.join(out_dir, 'results.json')}, "
         f"{os.path.join(out_dir, 'RESULTS.md')}")
    return results


def _previous(out_dir: str, mode: str) -> dict | None:
    try:
        with open(os.path.join(out_dir, "results.json"), encoding="utf-8") as fh:
            found = json.load(fh)
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) and found.get("mode") == mode and "figures" in found else None


def write(results: dict, out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "results.json"), "w", encoding="utf-8") as fh:
        json.dump(results, fh, ensure_ascii=False, indent=1, default=str)
        fh.write("\n")
    series = growth_series(results)
    with open(os.path.join(out_dir, "growth.svg"), "w", encoding="utf-8") as fh:
        fh.write(svg_chart(series))
    with open(os.path.join(out_dir, "RESULTS.md"), "w", encoding="utf-8") as fh:
        fh.write(markdown(results, series))


def growth_series(results: dict) -> list[dict]:
    """Cost against size: per-step ms against loops (figure 2), query p95 against open orders (figure 3)."""
    out = []
    hist = results["figures"].get("history", {}).get("details")
    if hist:
        for kind, label in (("cold_step_ms", "每步 (冷, 从数据库加载) ms"), ("warm_step_ms", "每步 (热, 缓存) ms")):
            out.append({"label": label, "x_label": "返工循环次数", "points": [(int(k), v[kind]) for k, v in hist.items()]})
    inbox = results["figures"].get("inbox", {}).get("details")
    if inbox:
        for db in ("sqlite", "postgresql"):
            out.append({"label": f"收件箱查询 p95 ms ({db})", "x_label": "未完成工单数",
                        "points": [(int(s), inbox[db][str(s)]["p95_ms"]) for s in inbox["sizes"]]})
    return out


def svg_chart(series: list[dict]) -> str:
    """One small panel per series: cost (y, linear) against size (x, logarithmic)."""
    import math

    colors = ["#c0392b", "#2471a3", "#1e8449", "#7d3c98"]
    w, h, pad = 360, 220, 46
    panels = []
    for i, s in enumerate(series):
        pts = [(x, y) for x, y in s["points"] if y is not None]
        if not pts:
            continue
        xs = [math.log10(max(1, x) + 1) for x, _ in pts]
        ymax = max(y for _, y in pts) * 1.15 or 1
        x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
        px = [pad + (x - x0) / (x1 - x0) * (w - 2 * pad) for x in xs]
        py = [h - pad - y / ymax * (h - 2 * pad) for _, y in pts]
        ox, oy = (i % 2) * w, (i // 2) * h
        color = colors[i % len(colors)]
        parts = [f'<g transform="translate({ox},{oy})">',
                 f'<text x="{w / 2}" y="18" text-anchor="middle" font-size="13">{_esc(s["label"])}</text>',
                 f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#555"/>',
                 f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="#555"/>',
                 f'<text x="{w / 2}" y="{h - 8}" text-anchor="middle" font-size="11">{_esc(s["x_label"])} (对数)</text>',
                 f'<text x="{pad - 4}" y="{pad}" text-anchor="end" font-size="10">{ymax:.3g}</text>',
                 f'<text x="{pad - 4}" y="{h - pad}" text-anchor="end" font-size="10">0</text>',
                 f'<polyline fill="none" stroke="{color}" stroke-width="2" points="'
                 + " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px, py, strict=True)) + '"/>']
        for (x, y), a, b in zip(pts, px, py, strict=True):
            parts.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{color}"/>')
            parts.append(f'<text x="{a:.1f}" y="{h - pad + 14}" text-anchor="middle" font-size="10">{x:,}</text>')
            parts.append(f'<text x="{a:.1f}" y="{b - 7:.1f}" text-anchor="middle" font-size="10">{y:g}</text>')
        parts.append("</g>")
        panels.append("".join(parts))
    rows = max(1, (len(panels) + 1) // 2)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * w}" height="{rows * h}" '
            f'font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>'
            + "".join(panels) + "</svg>\n")


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def text_chart(series: list[dict], width: int = 40) -> list[str]:
    lines = []
    for s in series:
        pts = [(x, y) for x, y in s["points"] if y is not None]
        if not pts:
            continue
        top = max(y for _, y in pts) or 1
        lines.append(f"{s['label']} / {s['x_label']}")
        for x, y in pts:
            lines.append(f"  {x:>9,} | {'█' * max(1, round(y / top * width)):<{width}} {y:g}")
        lines.append("")
    return lines


def markdown(results: dict, series: list[dict]) -> str:
    m = results["machine"]
    out = ["# 派工 paigong 性能基准结果", "",
           f"由 `paigong bench{'' if results['mode'] == 'full' else ' --' + results['mode']}` 生成 "
           f"({results['finished']}, 用时 {results['seconds']:.0f} s, 模式 {results['mode']})。每次运行都会重写本文件。", "",
           "## 机器与版本", "",
           f"- CPU: {m['cpu_count']} × {m['cpu_model']}, 内存 {m['memory_gb']} GB, {m['os']}",
           f"- Python {m['python']}, SQLite {m['sqlite']}, PostgreSQL {m['postgresql']}, "
           f"SpiffWorkflow {m['spiffworkflow']}, SQLAlchemy {m['sqlalchemy']}, gunicorn {m['gunicorn']}, "
           f"psycopg {m['psycopg']}, Flask {m['flask']}", "",
           "## 七个指标", "", "| 指标 | 测得 | 目标 | 是否达标 | 同次运行的对照 |", "| --- | --- | --- | --- | --- |"]
    for name in FIGURES:
        fig = results["figures"].get(name)
        if fig is None:
            continue
        verdict = {True: "✅ 达标", False: "❌ 未达标", None: "— 仅报告"}[fig.get("met")]
        value = "失败" if fig.get("value") is None else f"{fig['value']} {fig.get('unit', '')}"
        out.append(f"| {fig['title']} | {value} | {fig.get('goal_text', '')} | {verdict} | "
                   f"{fig.get('summary', '').replace('|', '/')} |")
    out += ["", "## 代价随规模的增长", "", "![growth](growth.svg)", "", "```", *text_chart(series), "```", ""]
    out += ["## 细节", "",
            "平均负载高于核数时, 本机同时在跑其他进程 (这台机器与其他开发共用): 挂钟时间 (p95/p99, 吞吐) "
            "随之变差, 同次交替测得的比值和 CPU 时间受影响较小。", ""]
    for name in FIGURES:
        fig = results["figures"].get(name)
        if fig is None:
            continue
        out += [f"### {fig['title']}", ""]
        if fig.get("error"):
            out += [f"运行失败: `{fig['error']}`", ""]
        for key in ("baselines", "parameters"):
            if fig.get(key):
                out.append(f"**{'对照' if key == 'baselines' else '参数'}**")
                out.append("")
                for k, v in fig[key].items():
                    out.append(f"- {k}: {json.dumps(v, ensure_ascii=False, default=str)}")
                out.append("")
        load = fig.get("load_average")
        out.append(f"用时 {fig['seconds']} s, 测于 {fig.get('measured_at', '')}"
                   + (f", 期间机器 1 分钟平均负载 {load[0]} → {load[1]} ({m['cpu_count']} 核)" if load else ""))
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="派工 paigong benchmark suite")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, shorter loads")
    parser.add_argument("--tiny", action="store_true", help="seconds: proves the machinery only")
    parser.add_argument("--only", action="append", choices=FIGURES, help="run only this figure (repeatable)")
    parser.add_argument("--out", default=HERE, help="folder for results.json, RESULTS.md, growth.svg")
    args = parser.parse_args(argv)
    run(quick=args.quick, tiny=args.tiny, only=args.only, out_dir=args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
