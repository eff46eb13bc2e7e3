// Apollo Client's cache for filmgraph: the glue docs/clients.md shows (a test keeps the two
// the same), and what tests/clients/apollo.mjs runs.
import { InMemoryCache } from "@apollo/client";
import { defaultDataIdFromObject } from "@apollo/client/cache";
import { relayStylePagination } from "@apollo/client/utilities";
import possibleTypes from "../../examples/possibleTypes.json" with { type: "json" };

export function filmgraphCache() {
  // The film each slug names, as the cache learns films (for `film(slug:)` below).
  const filmIdBySlug = new Map();
  // The cached object with this global id, whatever its type: no id is decoded.
  const cached = (id, { toReference, canRead }) =>
    possibleTypes.Node.map((__typename) => toReference({ __typename, id })).find(canRead);
  return new InMemoryCache({
    possibleTypes,
    typePolicies: {
      Film: {
        keyFields(film) {
          if (film.slug && film.id) filmIdBySlug.set(film.slug, film.id);
          return defaultDataIdFromObject(film);
        },
      },
      Query: {
        fields: {
          films: relayStylePagination(["filter", "orderBy"]),
          people: relayStylePagination(["filter", "orderBy"]),
          node: {
            read: (existing, options) => existing ?? cached(options.args.id, options),
          },
          film: {
            read(existing, options) {
              const { id, slug } = options.args;
              return existing ?? cached(id ?? filmIdBySlug.get(slug), options);
            },
          },
        },
      },
    },
  });
}
