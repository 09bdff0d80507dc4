"""appview-indexer: the Faust application (`faust -A app worker`)."""
