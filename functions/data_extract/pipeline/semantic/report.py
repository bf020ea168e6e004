"""The stage's files: ``semantic_summary.json`` (always), the report (json | csv | html) and the similarity graph
(json | csv | dot). Names are relative to the job's ``semantic/`` folder.

The HTML report is one self-contained page (inline CSS and an inline SVG histogram, no script, no external
resource) that a person can read: the numbers, the topics, the clusters with their terms and files, the
duplicate groups with the duplicated texts side by side, and the quality distribution. Every text from the
documents is HTML-escaped.
"""

from __future__ import annotations

import csv
import html
import io
import json
from typing import Any

from data_extract.pipeline.semantic.types import SemanticAnalysis, SemanticArtifact, SemanticChunk, SemanticOptions

SUMMARY_NAME = "semantic_summary.json"
REPORT_NAME = "semantic_report"
GRAPH_NAME = "similarity_graph"
_CONTENT_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "dot": "text/vnd.graphviz; charset=utf-8",
}
HTML_GROUPS = 30
HTML_TEXT_CHARS = 1500
HTML_CLUSTERS = 40
HTML_TOPICS = 15


def render_artifacts(
    analysis: SemanticAnalysis,
    chunks: list[SemanticChunk],
    edges: list[tuple[str, str, float]],
    options: SemanticOptions,
) -> list[SemanticArtifact]:
    summary = analysis.summary
    body = json.dumps(summary, ensure_ascii=False).encode("utf-8")
    artifacts = [SemanticArtifact(SUMMARY_NAME, "Semantic Summary", "summary", "json", body, _CONTENT_TYPES["json"])]
    if options.report:
        fmt = options.report_format
        if fmt == "json":
            data = body
        elif fmt == "csv":
            data = _report_csv(summary)
        else:
            data = _report_html(summary, chunks, analysis.chunk_quality)
        artifacts.append(
            SemanticArtifact(f"{REPORT_NAME}.{fmt}", "Semantic Report", "report", fmt, data, _CONTENT_TYPES[fmt])
        )
    if options.export_graph:
        fmt = options.graph_format
        data = _graph(edges, chunks, summary, options, fmt)
        artifacts.append(
            SemanticArtifact(f"{GRAPH_NAME}.{fmt}", "Similarity Graph", "graph", fmt, data, _CONTENT_TYPES[fmt])
        )
    return artifacts


def _edge_type(weight: float, options: SemanticOptions) -> str:
    return "duplicate" if weight >= options.duplicate_threshold - 1e-6 else "related"


def _graph(
    edges: list[tuple[str, str, float]],
    chunks: list[SemanticChunk],
    summary: dict[str, Any],
    options: SemanticOptions,
    fmt: str,
) -> bytes:
    if fmt == "json":
        in_graph = {e[0] for e in edges} | {e[1] for e in edges}
        nodes = [{"id": c.chunk_id, "source_file": c.source_file} for c in chunks if c.chunk_id in in_graph]
        payload = {
            "nodes": nodes,
            "edges": [{"source": s, "target": t, "weight": w, "type": _edge_type(w, options)} for s, t, w in edges],
            "statistics": summary["similarity"]["statistics"],
        }
        return json.dumps(payload, ensure_ascii=False).encode("utf-8")
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["source", "target", "type", "weight"])
        for s, t, w in edges:
            writer.writerow([s, t, _edge_type(w, options), f"{w:.6f}"])
        return out.getvalue().encode("utf-8")
    lines = ["graph SimilarityGraph {", "  rankdir=LR;", "  node [shape=box];"]
    for s, t, w in edges:
        style = "bold" if _edge_type(w, options) == "duplicate" else "solid"
        lines.append(f'  "{_dot(s)}" -- "{_dot(t)}" [weight={w:.4f}, label="{w:.2f}", style={style}];')
    lines.append("}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def _dot(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _report_csv(summary: dict[str, Any]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    out.write("# Summary\n")
    writer.writerow(["metric", "value"])
    for key, value in summary["summary"].items():
        writer.writerow([key, value])
    for key, value in summary["similarity"]["statistics"].items():
        writer.writerow([f"similarity_{key}", ";".join(value) if isinstance(value, list) else value])
    out.write("\n# Quality Distribution\n")
    writer.writerow(["flag", "count"])
    for flag, count in summary["quality"]["distribution"].items():
        writer.writerow([flag, count])
    out.write("\n# Topics\n")
    writer.writerow(["topic_id", "terms"])
    for topic, terms in summary["topics"].items():
        writer.writerow([topic, " ".join(terms)])
    out.write("\n# Duplicate Groups\n")
    writer.writerow(["group_id", "size", "members"])
    for index, group in enumerate(summary["similarity"]["duplicate_groups"]):
        writer.writerow([index, len(group), ";".join(group)])
    out.write("\n# Similar Pairs\n")
    writer.writerow(["chunk_id_1", "chunk_id_2", "similarity"])
    for a, b, s in summary["similarity"]["similar_pairs"]:
        writer.writerow([a, b, s])
    out.write("\n# Cluster Assignments\n")
    writer.writerow(["document_index", "chunk_id", "cluster_id"])
    clusters = summary["clusters"]
    for index, (chunk_id, cluster) in enumerate(zip(clusters["chunk_ids"], clusters["assignments"], strict=True)):
        writer.writerow([index, chunk_id, cluster])
    return out.getvalue().encode("utf-8")


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1f2933;background:#f5f7fa}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 10px;border-bottom:2px solid #d9e2ec;\
padding-bottom:4px}
.cards{display:flex;flex-wrap:wrap;gap:12px}.card{background:#fff;border:1px solid #d9e2ec;border-radius:6px;
padding:10px 14px;min-width:130px}.card b{display:block;font-size:22px}.card span{font-size:12px;color:#52606d}
table{border-collapse:collapse;background:#fff;width:100%;font-size:13px}th,td{border:1px solid #d9e2ec;
padding:5px 8px;text-align:left;vertical-align:top}th{background:#e4e7eb}.term{display:inline-block;
background:#e0e8f9;border-radius:3px;padding:1px 6px;margin:1px}.group{background:#fff;border:1px solid #d9e2ec;
border-radius:6px;margin:10px 0;padding:10px}.side{display:flex;gap:10px}.side>div{flex:1;min-width:0}
.side pre{white-space:pre-wrap;word-wrap:break-word;background:#f0f4f8;padding:8px;border-radius:4px;
font-size:12px;max-height:180px;overflow:hidden;margin:4px 0}.muted{color:#52606d;font-size:12px}
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _histogram_svg(histogram: dict[str, Any]) -> str:
    counts = histogram["counts"]
    edges = histogram["bin_edges"]
    width, height, pad = 520, 200, 30
    top = max(counts) if counts and max(counts) else 1
    bar = (width - 2 * pad) / max(1, len(counts))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 40}" role="img" '
        f'aria-label="Quality score histogram">',
        f'<line x1="{pad}" y1="{height}" x2="{width - pad}" y2="{height}" stroke="#52606d"/>',
    ]
    for index, count in enumerate(counts):
        h = (height - 20) * count / top
        x = pad + index * bar
        parts.append(
            f'<rect x="{x + 2:.1f}" y="{height - h:.1f}" width="{bar - 4:.1f}" height="{h:.1f}" '
            f'fill="#3e7bfa"><title>{edges[index]:.1f}-{edges[index + 1]:.1f}: {count}</title></rect>'
        )
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{height - h - 4:.1f}" font-size="11" text-anchor="middle">{count}</text>'
        )
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{height + 14}" font-size="10" '
            f'text-anchor="middle">{edges[index]:.1f}</text>'
        )
    parts.append(f'<text x="{width / 2}" y="{height + 34}" font-size="11" text-anchor="middle">quality score</text>')
    parts.append("</svg>")
    return "".join(parts)


def _report_html(
    summary: dict[str, Any], chunks: list[SemanticChunk], chunk_quality: dict[str, dict[str, Any]]
) -> bytes:
    s = summary["summary"]
    out = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Semantic report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Semantic analysis report</h1>",
        f'<div class="muted">{_esc(s["total_chunks"])} chunks from {_esc(len({c.source_file for c in chunks}))} '
        f"files</div>",
    ]
    out.extend(_html_cards(summary))
    out.extend(_html_topics(summary["topics"]))
    out.extend(_html_clusters(summary["clusters"]["details"]))
    out.extend(_html_quality(summary, chunks, chunk_quality))
    out.extend(_html_duplicates(summary["similarity"]["duplicate_groups"], {c.chunk_id: c for c in chunks}))
    out.append("<h2>Similarity</h2><table><tr><th>Statistic</th><th>Value</th></tr>")
    for key, value in summary["similarity"]["statistics"].items():
        out.append(f"<tr><td>{_esc(key)}</td><td>{_esc(value)}</td></tr>")
    out.append("</table></body></html>")
    return "".join(out).encode("utf-8")


def _html_cards(summary: dict[str, Any]) -> list[str]:
    s = summary["summary"]
    silhouette = summary["clusters"]["silhouette_score"]
    cards = [
        ("Chunks", s["total_chunks"]),
        ("Analysed", s["analysed_chunks"]),
        ("Vocabulary", s["vocabulary_size"]),
        ("Topics", s["n_components"]),
        ("Clusters", s["n_clusters"]),
        ("Duplicate groups", len(summary["similarity"]["duplicate_groups"])),
        ("Related pairs", summary["similarity"]["statistics"]["n_similar_pairs"]),
        ("Mean quality", summary["quality"]["mean_score"]),
        ("Silhouette", silhouette if silhouette is not None else "n/a"),
    ]
    return [
        '<div class="cards">',
        *(f'<div class="card"><b>{_esc(v)}</b><span>{_esc(k)}</span></div>' for k, v in cards),
        "</div>",
    ]


def _html_topics(topics: dict[str, list[str]]) -> list[str]:
    out = ["<h2>Topics</h2><table><tr><th>#</th><th>Top terms</th></tr>"]
    for topic, terms in list(topics.items())[:HTML_TOPICS]:
        out.append(
            f"<tr><td>{_esc(topic)}</td><td>"
            + "".join(f'<span class="term">{_esc(t)}</span>' for t in terms)
            + "</td></tr>"
        )
    out.append("</table>")
    if len(topics) > HTML_TOPICS:
        out.append(f'<p class="muted">{len(topics) - HTML_TOPICS} more topics in semantic_summary.json.</p>')
    return out


def _html_clusters(details: list[dict[str, Any]]) -> list[str]:
    out = ["<h2>Clusters</h2><table><tr><th>Cluster</th><th>Chunks</th><th>Terms</th><th>Files</th></tr>"]
    for detail in details[:HTML_CLUSTERS]:
        out.append(
            f"<tr><td>{detail['cluster_id']}</td><td>{detail['size']}</td><td>"
            + "".join(f'<span class="term">{_esc(t)}</span>' for t in detail["top_terms"])
            + f"</td><td>{_esc(', '.join(detail['source_files'][:8]))}</td></tr>"
        )
    out.append("</table>")
    return out


def _html_quality(
    summary: dict[str, Any], chunks: list[SemanticChunk], chunk_quality: dict[str, dict[str, Any]]
) -> list[str]:
    """The quality distribution, its histogram, and the first chunks flagged for review or low."""
    q = summary["quality"]
    out = ['<h2>Quality</h2><div class="cards">']
    out.extend(
        f'<div class="card"><b>{_esc(v)}</b><span>{_esc(k)}</span></div>' for k, v in q["distribution"].items()
    )
    out.append(
        f'<div class="card"><b>{_esc(q["below_min_quality"])}</b><span>below minimum quality '
        f"({_esc(summary['config']['quality_min_score'])})</span></div></div>"
    )
    out.append(_histogram_svg(q["histogram"]))
    flagged = [c for c in chunks if chunk_quality[c.chunk_id]["quality_flag"] in ("review", "low")][:10]
    if flagged:
        out.append("<table><tr><th>Chunk</th><th>File</th><th>Score</th><th>Flag</th><th>Text</th></tr>")
        for chunk in flagged:
            info = chunk_quality[chunk.chunk_id]
            out.append(
                f"<tr><td>{_esc(chunk.chunk_id)}</td><td>{_esc(chunk.source_file)}</td>"
                f"<td>{info['quality_score']}</td><td>{_esc(info['quality_flag'])}</td>"
                f"<td>{_esc(chunk.text[:200])}</td></tr>"
            )
        out.append("</table>")
    return out


def _html_duplicates(groups: list[list[str]], by_id: dict[str, SemanticChunk]) -> list[str]:
    """Each duplicate group with its first two texts side by side."""
    out = ["<h2>Duplicate groups</h2>"]
    if not groups:
        out.append('<p class="muted">No duplicates at the duplicate threshold.</p>')
    for number, group in enumerate(groups[:HTML_GROUPS], start=1):
        files = sorted({by_id[m].source_file for m in group if m in by_id})
        out.append(
            f'<div class="group"><b>Group {number}</b> <span class="muted">{len(group)} chunks in '
            f'{_esc(", ".join(files))}</span><div class="side">'
        )
        for member in group[:2]:
            chunk = by_id.get(member)
            text = chunk.text if chunk else ""
            clipped = text[:HTML_TEXT_CHARS] + ("…" if len(text) > HTML_TEXT_CHARS else "")
            out.append(
                f'<div><div class="muted">{_esc(chunk.source_file if chunk else "")} · '
                f"{_esc(member)}</div><pre>{_esc(clipped)}</pre></div>"
            )
        out.append("</div>")
        if len(group) > 2:
            out.append(
                f'<div class="muted">also: {_esc(", ".join(group[2:12]))}{" …" if len(group) > 12 else ""}</div>'
            )
        out.append("</div>")
    if len(groups) > HTML_GROUPS:
        out.append(f'<p class="muted">{len(groups) - HTML_GROUPS} more groups in semantic_summary.json.</p>')
    return out
