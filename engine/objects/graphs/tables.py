"""The graphs' tables: one row per element (vertex or edge), and a vertex's labels."""

from __future__ import annotations

import sqlalchemy as sa

from session_engine.engine.log.schema import Json, Position, UtcDateTime, metadata
from session_engine.engine.objects.limits import Seq

graph_elements = sa.Table(
    "graph_elements",
    metadata,
    sa.Column("object_id", Position, primary_key=True),
    sa.Column("element_id", sa.String(200), primary_key=True),
    sa.Column("type", sa.String(8), nullable=False),
    sa.Column("labels", Json, nullable=True),
    sa.Column("label", sa.String(200), nullable=True),
    sa.Column("from_id", sa.String(200), nullable=True),
    sa.Column("to_id", sa.String(200), nullable=True),
    sa.Column("props", Json, nullable=False),
    sa.Column("rev", sa.Integer, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("user_id", sa.String(200), nullable=True),
    sa.Column("created_seq", Seq, nullable=False),
    sa.Column("updated_seq", Seq, nullable=False),
    sa.Index("ix_graph_elements_object_id_created_seq", "object_id", "created_seq", unique=True),
    sa.Index("ix_graph_elements_object_id_updated_seq", "object_id", "updated_seq"),
    sa.Index("ix_graph_elements_object_id_type_created_seq", "object_id", "type", "created_seq"),
    sa.Index("ix_graph_elements_object_id_from_id_created_seq", "object_id", "from_id", "created_seq"),
    sa.Index("ix_graph_elements_object_id_to_id_created_seq", "object_id", "to_id", "created_seq"),
)

vertex_labels = sa.Table(
    "graph_vertex_labels",
    metadata,
    sa.Column("object_id", Position, primary_key=True),
    sa.Column("label", sa.String(200), primary_key=True),
    sa.Column("element_id", sa.String(200), primary_key=True),
    sa.Index("ix_graph_vertex_labels_object_id_element_id", "object_id", "element_id"),
)
