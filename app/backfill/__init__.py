"""Repository backfill, fetch-and-parse side: DID resolution, a polite HTTP client, listRepos
paging, getRepo spooled to disk, and the walk of a spooled CAR into a stream of records.

What the indexing side calls:
- `RepoFetcher(client, resolver, settings).fetch(did) -> SpooledRepo` (app.backfill.sync)
- `list_repos(client, relay_url, cursor) -> ListReposPage` (app.backfill.sync)
- `RepoSnapshot(path, did)`: `.commit` and `.records()` (app.backfill.snapshot)
"""
