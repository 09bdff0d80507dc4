"""`users.search_vector` and `posts.search_vector` are filled by triggers, for every writer.

PublicAppView's API searches accounts with `plainto_tsquery('simple', …)` over `users.search_vector`
and posts with `plainto_tsquery('english', …)` over `posts.search_vector`. At its start it installs
a trigger named `users_search_vector_update` on `users` when no trigger of that name exists (a
weighted `to_tsvector('simple', …)` of handle A, display name B, description C); nothing of it fills
`posts.search_vector`. These triggers compute the same values whether or not the API has started:

- `users_search_vector_update`, the same name, trigger events and value as the API's, calling
  `indexer.users_search_vector()`; created only when no trigger of that name exists (an adopted
  database whose API already started keeps the API's, which computes the same);
- `posts_search_vector_update`, `to_tsvector('english', text)` on insert and on update of `text`.

Rows that exist before this revision keep the `search_vector` they have (a migration does not
rewrite rows it did not write). The downgrade drops the triggers whose function is ours, and our
functions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 19:15:00
"""

from __future__ import annotations

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None

USERS_FUNCTION = """
CREATE FUNCTION indexer.users_search_vector() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_vector :=
        setweight(to_tsvector('simple', coalesce(NEW.handle, '')), 'A')
        || setweight(to_tsvector('simple', coalesce(NEW.display_name, '')), 'B')
        || setweight(to_tsvector('simple', coalesce(NEW.description, '')), 'C');
    RETURN NEW;
END $$
"""

USERS_TRIGGER = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'users_search_vector_update') THEN
        CREATE TRIGGER users_search_vector_update
            BEFORE INSERT OR UPDATE OF handle, display_name, description ON public.users
            FOR EACH ROW EXECUTE FUNCTION indexer.users_search_vector();
    END IF;
END $$
"""

POSTS_FUNCTION = """
CREATE FUNCTION indexer.posts_search_vector() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_vector := to_tsvector('english', coalesce(NEW.text, ''));
    RETURN NEW;
END $$
"""

POSTS_TRIGGER = """
CREATE TRIGGER posts_search_vector_update
    BEFORE INSERT OR UPDATE OF text ON public.posts
    FOR EACH ROW EXECUTE FUNCTION indexer.posts_search_vector()
"""

DROP_OUR_TRIGGERS = """
DO $$
DECLARE found record;
BEGIN
    FOR found IN
        SELECT t.tgname, c.relname FROM pg_trigger t
        JOIN pg_class c ON c.oid = t.tgrelid
        JOIN pg_proc p ON p.oid = t.tgfoid
        JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'indexer' AND p.proname IN ('users_search_vector', 'posts_search_vector')
    LOOP
        EXECUTE format('DROP TRIGGER %I ON public.%I', found.tgname, found.relname);
    END LOOP;
END $$
"""


def upgrade() -> None:
    for statement in (USERS_FUNCTION, USERS_TRIGGER, POSTS_FUNCTION, POSTS_TRIGGER):
        op.execute(statement)


def downgrade() -> None:
    op.execute(DROP_OUR_TRIGGERS)
    op.execute("DROP FUNCTION indexer.users_search_vector()")
    op.execute("DROP FUNCTION indexer.posts_search_vector()")
