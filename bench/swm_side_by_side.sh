#!/usr/bin/env bash
# stable-worldmodel's LeWM or PLDM, trained by its own script on the same logs as our UR5e default (data/ogb_cube from
# bench/ogbench_cube.sh step 1) and planned by its own CEM in our vjepa_ac/OGBenchCube-v0 on the same seeds as our
# rows in docs/benchmarks.md. Their code is not part of this project: pass a checkout of
# github.com/galilai-group/stable-worldmodel by path. It imports torchvision, which needs PyPI's CUDA build of torch
# (it runs on the CPU), so it gets an environment of its own, with this package installed beside it.
# Usage: [MODEL=lewm] [LOGS=data/ogb_cube] [BATCHES=240] [ENV_ID=vjepa_ac/OGBenchCube-v0] bash bench/swm_side_by_side.sh SWM_SRC [SEED]
#   SWM_SRC: the stable-worldmodel checkout (measured with commit addbab4, 2026-12)
#   SEED: the first of the 50 evaluation seeds (the reported tables used 42000 with the 500 logs, 45000 with the 1,000)
#   LOGS: our logs to train on (data/ogb_cube1k, the 1,000 logs the policy of 2026-12-04 learned from, with BATCHES=460)
#   ENV_ID: the env planned in; Push-T: LOGS=data/pusht ENV_ID=vjepa_ac/PushT-v0 (bench/pusht.sh step 1's logs)
#   MODEL: lewm (their lewm.py and lewm.yaml) or pldm (their pldm.py and pldm.yaml: its VICReg-style losses and
#     inverse-dynamics head, three context frames in training); both take the same CPU overrides below. DINO-WM's
#     prejepa needs DINOv2's weights from the Hugging Face hub, which this machine cannot reach.
set -euo pipefail
SWM_SRC=$(realpath "$1")
SEED=${2:-42000}
HERE=$(cd "$(dirname "$0")/.." && pwd)
VENV=${SWM_VENV:-$HERE/.swm-venv}
export STABLEWM_HOME=${STABLEWM_HOME:-$HERE/runs/swm_home}
export MUJOCO_GL=${MUJOCO_GL:-egl}
# 1. their environment: torch and torchvision first (on x86_64 the pair that PyPI builds together), then their
#    package with its trainers, then ours (its torch range admits 2.14)
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q torch==2.14.1 torchvision==0.29.1
  "$VENV/bin/pip" install -q -e "$SWM_SRC[train,format]" h5py
  # ours with the bench extra's two packages: OGBench, and gym-pusht (Push-T's env) without its opencv-python 4,
  # which would shadow the opencv-python-headless 5 that stable-worldmodel brings (gym-pusht only resizes with it)
  "$VENV/bin/pip" install -q -e "$HERE" ogbench==1.2.2
  "$VENV/bin/pip" install -q --no-deps gym-pusht==0.1.8 "pymunk>=6.6,<7" "pygame>=2.5.2,<2.7" "shapely>=2,<3" cffi pycparser
fi
PY="$VENV/bin/python"
# 2. our logs in their HDF5 layout (pixels, action, proprio; no simulator-only column)
LOGS=$(realpath "${LOGS:-$HERE/data/ogb_cube}")
MODEL=${MODEL:-lewm}
case "$MODEL" in lewm|pldm) ;; *) echo "MODEL must be lewm or pldm, got '$MODEL'" >&2; exit 2;; esac
NAME=${MODEL}_$(basename "$LOGS")
H5=$HERE/data/$(basename "$LOGS")_swm.h5
[ -f "$H5" ] || "$PY" "$HERE/bench/swm_export.py" "$LOGS" "$H5"
# 3. their trainer with its own config ($MODEL.yaml) except what a 2-core CPU and our logs need: the CPU in float32; our 128-px
#    frames with 16-px patches (their 224 px with 14 would cost 3.1x as much per frame); frameskip 1 (our action
#    already spans their 5-step block); batch 64; one epoch cut at BATCHES batches: 240 took 21 minutes here (5.2 s a batch,
#    2026-12-03; 0.92 of an epoch); our UR5e models took 35 from the same logs (encoding 2, predictor 20, heads 10,
#    policy 3); an epoch is 260 batches, so the same CPU time (about 400) also needs trainer.max_epochs=2
BATCHES=${BATCHES:-240}
#    Their pldm.py (at addbab4) logs the run id through `logger` before `run` assigns its own local `logger` (the
#    Lightning logger), which raises UnboundLocalError before training starts; it runs from a copy beside it, in their
#    checkout, whose one changed line logs through the `logging` module instead.
SCRIPT=$MODEL.py
if [ "$MODEL" = pldm ]; then
  SCRIPT=pldm_run_id_fix.py
  sed "s/^    logger\.info(f'\(.*Run ID.*\)')$/    logging.info(f'\1')/" "$SWM_SRC/scripts/train/pldm.py" > "$SWM_SRC/scripts/train/$SCRIPT"
  [ "$(diff "$SWM_SRC/scripts/train/pldm.py" "$SWM_SRC/scripts/train/$SCRIPT" | grep -c '^[<>]')" = 2 ] \
    || { echo "their pldm.py is not the one this fix was written for (addbab4): check its run() by hand" >&2; exit 2; }
fi
(cd "$SWM_SRC/scripts/train" && "$PY" "$SCRIPT" data=ogb data.dataset.name="$H5" \
  data.dataset.frameskip=1 'data.dataset.keys_to_load=[pixels,action]' 'data.dataset.keys_to_cache=[action]' \
  '~data.dataset.keys_to_merge' img_size=128 patch_size=16 trainer.accelerator=cpu trainer.precision=32 \
  trainer.devices=1 trainer.max_epochs=1 +trainer.limit_train_batches=$BATCHES +trainer.limit_val_batches=10 \
  loader.batch_size=64 num_workers=1 loader.pin_memory=false loader.prefetch_factor=2 \
  output_model_name="$NAME" subdir="$NAME")
CKPT=$(ls -t "$STABLEWM_HOME/checkpoints/$NAME"/weights_epoch_*.pt | head -1)
# 4. their CEM (300 x 30, top 30, horizon 5, receding 5) on the model, in our env, the protocol's 50 episodes
"$PY" "$HERE/bench/swm_plan.py" "$CKPT" "$H5" --seed "$SEED" --episodes 50 --workers 2 \
  --env-id "${ENV_ID:-vjepa_ac/OGBenchCube-v0}" --out "$HERE/runs/swm_$MODEL/${NAME}_$SEED.json"
