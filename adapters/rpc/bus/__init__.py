"""The Makaio message bus at `/bus`: the endpoint (`endpoint.py`), its frames (`protocol.py`),
authentication (`auth.py`), the `storage:session` subjects (`subjects.py`, answered through
`routes.py`), their wire models (`models.py`), the pushed events (`events.py`) and the error answers
(`errors.py`)."""
