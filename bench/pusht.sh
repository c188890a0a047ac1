#!/usr/bin/env bash
# Push-T under stable-worldmodel's protocol (vjepa_ac/PushT-v0), from nothing to the table in docs/benchmarks.md: logs
# of stable-worldmodel's Push-T collection policy, features, the disc's predictor and label-free energy, then the
# protocol's 50 episodes per row and per visual factor of variation. Every step is seeded; run from an empty folder
# with `pip install ".[bench]"`. Times on a 2-core CPU are in docs/benchmarks.md.
# Usage: bash bench/pusht.sh [SEED]   (SEED: the first of the 50 evaluation seeds; the reported tables used 44000, then 48000)
set -euo pipefail
SEED=${1:-44000}
# 1. 1,000 logs of the collection policy (random moves kept within 100 px of the block: stable-worldmodel's
#    WeakPolicy), 40 steps of ours each (200 Push-T steps), 128 px
vjepa-ac collect env=pusht policy=play episodes=1000 seed=50000 out=data/pusht workers=2 env.max_episode_steps=40 \
  +env.kwargs.eval_budget=200 +env.kwargs.terminate_at_goal=false +env.kwargs.render_goal=false
# 2. features through the shipped encoder (the Panda's, frozen: it never saw a Push-T frame)
vjepa-ac encode dataset=data/pusht mapping=pusht_sim encoder=default out=features_pusht
F=features_pusht/e620523bcf7256ff  # the folder is named for the encoder's identity
# 3. predictor fine-tuned from the Panda's, its L1 weighed by how much each token changes (change_weight=1: the disc and
#    the block are a few of 64 tokens); readout of the disc's position; temporal distance on real and imagined frames;
#    the goal-conditioned policy
vjepa-ac train dataset=data/pusht mapping=pusht_sim features=$F out=runs/pred_pusht steps=2000 batch_size=16 frames=4 seed=0 init=default \
  change_weight=1.0
vjepa-ac train-head dataset=data/pusht mapping=pusht_sim features=$F steps=3000 export_dtype=float16 out=runs/pusht_head
vjepa-ac train-distance dataset=data/pusht mapping=pusht_sim features=$F predictor=runs/pred_pusht/predictor imagined_share=0.5 \
  steps=4000 export_dtype=float16 out=runs/pusht_dist
vjepa-ac train-proposal kind=policy dataset=data/pusht mapping=pusht_sim features=$F max_gap=10 out=runs/pusht_pol steps=4000 export_dtype=float16
# (the shipped weights/pusht are these four runs' predictor, distance, head and proposal folders; to evaluate fresh
#  ones, copy them there, or pass world_model=, energy.distance=, energy.head=, agent.proposal= with their paths)
# 4. the protocol: 50 episodes per row (stable-worldmodel's num_eval)
vjepa-ac table 'tasks=[push_t]' 'rows=[default+cem,nothing-moves+cem,default/policy,random,expert]' episodes=50 base.seed=$SEED \
  base.workers=2 base.threads=1 out=runs/pusht_table
# 5. robustness: each visual factor of variation at evaluation only, the default planner
for factor in 'block_color=[0.9,0.2,0.2]' 'agent_color=[0.9,0.6,0.0]' 'background_color=[0.3,0.3,0.3]' 'goal_color=[0.6,0.6,0.9]'; do
  name=${factor%%=*}
  vjepa-ac eval env=pusht "+env.kwargs.$factor" episodes=50 seed=$SEED workers=2 threads=1 out="runs/pusht_shift/$name/default+cem"
done
