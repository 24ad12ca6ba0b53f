# ruff: noqa: E501 - HTML template lines
"""The summary page's Jinja2 template: one self-contained HTML file (inline CSS and SVG, no scripts)."""

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>SyncHub summary</title>
<style>
 body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em; color: #212529; }
 h1 { margin-bottom: 0; } h2 { margin-top: 2em; border-bottom: 1px solid #dee2e6; }
 .muted { color: #6c757d; } .empty { color: #6c757d; font-style: italic; }
 .chart text { font: 12px system-ui, sans-serif; fill: #343a40; } .chart .axis { fill: #6c757d; }
 table { border-collapse: collapse; margin: 0.5em 0; } td, th { padding: 2px 8px; text-align: right; }
 th { border-bottom: 1px solid #adb5bd; } td.l, th.l { text-align: left; } tr.failed td { color: #c92a2a; }
 .legend span { display: inline-block; margin-right: 1em; }
 .legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
 .entity { display: inline-block; vertical-align: top; margin-right: 2em; }
</style>
</head>
<body>
<h1>SyncHub summary</h1>
<p class="muted">Generated {{ data.generated_at }} from the store; the charts cover the latest {{ data.runs }} runs.</p>
{% if data.data_docs %}
<p>Great Expectations Data Docs:
{% for label, href in data.data_docs %}<a href="{{ href }}">{{ label }}</a>{% if not loop.last %}, {% endif %}{% endfor %}
</p>
{% endif %}

<h2 id="dq">Pass rate per expectation</h2>
{% if data.expectations %}
<p class="muted">Share of checked records that passed, over {{ data.dq_runs|length }} validation run(s); one cell per run.</p>
{{ pass_rates }}
<table id="dq-table">
<tr><th class="l">entity</th><th class="l">suite</th><th class="l">system</th><th class="l">expectation</th>
<th>checked</th><th>failed</th><th>pass rate</th></tr>
{% for r in data.expectations %}<tr{% if r.failed %} class="failed"{% endif %}><td class="l">{{ r.entity }}</td>
<td class="l">{{ r.suite }}</td><td class="l">{{ r.system or "" }}</td><td class="l">{{ r.expectation }}</td>
<td>{{ r.checked }}</td><td>{{ r.failed }}</td><td>{{ "%.1f"|format(r.pass_rate * 100) }}%</td></tr>
{% endfor %}</table>
{% else %}
<p class="empty" id="dq-empty">No data-quality results yet: the quality step has not validated any run.</p>
{% endif %}

<h2 id="outcomes">Records per outcome</h2>
{% if data.totals %}
<p class="muted">Summed over each entity's latest {{ data.runs }} runs.</p>
<div class="legend">{% for name, colour in outcome_colours.items() %}<span><i style="background:{{ colour }}"></i>{{ name }}</span>{% endfor %}</div>
{% for entity, chart in outcome_charts %}<div class="entity"><h3>{{ entity }}</h3>{{ chart }}</div>{% endfor %}
<table id="runs-table">
<tr><th>run</th><th class="l">job</th><th class="l">started (UTC)</th><th class="l">status</th>
{% for name in outcomes %}<th>{{ name }}</th>{% endfor %}<th class="l">error</th></tr>
{% for run in data.outcomes %}<tr{% if run.status == "failed" %} class="failed"{% endif %}><td>{{ run.run_id }}</td>
<td class="l">{{ run.job }}</td><td class="l">{{ run.started_at }}</td><td class="l">{{ run.status }}</td>
{% for name in outcomes %}<td>{{ run.counts[name] }}</td>{% endfor %}<td class="l">{{ (run.error or "")[:300] }}</td></tr>
{% endfor %}</table>
{% else %}
<p class="empty" id="outcomes-empty">No runs yet: run a sync (<code>synchub sync customer</code>) first.</p>
{% endif %}

<h2 id="scores">Match scores</h2>
<div class="legend">{% for name, colour in score_colours.items() %}<span><i style="background:{{ colour }}"></i>{{ name }}</span>{% endfor %}</div>
{% for hist, chart in histograms %}
<div class="entity" id="scores-{{ hist.entity }}"><h3>{{ hist.entity }}</h3>
<p class="muted">{{ hist.total }} scored pair(s); review at or above {{ "%.2f"|format(hist.low) if hist.low is not none else "-" }},
linked automatically at or above {{ "%.2f"|format(hist.high) if hist.high is not none else "-" }}.</p>
{% if hist.total %}{{ chart }}{% else %}<p class="empty">No match decisions for {{ hist.entity }} yet.</p>{% endif %}
</div>
{% else %}
<p class="empty" id="scores-empty">No entity is matched yet.</p>
{% endfor %}
</body>
</html>
"""
