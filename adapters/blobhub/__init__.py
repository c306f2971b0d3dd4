"""BlobHub's protocol, in one place for every transport (REST, JSON-RPC, the websocket packets).

- `commands.py`: `COMMANDS`, wire command name -> the one function that runs it, and `run_command`;
- `documents.py`: the wire shapes (command bodies);
- `errors.py`: the engine's domain errors -> BlobHub's error names and statuses;
- `events.py`: the engine's recorded objects events -> BlobHub's events, and subscriptions to them.

Addressing: the namespace is the caller's tenant, and BlobHub's `revision_id` is a scope inside it
(`engine.objects.scopes`): any revision id is the caller's own, and two tenants' `rev_001` are
different revisions. The revision named like the tenant's namespace is the tenant's own objects,
where every object written before revisions were scoped lives (clients addressed it then).
"""
