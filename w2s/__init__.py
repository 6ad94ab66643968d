"""w2s-lab: a reproducible laboratory for weak-to-strong generalization (Burns et al. 2023)."""
