"""Moderation: labeler services and labels (indexed), and the API's own moderation tables (reports,
actions, assignments, label definitions and events), which this worker never writes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import (
    Base,
    did_column,
    empty_json_object,
    false_default,
    indexed_at_column,
    now_default,
    serial_key,
    uri_column,
    uri_key,
    varchar,
    zero_default,
)


class LabelerService(Base):
    __tablename__ = "labeler_services"

    uri: Mapped[str] = uri_key()
    cid: Mapped[str] = did_column()
    creator_did: Mapped[str] = did_column()
    policies: Mapped[dict[str, Any]]
    like_count: Mapped[int] = zero_default()
    created_at: Mapped[datetime]
    indexed_at: Mapped[datetime] = indexed_at_column()

    __table_args__ = (
        Index("idx_labeler_services_creator", "creator_did"),
        Index("idx_labeler_services_like_count", "like_count"),
        Index("idx_labeler_services_indexed_at", "indexed_at"),
    )


class Label(Base):
    """Labels come from labelers' own streams, not from repository commits; the table is kept for the API."""

    __tablename__ = "labels"

    uri: Mapped[str] = uri_key()
    src: Mapped[str] = did_column()
    subject: Mapped[str] = uri_column()
    val: Mapped[str] = varchar(128)
    neg: Mapped[bool] = false_default()
    created_at: Mapped[datetime]
    indexed_at: Mapped[datetime] = indexed_at_column()

    __table_args__ = (
        Index("idx_labels_subject", "subject"),
        Index("idx_labels_src", "src"),
        Index("idx_labels_val", "val"),
        Index("idx_labels_subject_val", "subject", "val"),
    )


class LabelDefinition(Base):
    __tablename__ = "label_definitions"

    id: Mapped[int] = serial_key()
    value: Mapped[str] = varchar(128)
    description: Mapped[str | None]
    severity: Mapped[str] = varchar(32, server_default=text("'warn'::character varying"))
    localized_strings: Mapped[dict[str, Any] | None] = empty_json_object(nullable=True)
    created_at: Mapped[datetime] = now_default()
    updated_at: Mapped[datetime] = now_default()

    __table_args__ = (UniqueConstraint("value", name="label_definitions_value_unique"),)


class LabelEvent(Base):
    __tablename__ = "label_events"

    id: Mapped[int] = serial_key()
    label_uri: Mapped[str] = uri_column(
        ForeignKey("labels.uri", ondelete="CASCADE", name="label_events_label_uri_labels_uri_fk")
    )
    action: Mapped[str] = varchar(32)
    created_at: Mapped[datetime] = now_default()

    __table_args__ = (
        Index("idx_label_events_created_at", "created_at"),
        Index("idx_label_events_label_uri", "label_uri"),
    )


class ModerationReport(Base):
    __tablename__ = "moderation_reports"

    id: Mapped[int] = serial_key()
    subject: Mapped[str] = uri_column()
    subject_type: Mapped[str] = varchar(32)
    report_type: Mapped[str] = varchar(64)
    reason: Mapped[str | None]
    reporter_did: Mapped[str] = did_column()
    status: Mapped[str] = varchar(32, server_default=text("'pending'::character varying"))
    created_at: Mapped[datetime] = now_default()
    updated_at: Mapped[datetime] = now_default()

    __table_args__ = (
        Index("idx_moderation_reports_subject", "subject"),
        Index("idx_moderation_reports_reporter", "reporter_did"),
        Index("idx_moderation_reports_status", "status"),
        Index("idx_moderation_reports_created_at", "created_at"),
    )


_REPORT_FK = "moderation_reports.id"


class ModerationAction(Base):
    __tablename__ = "moderation_actions"

    id: Mapped[int] = serial_key()
    report_id: Mapped[int] = mapped_column(
        Integer(),
        ForeignKey(
            _REPORT_FK, ondelete="CASCADE", name="moderation_actions_report_id_moderation_reports_id_fk"
        ),
    )
    action_type: Mapped[str] = varchar(64)
    moderator_did: Mapped[str] = did_column()
    resolution_notes: Mapped[str | None]
    label_uri: Mapped[str | None] = uri_column(nullable=True)
    created_at: Mapped[datetime] = now_default()

    __table_args__ = (
        Index("idx_moderation_actions_report", "report_id"),
        Index("idx_moderation_actions_moderator", "moderator_did"),
        Index("idx_moderation_actions_created_at", "created_at"),
    )


class ModeratorAssignment(Base):
    __tablename__ = "moderator_assignments"

    id: Mapped[int] = serial_key()
    report_id: Mapped[int] = mapped_column(
        Integer(),
        ForeignKey(
            _REPORT_FK, ondelete="CASCADE", name="moderator_assignments_report_id_moderation_reports_id_fk"
        ),
    )
    moderator_did: Mapped[str] = did_column()
    assigned_at: Mapped[datetime] = now_default()
    completed_at: Mapped[datetime | None]

    __table_args__ = (
        Index("idx_moderator_assignments_report", "report_id"),
        Index("idx_moderator_assignments_moderator", "moderator_did"),
        Index("unique_assignment_report_moderator", "report_id", "moderator_did", unique=True),
    )
