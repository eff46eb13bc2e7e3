"""Discovery on the root connections `films` and `people`: filter inputs (inputs.py), filters
as SQL (filters.py), keyset pages and cursors (keyset.py), and running a page (pages.py)."""
