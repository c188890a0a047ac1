"""The models: frozen encoder, action-conditioned predictor, goal heads, decoder probe, proposals, and where their weights live."""
