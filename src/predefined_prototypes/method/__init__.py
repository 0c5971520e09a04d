"""The method: prototypes chosen before training, the losses, and the registry of losses and methods."""
