"""The firehose reader (`python -m app firehose`): a process of its own that reads a relay
(`com.atproto.sync.subscribeRepos`, DAG-CBOR) or a Jetstream (JSON) and adds lossless entries to the
Redis stream the worker reads (DIRECTION §1, lexicon dialect), with its cursor stored in the same
transaction as the entries it covers.

- settings.py     environment → ReaderSettings; RELAY_URL → relay or Jetstream mode
- translate.py    one message → entries (commit, identity, account, sync), notices, dead letters
- stream.py       the Redis side: batch + cursor in one MULTI/EXEC, trimming below the group's floor
- position.py     where a start resumes (override, stored cursor, pluggable fallback, live tail)
- reader.py       the loop: connect, batch, write, reconnect with backoff, pause at the cap
- observability.py  Prometheus metrics and health routes on READER_WEB_PORT
- main.py         process set-up: logging, signals, web server
"""
