"""One module per record collection, each exporting `COLLECTION` (app/indexing/collection.py).

The registry (app/indexing/registry.py) finds them by walking this package: adding a collection means
adding a module here.
"""
