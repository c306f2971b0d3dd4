"""The Engine's concerns beyond writing and reading the log, one module each.

`Engine` (engine/engine.py) stays the one object users see; each of its methods for time travel,
snapshots, erasure and retention, and maintenance is a short delegation to the module here that
holds the body, next to the parts it calls:

- `arguments`: the checks every facade call makes on what it is given
- `time_travel`: state as of a point, stepping, history, diffs, the sessions list
- `snapshotting`: storing and dropping snapshots off the append path
- `forgetting`: erasure and retention (what the engine forgets on purpose)
- `maintenance`: rebuild (live or in place), verification, backup, export and import
"""
