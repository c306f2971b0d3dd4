"""Envelopes: a session's typed objects by alias (message, messages, thread, graph), their upload,
replace, delete and a `messages` object's appends. Threads and graphs keep their items and
elements in their own subdomains; an envelope's delete takes them with it."""
