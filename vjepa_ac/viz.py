"""Rerun recordings: what the agent saw, what it imagined, which action sequences it weighed, and why it chose one.

One `.rrd` per episode (`rerun=DIR`) or a live viewer (`rerun=spawn`). Entities:
  camera, goal                     the camera frame and the (sub-)goal image at each control step
  world/ee_path, world/ee          the end-effector path actually taken, in the robot's base frame (metres)
  world/object, world/goal         the object and the goal position (when the env reports them), world/table
  world/plan/candidates            each sampled action sequence as the end-effector path it implies, coloured by
  world/plan/elites, world/plan/chosen   energy (blue low, red high); the elites and the chosen plan
  energy/iteration                 best energy at each planner iteration (timeline `iteration`)
  energy/plan, energy/frame        the chosen plan's energy and the observed frame's energy, per control step
  distance/goal                    the simulator's distance to goal
  pca/real, pca/imagined           patch embeddings as images through a shared PCA basis (first three components
                                   as RGB): the real frame's, and the one the model predicted for it a step earlier
  decoded/real, decoded/imagined   with a decoder (`decoder=`): the real frame's embedding and the one predicted for
                                   it a step earlier (the chosen plan's first step), decoded to pixels
  decoded/elites                   the decoded imagined end frames of the elite candidates, as a gallery per step
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

TABLE_HALF = (0.4, 0.5, 0.0)  # drawn for orientation only


def _rr():
    import rerun as rr

    return rr


def blueprint(decoded: bool = False, latent: bool = False):
    """Camera and goal, the 3D scene with candidate paths, energies over time, real vs imagined embeddings, and with a
    decoder the imagined frames in pictures; with latent sub-goals, the proposed sub-goal (PCA, and decoded)."""
    import rerun.blueprint as rrb

    columns = [
        rrb.Vertical(rrb.Spatial2DView(origin="camera", name="camera"), rrb.Spatial2DView(origin="goal", name="goal")),
        rrb.Spatial3DView(origin="world", name="end-effector paths (base frame)"),
        rrb.Vertical(rrb.TimeSeriesView(origin="energy", name="energy"), rrb.TimeSeriesView(origin="distance", name="distance to goal")),
        rrb.Vertical(rrb.Spatial2DView(origin="pca/real", name="real (PCA)"), rrb.Spatial2DView(origin="pca/imagined", name="imagined (PCA)"),
                     *([rrb.Spatial2DView(origin="pca/subgoal", name="proposed sub-goal (PCA)")] if latent else [])),
    ]
    shares = [1, 2, 1, 1]
    if decoded:
        columns.append(rrb.Vertical(rrb.Spatial2DView(origin="decoded/imagined", name="imagined next frame (decoded)"),
                                    rrb.Spatial2DView(origin="decoded/real", name="real frame (decoded)"),
                                    rrb.Spatial2DView(origin="decoded/elites", name="elites' imagined end frames"),
                                    *([rrb.Spatial2DView(origin="decoded/subgoal", name="proposed sub-goal (decoded)")] if latent else [])))
        shares.append(1)
    return rrb.Blueprint(rrb.Horizontal(*columns, column_shares=shares), collapse_panels=True)


def tile(images: np.ndarray, cols: int = 4, pad: int = 2) -> np.ndarray:
    """uint8 images [K, H, W, 3] as one gallery image, `cols` per row, separated by `pad` white pixels."""
    k, h, w, _ = images.shape
    rows = -(-k // cols)
    out = np.full((rows * (h + pad) - pad, min(k, cols) * (w + pad) - pad, 3), 255, np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = im
    return out


def energy_colours(costs: np.ndarray) -> np.ndarray:
    """uint8 RGB [S, 3] from blue (lowest energy) to red (highest); non-finite ones grey."""
    c = np.asarray(costs, dtype=np.float64)
    finite = np.isfinite(c)
    out = np.full((c.size, 3), 128, np.uint8)
    if finite.any():
        lo, hi = c[finite].min(), c[finite].max()
        t = (c[finite] - lo) / max(hi - lo, 1e-12)
        out[finite] = np.stack([255 * t, 60 * np.ones_like(t), 255 * (1 - t)], 1).astype(np.uint8)
    return out


def implied_paths(ee_pos: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """End-effector positions [S, H+1, 3] implied by action sequences [S, H, A] (position deltas on dims 0-2)."""
    steps = np.cumsum(actions[..., :3], axis=1)
    start = np.broadcast_to(ee_pos, (actions.shape[0], 1, 3))
    return np.concatenate([start, ee_pos + steps], axis=1)


class PCAImages:
    """A shared 3-component PCA basis of patch embeddings, fitted once, mapping z [N, D] to an RGB image."""

    def __init__(self, z_fit: torch.Tensor, grid: int, size: int = 64):
        x = z_fit.reshape(-1, z_fit.shape[-1]).float()  # [M, D]
        self.mean = x.mean(0)
        _, _, v = torch.pca_lowrank(x - self.mean, q=3, center=False)
        self.basis = v[:, :3]  # [D, 3]
        proj = (x - self.mean) @ self.basis
        self.lo, self.hi = proj.quantile(0.02, 0), proj.quantile(0.98, 0)
        self.grid, self.size = grid, size

    def image(self, z: torch.Tensor) -> np.ndarray:
        """z [N, D] -> uint8 [size, size, 3]."""
        p = ((z.float() - self.mean) @ self.basis - self.lo) / (self.hi - self.lo).clamp_min(1e-6)
        img = (p.clamp(0, 1) * 255).to(torch.uint8).reshape(self.grid, self.grid, 3).numpy()
        k = self.size // self.grid
        return np.kron(img, np.ones((k, k, 1), np.uint8))


class EpisodeRecorder:
    """Logs one episode of the agent to Rerun: `start(obs, info)`, then `step(...)` per control step, then
    `end(step, obs, agent)` with the last observation, then `close()`."""

    def __init__(self, target: str, name: str, application: str = "vjepa_ac", decoder=None, gallery: int = 8,
                 latent: bool = False):
        """latent: the agent plans through latent sub-goals (they are logged at each step, decoded with a decoder)."""
        rr = _rr()
        self.rec = rr.RecordingStream(application, recording_id=name)
        self.path = None
        if target == "spawn":
            self.rec.spawn()  # a native viewer on this machine; the SDK talks to it over localhost
        else:
            self.path = Path(target) / f"{name}.rrd"
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._tmp = self.path.with_name(f".{self.path.name}.tmp.rrd")
            self.rec.save(str(self._tmp))
        self.decoder, self.gallery = decoder, gallery
        self.rec.send_blueprint(blueprint(decoder is not None, latent))
        self.ee_path: list[np.ndarray] = []
        self.iteration = 0
        self.pca: PCAImages | None = None
        self.imagined_next: np.ndarray | None = None
        self.decoded_next: np.ndarray | None = None

    def _time(self, step: int) -> None:
        self.rec.set_time("step", sequence=step)

    def start(self, obs: dict, info: dict) -> None:
        rr = _rr()
        self.rec.log("world/table", rr.Boxes3D(centers=[[0.5, 0.0, -0.01]], half_sizes=[[0.4, 0.5, 0.01]], colors=[[150, 110, 70]]), static=True)
        goal = info.get("goal", {}).get("position")
        if goal is not None:
            self.rec.log("world/goal", rr.Points3D([goal], radii=0.015, colors=[[0, 200, 0]]), static=True)
        self._frame(0, obs, None)

    def _frame(self, step: int, obs: dict, info: dict | None) -> None:
        rr = _rr()
        self._time(step)
        self.rec.log("camera", rr.Image(obs["image"]))
        ee = np.asarray(obs["ee_state"], dtype=np.float32)
        self.ee_path.append(ee[:3])
        self.rec.log("world/ee", rr.Points3D([ee[:3]], radii=0.012, colors=[[255, 255, 255]]))
        if len(self.ee_path) > 1:
            self.rec.log("world/ee_path", rr.LineStrips3D([np.stack(self.ee_path)], colors=[[255, 255, 255]]))
        priv = obs.get("privileged")
        if priv is not None:
            self.rec.log("world/object", rr.Points3D([priv["object_pos"]], radii=0.02, colors=[[255, 200, 0]]))
        if info is not None and "distance" in info and np.isfinite(info["distance"]):
            self.rec.log("distance/goal", rr.Scalars(float(info["distance"])))

    def step(self, step: int, obs: dict, agent, goal_image: np.ndarray | None, next_obs: dict, next_info: dict) -> None:
        """Log control step `step`: the plan made from `obs`, then the observation `next_obs` it led to."""
        rr = _rr()
        rec = agent.records[-1]
        self._time(step)
        if goal_image is not None:
            self.rec.log("goal", rr.Image(goal_image))
        for it in rec.plan.iterations:
            self.rec.set_time("iteration", sequence=self.iteration)
            self.rec.log("energy/iteration", rr.Scalars(float(it.elite_costs[0])))
            self.iteration += 1
        self.rec.disable_timeline("iteration")
        self.rec.log("energy/plan", rr.Scalars(float(rec.plan.cost)))
        self.rec.log("energy/frame", rr.Scalars(float(rec.distance)))
        ee = np.asarray(obs["ee_state"], dtype=np.float32)[:3]
        last = rec.plan.iterations[-1]
        if last.samples is not None:
            samples = agent.full_actions(last.samples).cpu().numpy()  # [S, H, A]
            self.rec.log("world/plan/candidates", rr.LineStrips3D(implied_paths(ee, samples), colors=energy_colours(last.costs.cpu().numpy()), radii=0.002))
        elites = agent.full_actions(last.elites).cpu().numpy()
        self.rec.log("world/plan/elites", rr.LineStrips3D(implied_paths(ee, elites), colors=[[0, 220, 255]], radii=0.003))
        chosen = agent.full_actions(rec.plan.actions[None]).cpu().numpy()
        self.rec.log("world/plan/chosen", rr.LineStrips3D(implied_paths(ee, chosen), colors=[[0, 255, 0]], radii=0.006))
        self._real_beside_imagined(rec.context)
        self._embeddings(step, agent, rec)
        self._frame(step + 1, next_obs, next_info)

    def _real_beside_imagined(self, ctx) -> None:
        """At this step's time: the embedding the agent observed (no second encoding), beside what the previous step
        imagined it would be."""
        rr = _rr()
        if self.pca is None or getattr(ctx, "z", None) is None:
            return
        self.rec.log("pca/real", rr.Image(self.pca.image(ctx.z.cpu())))
        if self.imagined_next is not None:
            self.rec.log("pca/imagined", rr.Image(self.imagined_next))
        if self.decoder is not None:
            self.rec.log("decoded/real", rr.Image(self.decoder.images(ctx.z[None].cpu())[0]))
            if self.decoded_next is not None:
                self.rec.log("decoded/imagined", rr.Image(self.decoded_next))

    def _embeddings(self, step: int, agent, rec) -> None:
        """Imagine the chosen plan's first step; it is shown at the next step beside the real embedding."""
        model, ctx = agent.model, rec.context
        if not hasattr(model, "imagine") or getattr(ctx, "z", None) is None:
            return  # no imagination: the true-dynamics and kinematic rungs
        if self.pca is None:
            goal = agent.goals[agent.goal_index].z
            self.pca = PCAImages(torch.stack([ctx.z, goal]).cpu(), model.predictor.cfg.grid)
            self.rec.log("pca/real", _rr().Image(self.pca.image(ctx.z.cpu())))
            self.rec.log("pca/goal", _rr().Image(self.pca.image(goal.cpu())), static=True)
            if self.decoder is not None:
                self.rec.log("decoded/real", _rr().Image(self.decoder.images(ctx.z[None].cpu())[0]))
                self.rec.log("decoded/goal", _rr().Image(self.decoder.images(goal[None].cpu())[0]), static=True)
        if getattr(agent, "latent", False):  # the sub-goal the latent model proposed for this step
            z_sub = agent.goals[agent.goal_index].z.cpu()  # [N, D]
            self.rec.log("pca/subgoal", _rr().Image(self.pca.image(z_sub)))
            if self.decoder is not None:
                self.rec.log("decoded/subgoal", _rr().Image(self.decoder.images(z_sub[None])[0]))
        z = model.imagine(ctx, agent.full_actions(rec.plan.actions[None]))[0, 0].cpu()  # [N, D]
        self.imagined_next = self.pca.image(z)
        if self.decoder is not None:
            self.decoded_next = self.decoder.images(z[None])[0]
            elites = rec.plan.iterations[-1].elites[: self.gallery]  # [K, H, A], best first
            z_end = model.imagine(ctx, agent.full_actions(elites))[:, -1].cpu()  # [K, N, D]: each elite's last imagined frame
            self.rec.log("decoded/elites", _rr().Image(tile(self.decoder.images(z_end))))

    def end(self, step: int, obs: dict, agent) -> None:
        """The episode's last observation, which no plan observed: its embedding (encoded once here) beside what the
        last step imagined it would be."""
        if self.pca is None:  # no imagination was shown (the true-dynamics and kinematic rungs)
            return
        self._time(step)
        self._real_beside_imagined(agent.model.observe(obs))

    def close(self) -> Path | None:
        """Finish the recording; a file appears under its name only once complete."""
        self.rec.flush()
        self.rec.disconnect()
        if self.path is not None:
            os.replace(self._tmp, self.path)
        return self.path


def record_log_episode(data: str | Path, episode: int, target: str, mapping: str = "panda_sim", decoder: str | None = None,
                       encoder: str = "default", predictor: str = "default", ahead: int = 4) -> Path | None:
    """`vjepa-ac viz`: a recorded trajectory's frames, end-effector path, states and actions, in Rerun.

    With a decoder, also what the model believes: `decoded/real` (the real frame's embedding decoded) and
    `decoded/ahead_k` (the frame imagined k = 1..ahead steps earlier from the real embedding and the recorded actions,
    decoded), at the time of the real frame they stand for."""
    from vjepa_ac.data.mapping import load_mapping
    from vjepa_ac.data.reader import open_log

    rr = _rr()
    log = open_log(data)
    if not 0 <= episode < len(log):
        raise IndexError(f"episode {episode} is out of range: {data} holds episodes 0..{len(log) - 1}")
    m = load_mapping(mapping)
    state, action = m.read(log, episode)
    frames = m.frames(log, episode)
    name = f"{Path(data).name}_episode_{episode:04d}"
    pictures = None
    if decoder:
        from vjepa_ac.models.decoder import episode_pictures, load_decoder
        from vjepa_ac.models.encoder import load_encoder
        from vjepa_ac.models.predictor import load_predictor

        if ahead < 1:
            raise ValueError(f"ahead must be >= 1 (steps imagined ahead), got {ahead}")
        enc = load_encoder(encoder)
        pictures = episode_pictures(frames, state, action, enc, load_predictor(predictor), load_decoder(decoder, encoder=enc), ahead)
    rec = EpisodeRecorder(target, name)
    if pictures is not None:
        import rerun.blueprint as rrb

        rec.rec.send_blueprint(rrb.Blueprint(rrb.Horizontal(
            rrb.Spatial2DView(origin="camera", name="real"), rrb.Spatial2DView(origin="decoded/real", name="real, decoded"),
            *[rrb.Spatial2DView(origin=f"decoded/ahead_{k}", name=f"imagined {k} step{'s' if k > 1 else ''} ahead") for k in range(1, ahead + 1)])))
    rec.rec.log("world/table", rr.Boxes3D(centers=[[0.5, 0.0, -0.01]], half_sizes=[[0.4, 0.5, 0.01]], colors=[[150, 110, 70]]), static=True)
    for t in range(len(frames)):
        rec._time(t)
        rec.rec.log("camera", rr.Image(frames[t]))
        for i, v in enumerate(state[t]):
            rec.rec.log(f"state/{i}", rr.Scalars(float(v)))
        for i, v in enumerate(action[t]):
            rec.rec.log(f"action/{i}", rr.Scalars(float(v)))
        if pictures is not None:
            rec.rec.log("decoded/real", rr.Image(pictures["decoded"][t]))
            for k in range(1, ahead + 1):
                if t >= k:
                    rec.rec.log(f"decoded/ahead_{k}", rr.Image(pictures[k][t]))
        if state.shape[1] >= 3:
            rec.rec.log("world/ee", rr.Points3D([state[t, :3]], radii=0.012))
            if t:
                rec.rec.log("world/ee_path", rr.LineStrips3D([state[: t + 1, :3]]))
    return rec.close()



@dataclass
class VizConfig:
    """`vjepa-ac viz dataset=DIR episode=K [out=DIR|spawn mapping=panda_sim decoder=default ahead=4]`."""

    dataset: str = "data/panda_play"  # (not `data=`: Hydra reads that as the `data/` group of key mappings)
    episode: int = 0
    out: str = "spawn"  # a folder for the .rrd file, or spawn for a live viewer
    mapping: str = "panda_sim"
    decoder: str | None = None  # default or a `train-decoder` folder: real frames against frames decoded from predictions
    encoder: str = "default"  # the encoder and predictor whose beliefs are decoded
    predictor: str = "default"
    ahead: int = 4  # steps imagined ahead (1 to 4 shown as separate views)
