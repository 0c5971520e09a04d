"""The store: stored runs, their manifests, sweep plans, the sweep runner and derived tables."""
