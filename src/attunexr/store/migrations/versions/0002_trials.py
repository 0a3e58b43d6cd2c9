"""trials: studies, sealed allocation slots, participants, visits, adverse events

Revision ID: 0002_trials
Revises: 0001
Create Date: 2026-12-06 03:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_trials"
down_revision = "0002_at_rest"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trial_studies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("protocol_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("protocol", sa.JSON(), nullable=False),
        sa.Column("versions", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("sequence_version", sa.Integer(), nullable=True),
        sa.Column("seed_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinics.id"]),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_trial_studies_clinic_id", "trial_studies", ["clinic_id"])
    op.create_table(
        "trial_participants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("site", sa.String(length=40), nullable=False),
        sa.Column("strata", sa.JSON(), nullable=False),
        sa.Column("stratum", sa.String(length=200), nullable=False),
        sa.Column("study_consent", sa.Boolean(), nullable=False),
        sa.Column("treatment_consent", sa.Boolean(), nullable=False),
        sa.Column("characteristics", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("arm_enc", sa.LargeBinary(), nullable=True),
        sa.Column("randomized_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=200), nullable=False),
        sa.Column("discontinued", sa.String(length=200), nullable=False),
        sa.Column("cost", sa.JSON(), nullable=False),
        sa.Column("enrolled_by", sa.Integer(), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["study_id"], ["trial_studies.id"]),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"]),
        sa.ForeignKeyConstraint(["enrolled_by"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("study_id", "patient_id"),
        sa.UniqueConstraint("study_id", "code"),
    )
    op.create_index("ix_trial_participants_study_id", "trial_participants", ["study_id"])
    op.create_index("ix_trial_participants_patient_id", "trial_participants", ["patient_id"])
    op.create_table(
        "trial_allocation_slots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("stratum", sa.String(length=200), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("block", sa.Integer(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=True),
        sa.Column("revealed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["study_id"], ["trial_studies.id"]),
        sa.ForeignKeyConstraint(["participant_id"], ["trial_participants.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("study_id", "stratum", "idx"),
    )
    op.create_index("ix_trial_allocation_slots_study_id", "trial_allocation_slots", ["study_id"])
    op.create_table(
        "trial_visits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("visit", sa.String(length=40), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("deviation", sa.String(length=300), nullable=False),
        sa.Column("entered_by", sa.Integer(), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["participant_id"], ["trial_participants.id"]),
        sa.ForeignKeyConstraint(["entered_by"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("participant_id", "visit"),
    )
    op.create_index("ix_trial_visits_participant_id", "trial_visits", ["participant_id"])
    op.create_table(
        "trial_adverse_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("severity", sa.String(length=20), nullable=False),
        sa.Column("serious", sa.Boolean(), nullable=False),
        sa.Column("relatedness", sa.String(length=20), nullable=False),
        sa.Column("expected", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["participant_id"], ["trial_participants.id"]),
        sa.ForeignKeyConstraint(["session_id"], ["therapy_sessions.id"]),
        sa.ForeignKeyConstraint(["recorded_by"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_trial_adverse_events_participant_id", "trial_adverse_events", ["participant_id"])


def downgrade() -> None:
    for ix, table in (("ix_trial_adverse_events_participant_id", "trial_adverse_events"),
                      ("ix_trial_visits_participant_id", "trial_visits"),
                      ("ix_trial_allocation_slots_study_id", "trial_allocation_slots")):
        op.drop_index(ix, table_name=table)
        op.drop_table(table)
    op.drop_index("ix_trial_participants_patient_id", table_name="trial_participants")
    op.drop_index("ix_trial_participants_study_id", table_name="trial_participants")
    op.drop_table("trial_participants")
    op.drop_index("ix_trial_studies_clinic_id", table_name="trial_studies")
    op.drop_table("trial_studies")
