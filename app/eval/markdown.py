"""The report as Markdown: headline table per policy, per category, router, latency."""

from __future__ import annotations

from app.eval.calibrate import env_lines
from app.eval.judge import CRITERIA
from app.eval.records import LATENCY_PARTS

HEADLINE = (
    ("retrieval_hit_at_k", "hit@k"),
    ("mrr", "MRR"),
    ("fact_recall", "fact recall"),
    ("citation_precision", "citation precision"),
    ("abstention_accuracy", "abstention acc."),
    ("false_abstention_rate", "false abstention"),
    ("quality", "quality"),
    ("escalation_rate", "escalation rate"),
    ("cost_usd", "cost $"),
    ("failed", "failed"),
)


def _v(x: object) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:.3f}"
    return str(x)


def _ms(x: float | None) -> str:
    return "—" if x is None else f"{x:,.0f}" if x >= 10 else f"{x:.1f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def _headline(report: dict) -> list[str]:
    rows = [[p, *(_v(s["overall"][k]) for k, _ in HEADLINE)] for p, s in report["policies"].items()]
    return _table(["policy", *(label for _, label in HEADLINE)], rows)


def _categories(report: dict) -> list[str]:
    rows = []
    for p, s in report["policies"].items():
        for cat, c in s["by_category"].items():
            rows.append([p, cat, str(c["cases"]), *(_v(c[k]) for k, _ in HEADLINE[:8])])
    return _table(["policy", "category", "n", *(label for _, label in HEADLINE[:8])], rows)


def _latency(report: dict) -> list[str]:
    rows = []
    for part in LATENCY_PARTS:
        cells = []
        for s in report["policies"].values():
            v = s["overall"]["latency_ms"][part]
            cells.append(f"{_ms(v['p50'])} / {_ms(v['p95'])}")
        rows.append([part, *cells])
    return _table(["step (ms, p50 / p95)", *report["policies"]], rows)


def _judge(report: dict) -> list[str]:
    rows = [
        [
            p,
            *(
                _v((s["overall"]["judge"] or {}).get(k))
                for k in ("coherence", "factuality", "concision")
            ),
        ]
        for p, s in report["policies"].items()
    ]
    return _table(["policy", *CRITERIA], rows)


def _router(report: dict) -> list[str]:
    r = report["router"]
    lines = [
        f"- AUROC of draft confidence vs draft correctness: {_v(r['auroc'])}",
        f"- share of always-large quality kept by `auto`: {_v(r['quality_retained'])}",
        f"- cost of `auto` vs `always`: {_v(r['cost_ratio_vs_always'])}"
        " (— when the emulated prices are zero)",
        f"- large-model calls of `auto` vs `always`: {_v(r['large_calls_ratio_vs_always'])}",
        "",
    ]
    sweep = [
        [_v(p["threshold"]), _v(p["escalation_rate"]), _v(p["quality"]), _v(p["cost_usd"])]
        for p in r["threshold_sweep"]
    ]
    if sweep:
        lines += _table(["ESCALATE_BELOW", "escalation rate", "quality", "cost $"], sweep)
    if "calibration" in r:
        lines += ["", "Calibration:", "", "```", *env_lines(r["calibration"]), "```"]
    return lines


def render(report: dict, charts: list[str]) -> str:
    m = report["meta"]
    out = [
        "# Evaluation report",
        "",
        f"{report['cases']} cases from `{m['golden']}`, knowledge `{m['knowledge']}`; endpoint "
        f"`{m['endpoint']}`, draft `{m['draft_model']}`, escalation `{m['escalation_model']}`; "
        f"{m['machine']}; {m['started']}; {m['seconds']:.0f} s.",
        "",
        "## Per policy",
        "",
        *_headline(report),
        "",
        "## Per category",
        "",
        *_categories(report),
        "",
        "## Latency",
        "",
        *_latency(report),
        "",
        "## Router",
        "",
        *_router(report),
        "",
    ]
    if any(s["overall"]["judge"] for s in report["policies"].values()):
        out += [f"## Judge ({m.get('judge_prompt_version')})", "", *_judge(report), ""]
    if report["failed"]:
        out += ["## Failed cases", "", ", ".join(report["failed"]), ""]
    out += [f"![{c}]({c})" for c in charts]
    return "\n".join(out) + "\n"
