"""Named schema migrations.

Each migration is applied in one transaction together with the row in ``_migrations`` that
records it, so a step that fails stays pending and leaves the database as it was. Append new
steps at the end of ``MIGRATIONS``; never edit or reorder a step that has shipped.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str
    # Python run after ``sql`` in the same transaction (a cursor), for steps SQL cannot do
    after: Callable[[Any], None] | None = None
    # SQL run after ``after``, still in the same transaction
    sql_after: str = ""


M001_CORE = """
CREATE SEQUENCE IF NOT EXISTS seq_users START 1;
CREATE SEQUENCE IF NOT EXISTS seq_projects START 1;
CREATE SEQUENCE IF NOT EXISTS seq_imports START 1;
CREATE SEQUENCE IF NOT EXISTS seq_items START 1;
CREATE SEQUENCE IF NOT EXISTS seq_annotations START 1;
CREATE SEQUENCE IF NOT EXISTS seq_adjudications START 1;
CREATE SEQUENCE IF NOT EXISTS seq_exports START 1;
CREATE SEQUENCE IF NOT EXISTS seq_jobs START 1;
CREATE SEQUENCE IF NOT EXISTS seq_tokens START 1;

CREATE TABLE meta (
    key VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);

CREATE TABLE users (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_users'),
    name VARCHAR NOT NULL UNIQUE,
    role VARCHAR NOT NULL CHECK (role IN ('annotator', 'lead', 'engineer', 'admin')),
    password_hash VARCHAR,               -- argon2id; NULL = cannot log in until a password is set
    disabled BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- API tokens for the JSON API (only a hash is stored).
CREATE TABLE api_tokens (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_tokens'),
    user_id BIGINT NOT NULL,
    name VARCHAR NOT NULL,
    token_sha256 VARCHAR NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at TIMESTAMPTZ
);

CREATE TABLE projects (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_projects'),
    name VARCHAR NOT NULL UNIQUE,
    task_type VARCHAR NOT NULL CHECK (task_type IN ('classification', 'response', 'preference')),
    labels JSON NOT NULL DEFAULT '[]',   -- [{"name":..., "description":..., "key":...}]
    multi_label BOOLEAN NOT NULL DEFAULT false,
    system_prompt VARCHAR NOT NULL DEFAULT '',
    guidelines VARCHAR NOT NULL DEFAULT '',
    overlap INTEGER NOT NULL DEFAULT 1 CHECK (overlap >= 1),
    settle_rule JSON NOT NULL DEFAULT '{"kind":"majority","min_answers":1,"margin":1}',
    show_own_result BOOLEAN NOT NULL DEFAULT false,
    created_by BIGINT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Who may annotate a project. No rows for a project = every annotator may.
CREATE TABLE project_members (
    project_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    PRIMARY KEY (project_id, user_id)
);

CREATE TABLE imports (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_imports'),
    project_id BIGINT NOT NULL,
    filename VARCHAR NOT NULL,
    format VARCHAR NOT NULL,
    file_sha256 VARCHAR,
    options JSON NOT NULL DEFAULT '{}',
    report JSON NOT NULL DEFAULT '{}',    -- rows_read, added, exact_duplicates, near_duplicates, rejected, pii
    created_by BIGINT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Items: one ticket (classification/response) or one prompt with two candidates (preference).
CREATE TABLE items (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_items'),
    project_id BIGINT NOT NULL,
    external_id VARCHAR,
    text VARCHAR NOT NULL,
    metadata JSON,
    content_hash VARCHAR NOT NULL,       -- sha256 hex of the normalized text (dedup key)
    import_id BIGINT,
    candidate_a VARCHAR,                 -- preference items: candidates in imported order
    candidate_b VARCHAR,
    candidate_source VARCHAR,            -- 'import', 'model_samples', 'draft_vs_edit'
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX items_project ON items (project_id);

-- Near-duplicate pairs flagged at import for a person to review (never dropped silently).
CREATE TABLE near_duplicates (
    project_id BIGINT NOT NULL,
    item_id BIGINT NOT NULL,
    similar_item_id BIGINT NOT NULL,
    similarity DOUBLE NOT NULL,
    import_id BIGINT,
    status VARCHAR NOT NULL DEFAULT 'open',   -- open, kept, dismissed
    reviewed_by BIGINT,
    reviewed_at TIMESTAMPTZ
);

-- Annotations are append-only: a change is a new row; the newest row per (item, user) is current.
--   value: classification -> label (multi-label: sorted labels joined by '|');
--          response -> the final reply; preference -> 'A' | 'B' | 'tie' | 'both_bad',
--          where A and B are the candidates in *imported* order, whatever order was shown.
CREATE TABLE annotations (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_annotations'),
    project_id BIGINT NOT NULL,
    item_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    value VARCHAR,                       -- NULL for a skip
    skipped BOOLEAN NOT NULL DEFAULT false,
    unsure BOOLEAN NOT NULL DEFAULT false,
    note VARCHAR,
    draft VARCHAR,                       -- response: the model draft the reply started from
    draft_model VARCHAR,
    shown_order VARCHAR,                 -- preference: 'AB' or 'BA' (what the person saw first)
    source VARCHAR NOT NULL DEFAULT 'app',  -- app, cli, import, api
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX annotations_item ON annotations (item_id);
CREATE INDEX annotations_project_user ON annotations (project_id, user_id);

-- Lead decisions. Newest row per item wins and overrides the settle rule.
CREATE TABLE adjudications (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_adjudications'),
    project_id BIGINT NOT NULL,
    item_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    value VARCHAR NOT NULL,
    reason VARCHAR NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX adjudications_item ON adjudications (item_id);

CREATE TABLE exports (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_exports'),
    project_id BIGINT NOT NULL,
    kind VARCHAR NOT NULL,               -- sft, dpo
    path VARCHAR NOT NULL,               -- the export directory
    settings JSON NOT NULL,
    counts JSON NOT NULL DEFAULT '{}',
    manifest_sha256 VARCHAR NOT NULL,
    created_by BIGINT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Fine-tuning jobs launched from an export.
CREATE TABLE jobs (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_jobs'),
    export_id BIGINT,
    provider VARCHAR NOT NULL,           -- 'openai', 'azure', ...
    provider_job_id VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    method VARCHAR NOT NULL,             -- supervised, dpo
    status VARCHAR NOT NULL,
    fine_tuned_model VARCHAR,
    settings JSON NOT NULL DEFAULT '{}',
    last_seen JSON,                      -- the provider's last job object (no secrets)
    created_by BIGINT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Files uploaded to a provider, keyed by content hash so a re-launch reuses them.
CREATE TABLE provider_files (
    provider VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    file_id VARCHAR NOT NULL,
    filename VARCHAR NOT NULL,
    bytes BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, sha256)
);
"""

# 002: the dedup key becomes DuckDB's 64-bit hash of the text's key string (NFKC, casefold,
# white-space runs as one space; see curator.store.imports.key_string), computed in the same pass as the
# import's row rules instead of a sha256 of the normalised text; and the index on
# items(project_id) goes: it cost ~2 s per million imported rows and no query needs it
# (DuckDB's zone maps already skip other projects' row groups).
M002_DEDUP_KEY = """
DROP INDEX IF EXISTS items_project;
ALTER TABLE items ADD COLUMN dedup_key UBIGINT;
"""
M002_AFTER_SQL = """
ALTER TABLE items DROP COLUMN content_hash;
"""


def _m002_keys(cur: Any) -> None:
    from curator.store.imports import recompute_item_keys
    recompute_item_keys(cur)


# 003: browser log-in sessions, so that reloading the page keeps the user logged in. The app
# hands the browser a one-time code; the server's /auth/session route redeems it for a random
# session token set as an HttpOnly cookie. Only sha256 hashes of the code and the token are
# stored (curator.web_sessions).
M003_WEB_SESSIONS = """
CREATE SEQUENCE seq_web_sessions START 1;
CREATE TABLE web_sessions (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_web_sessions'),
    user_id BIGINT NOT NULL,
    code_sha256 VARCHAR NOT NULL,        -- the one-time code the page hands to the browser
    token_sha256 VARCHAR,                -- the cookie's value, once the code is redeemed
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    redeemed_at TIMESTAMPTZ,
    expires_at TIMESTAMPTZ NOT NULL,     -- of the code until redeemed, then of the session
    revoked_at TIMESTAMPTZ
);
"""


MIGRATIONS: list[Migration] = [
    Migration("001_core", M001_CORE),
    Migration("002_dedup_key", M002_DEDUP_KEY, after=_m002_keys, sql_after=M002_AFTER_SQL),
    Migration("003_web_sessions", M003_WEB_SESSIONS),
]

__all__ = ["Migration", "MIGRATIONS"]
