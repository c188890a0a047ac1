#!/usr/bin/env bash
# The GPU measurements of the planning-speed issue, ready to run on a machine with CUDA (an H100 for the aims:
# >= 70 % of the bf16 matmul peak in the planning loop, <= 1.8 s per action at 800 x 10 x H1, >= 2x the official code).
# Usage: bash bench/gpu_commands.sh [OFFICIAL_CHECKOUT]   (a clone of facebookresearch/vjepa2 for the side-by-side rows)
set -euo pipefail
OFFICIAL=${1:-}
nvidia-smi --query-gpu=name,memory.total --format=csv
pytest -q tests/test_cuda.py                                          # correctness on the GPU
for setting in "800 10 1" "400 10 2" "200 4 1" "100 3 1"; do           # the paper's, the notebook's, two cheaper budgets
  set -- $setting
  python bench/planning_speed.py --size official --samples $1 --iterations $2 --horizon $3 --dtype bfloat16 --naive-samples 2
  python bench/planning_speed.py --size official --samples $1 --iterations $2 --horizon $3 --dtype bfloat16 --naive-samples 2 --compile
  if [ -n "$OFFICIAL" ]; then
    python bench/planning_speed.py --official-src "$OFFICIAL" --size official --samples $1 --iterations $2 --horizon $3 --dtype bfloat16 --repeats 2
  fi
done
python bench/encoder_speed.py --clips 8 --frames 2                     # ViT-L and ViT-g frames/s in bf16
python -c "import torch; print('peak memory', torch.cuda.max_memory_allocated() / 2**30, 'GiB')"
