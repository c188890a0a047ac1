#!/usr/bin/env bash
# OGBench's single cube under stable-worldmodel's protocol (vjepa_ac/OGBenchCube-v0), from nothing to the table in
# docs/benchmarks.md: the oracle's logs, features, the UR5e's predictor and label-free energy, then the protocol's
# 50 episodes per row and per visual factor of variation. Every step is seeded; run from an empty folder with
# `pip install ".[bench]"`. Times on a 2-core CPU: collection 20 + 20 + 2 x 25 min, encoding 2 + 4 + 2 x 4 min, predictor
# 20 min, heads 10 min, policy 5 min, each 50-episode row 1-4 min.
# Usage: bash bench/ogbench_cube.sh [SEED]   (SEED: the first of the 50 evaluation seeds; the reported table used 42000)
set -euo pipefail
SEED=${1:-42000}
export MUJOCO_GL=${MUJOCO_GL:-egl}
# 1. 500 logs of OGBench's Markov oracle carrying the cube to random targets (its data collection, noise 0.1),
#    40 steps of ours each (200 OGBench steps, its episode length), 128 px, shadows off
vjepa-ac collect env=ogbench_cube policy=play episodes=500 seed=40000 out=data/ogb_cube workers=2 env.max_episode_steps=40 \
  +env.kwargs.eval_budget=200 +env.kwargs.terminate_at_goal=false +env.kwargs.render_goal=false
# 2. features through the shipped encoder (the Panda's, frozen: it never saw a UR5e frame)
vjepa-ac encode dataset=data/ogb_cube mapping=ur5e_sim encoder=default out=features_ogb
F=features_ogb/e620523bcf7256ff
# 3. predictor fine-tuned from the Panda's; readout of the robot's own state; temporal distance on real and imagined frames
vjepa-ac train dataset=data/ogb_cube mapping=ur5e_sim features=$F out=runs/pred_ur5e steps=2000 batch_size=16 frames=4 seed=0 init=default
vjepa-ac train-head dataset=data/ogb_cube mapping=ur5e_sim features=$F steps=3000 export_dtype=float16 out=runs/ur5e_head
vjepa-ac train-distance dataset=data/ogb_cube mapping=ur5e_sim features=$F predictor=runs/pred_ur5e/predictor imagined_share=0.5 \
  steps=4000 export_dtype=float16 out=runs/ur5e_dist
# 3b. the goal-conditioned policy (2026-12-04) learns from 1,000 logs: the same 500 and 500 more of the same seeded
#     collection (episode i is always seed 40000 + i), and also learns where the cube lies now and in the goal, read off
#     the hand's grasps (training/grasp_track.py; no cube label): 20 min more collection, 4 encoding, 4 training
[ -d data/ogb_cube1k ] || cp -r data/ogb_cube data/ogb_cube1k
vjepa-ac collect env=ogbench_cube policy=play episodes=1000 seed=40000 out=data/ogb_cube1k workers=2 env.max_episode_steps=40 \
  +env.kwargs.eval_budget=200 +env.kwargs.terminate_at_goal=false +env.kwargs.render_goal=false
vjepa-ac encode dataset=data/ogb_cube1k mapping=ur5e_sim encoder=default out=features_ogb1k
# 3c. and 2,000 logs with the looks varied at each reset (camera, light, cube and floor colours, from ranges without
#     the step-5 test values): each factor drawn at a chance of 0.5, then 0.8; 2 x 25 min collection, 2 x 4 encoding
vjepa-ac collect env=ogbench_cube policy=play episodes=1000 seed=41000 out=data/ogb_cube_look workers=2 env.max_episode_steps=40 \
  +env.kwargs.eval_budget=200 +env.kwargs.terminate_at_goal=false +env.kwargs.render_goal=false +env.kwargs.randomize_look=true
vjepa-ac collect env=ogbench_cube policy=play episodes=1000 seed=60000 out=data/ogb_cube_look2 workers=2 env.max_episode_steps=40 \
  +env.kwargs.eval_budget=200 +env.kwargs.terminate_at_goal=false +env.kwargs.render_goal=false +env.kwargs.randomize_look=true \
  +env.kwargs.look_share=0.8
vjepa-ac encode dataset=data/ogb_cube_look mapping=ur5e_sim encoder=default out=features_ogb_look
vjepa-ac encode dataset=data/ogb_cube_look2 mapping=ur5e_sim encoder=default out=features_ogb_look2
vjepa-ac train-proposal kind=policy dataset=data/ogb_cube1k mapping=ur5e_sim features=features_ogb1k/e620523bcf7256ff max_gap=10 \
  'extra_datasets=[data/ogb_cube_look,data/ogb_cube_look2]' \
  'extra_features=[features_ogb_look/e620523bcf7256ff,features_ogb_look2/e620523bcf7256ff]' \
  object_weight=1.0 out=runs/ur5e_pol steps=8000 export_dtype=float16
# (the shipped weights/ur5e are these four runs' predictor, distance, head and proposal folders; to evaluate fresh ones,
#  copy them there, or pass world_model=, energy.distance=, energy.head=, agent.proposal= with their paths)
# 4. the protocol: 50 episodes per row (stable-worldmodel's num_eval), the shipped UR5e default (weights/ur5e) and its baselines
vjepa-ac table 'tasks=[cube_single]' 'rows=[default+cem,nothing-moves+cem,default/policy,random,expert]' episodes=50 base.seed=$SEED \
  base.workers=2 base.threads=1 out=runs/ogb_table
# 5. robustness: each visual factor of variation at evaluation only
for factor in camera_yaw=10 light=0.5 'cube_color=[0.1,0.8,0.1]' 'floor_color=[0.6,0.6,0.6]'; do
  name=${factor%%=*}
  vjepa-ac eval env=ogbench_cube "+env.kwargs.$factor" episodes=50 seed=$SEED workers=2 threads=1 out="runs/ogb_shift/$name/default+cem"
  vjepa-ac eval env=ogbench_cube "+env.kwargs.$factor" planner=policy agent.proposal=default episodes=50 seed=$SEED workers=2 threads=1 \
    out="runs/ogb_shift/$name/default-policy"
done
