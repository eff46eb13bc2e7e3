"""Importers for the public film datasets: `filmgraph import imdb | movielens | tmdb-providers
| tmdb-watch | wikidata`.

`reader` turns files into rows (and bad lines into rejects), `run` holds one import's
transaction, lock, error budget and tally, `progress` shows how far each file has got, and one
module per source maps its rows onto the graph.
"""
