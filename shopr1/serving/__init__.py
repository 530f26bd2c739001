"""Serving the simulator: session contexts in, the next rationale and action out.

`contexts` reads request records (the session so far, as a list of steps or its JSON string);
`simulator` loads a checkpoint (safetensors only, never remote code) and predicts greedily;
`pyfunc` wraps both as the MLflow model that the registry versions and `mlflow models serve` runs.
"""
