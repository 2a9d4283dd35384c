#!/usr/bin/env bash
# Regenerate every published number in benchmarks/RESULTS.md from a checkout with the models installed.
#   bash benchmarks/reproduce.sh [CLIPS_DIR]     (default: data/val_clips, made by make_validation_clips.py)
# Needs: pip install -e ".[bench]" and opus-tools. Takes ~30 min on 2 cores (ViSQOL dominates).
set -euo pipefail
cd "$(dirname "$0")/.."
CLIPS=${1:-data/val_clips}
OUT=benchmarks/results
mkdir -p "$OUT"
if [ ! -d "$CLIPS" ]; then
  muzip data data/corpus && python benchmarks/make_validation_clips.py "$CLIPS" --n 16 --seconds 10
fi
# speed on a quiet machine first; the 60-minute memory test for the default model
python benchmarks/speed_memory.py --model mdct --threads 2 --speed-seconds 60 --long-minutes 10
python benchmarks/speed_memory.py --model freq --threads 2 --speed-seconds 60 --long-minutes 60
python benchmarks/speed_memory.py --model time --threads 2 --speed-seconds 60 --long-minutes 0
python benchmarks/coder_compare.py "$CLIPS" --model freq --bitrates 8k,16k,32k,64k
python benchmarks/run_bench.py "$CLIPS" --out runs/bench_all --jobs 2 --force
python benchmarks/transform_ablation.py "$CLIPS" --out benchmarks/results/transform_ablation
python benchmarks/base_layer_bound.py "$CLIPS" --limit 6 --out benchmarks/results/base_layer_bound.json
python benchmarks/quality_scale.py --models mdct --out benchmarks/results/quality_scale-mdct.json
# the mdct tables themselves (6 min on 2 cores; writes a new models/mdct-<sha8>.npz and its report):
#   python -m neuralcodec.transform.fit data/corpus --seconds 15 --per-track 2 --out models --report benchmarks/results/tables_fit.json
# embeddings (issue 9): the head (features 25 min + 5 min training on 2 cores), retrieval on held-out music,
# search speed, and the labelled benchmark (needs the labelled extra, tinysoundfont --no-deps, fluid-soundfont-gm)
#   python -m neuralcodec.embedding.fit_head data/corpus --steps 3000 --threads 2 --out models --report benchmarks/results/embed_head_fit.json
python benchmarks/embed_retrieval.py data/corpus --out benchmarks/results/embed_retrieval.json
python benchmarks/search_speed.py --dim 128 -o benchmarks/results/search_speed_128.json
python benchmarks/labelled/render.py data/labelled && python benchmarks/labelled/evaluate.py data/labelled
# scaling out (issue 11): local pool vs Ray, 1 vs 2 workers
python benchmarks/scale_throughput.py
python benchmarks/make_results.py runs/bench_all/results.json --manifest models/manifest.json
