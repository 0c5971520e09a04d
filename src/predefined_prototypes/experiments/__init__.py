"""Running experiments: sweep files expanded into runs, the sweep runner (papermill, Dask), the
computations derived from stored runs, and loading a stored run's model. Above the store and the
book's reading side; neither imports it."""
