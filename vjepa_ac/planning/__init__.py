"""Planning: the agent, the world models it holds (learned and simulator-truth rungs), the energy, the ladder of names."""
