"""The benchmarks (`shopstream bench ...`): the product measured as users run it, on resources of
their own, removed afterwards. Above the operations layer and beside the CLI: no product module
imports a benchmark."""
