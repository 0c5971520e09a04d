"""One run: its configuration, features, factors, model, training and evaluation."""
