"""The local stack that `make run` starts (`python -m webapp.devstack.launcher`): the run command,
a private Redis, the secret kept in var/. No product app imports it; the tests and benchmarks
start their Redis with `localredis` too."""
