"""The Pulumi program deployed into the emulator: `__main__.py` under Pulumi mocks whose resource hooks create
each resource for real (resources/), and what a stack file expects to exist already (stack_prereqs)."""
