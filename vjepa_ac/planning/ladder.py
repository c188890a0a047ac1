"""The ladder of world models by name: what each needs (an encoder, the env it acts in), whether it imagines
embeddings, and how it is built. Every other module asks here instead of comparing names.

From truth to learning, so that every failure has an address:
- `sim`: candidates rolled out in the true simulator, scored by the shaped true-state energy (the planner's and the
  action space's upper bound);
- `sim+state`: true rollouts scored by the unshaped true-state distance to the (sub-)goal's true state (the ceiling any
  image energy can reach with the same protocol);
- `sim+image`: true rollouts rendered, encoded and scored by the configured image-goal energy (is the energy's
  landscape good enough?);
- `sim+pixels`: true rollouts scored by the raw-pixel L1 to the goal image (the floor: everything seen, unweighted);
- anything else names a learned predictor (`default`: the env's robot's shipped default; `default-panda`,
  `default-jaco`; a folder; a release file): frozen encoder + predictor;
- `nothing-moves`: the default's encoder and a predictor that imagines every frame the same as the current one (the
  state still integrated): with the same energy beside a learned row, what the learned imagination contributes;
- `oracle`: a kinematic model of the true state, cheap and optimistic.
"""

from __future__ import annotations

from dataclasses import dataclass

from vjepa_ac.models.weights import DEFAULT_NAMES


@dataclass(frozen=True)
class Rung:
    """What one world model needs and gives."""

    score: str  # how an outcome is scored: learned, kinematic, shaped, state, image, pixels
    in_env: bool  # rolls candidates out in the env it acts in (true dynamics)
    encoder: bool  # needs an encoder
    imagines: bool  # imagines embeddings (a decoder can draw them)
    description: str


RUNGS = {
    "sim": Rung("shaped", True, False, False, "true dynamics, shaped true-state energy"),
    "sim+state": Rung("state", True, False, False, "true dynamics, unshaped true-state distance"),
    "sim+image": Rung("image", True, True, False, "true dynamics, the image-goal energy of the rendered outcome"),
    "sim+pixels": Rung("pixels", True, False, False, "true dynamics, raw-pixel L1 of the rendered outcome"),
    "oracle": Rung("kinematic", False, False, False, "kinematic model of the true state"),
    # the default predictor of the env's robot with its output replaced by its input: imagines nothing, integrates
    # the state; beside a learned row with the same energy it shows what the learned imagination contributes
    "nothing-moves": Rung("still", False, True, True, "frozen encoder, a predictor that imagines nothing moves"),
}
LEARNED = Rung("learned", False, True, True, "frozen encoder + action-conditioned predictor")
NAMES = (*DEFAULT_NAMES, *RUNGS)  # the names a world_model setting may take besides a predictor folder or release file


def rung(world_model: str) -> Rung:
    """The rung a `world_model` setting names (anything not in RUNGS is a learned predictor's source)."""
    return RUNGS.get(world_model, LEARNED)


def build_world_model(world_model: str, encoder: str, energy, oracle, device, bf16: bool = False, env=None):
    """The world model named by `world_model`; the in-env rungs plan inside `env` (the one they act in).

    energy: EnergyConfig (its heads are found here, `weights.part_source`, and checked against the encoder);
    oracle: OracleConfig."""
    from vjepa_ac.models.weights import part_source, resolve, robot_of
    from vjepa_ac.planning.energy import Energy
    from vjepa_ac.planning.truth import OracleWorldModel, SimWorldModel
    from vjepa_ac.planning.world_model import LatentWorldModel, NothingMoves

    r = rung(world_model)
    if r.score == "kinematic":
        return OracleWorldModel(oracle, device)
    enc = model_energy = None
    robot = robot_of(env)
    if r.encoder:
        from vjepa_ac.models.distance import load_distance
        from vjepa_ac.models.encoder import load_encoder
        from vjepa_ac.models.goal_head import load_head

        enc = load_encoder(encoder)
        head_src = part_source(energy.head, "head", world_model, encoder, robot)
        dist_src = part_source(energy.distance, "distance", world_model, encoder, robot)
        model_energy = Energy(energy, load_head(head_src, enc) if head_src else None,
                              load_distance(dist_src, enc) if dist_src else None, device)
    if r.in_env:
        if env is None:
            raise ValueError(f"world_model={world_model} plans inside the env it acts in: pass the env")
        return SimWorldModel(env.unwrapped, oracle, enc, model_energy, device, r.score)
    from vjepa_ac.models.predictor import load_predictor

    if r.score == "still":
        return LatentWorldModel(enc, NothingMoves(load_predictor(resolve("default", robot))), model_energy, device, bf16)
    if world_model == "default":
        world_model = resolve(world_model, robot)  # the default of the robot the env drives
    return LatentWorldModel(enc, load_predictor(world_model), model_energy, device, bf16)


def model_identity(world_model: str) -> str:
    """What a results table names a world model by: the rung's name, "default", or for a trained predictor its folder
    name and the first 8 hex digits of its weights' SHA-256 (two runs into folders of one name stay apart)."""
    import hashlib
    from pathlib import Path

    if world_model in NAMES:
        return world_model
    p = Path(world_model)
    weights = p / "model.safetensors" if p.is_dir() else p
    name = p.parent.name if p.name == "predictor" and p.parent.name else p.name  # `vjepa-ac train out=RUN` writes RUN/predictor
    if not weights.is_file():
        return name
    h = hashlib.sha256()
    with open(weights, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return f"{name}@{h.hexdigest()[:8]}"
