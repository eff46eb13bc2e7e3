// Apollo Client 4 against a live filmgraph (tests/test_clients.py): the film page through
// InMemoryCache, three pages of films merged by relayStylePagination, search with the
// committed possibleTypes, node(id:) and film(slug:) read from the cache, and a browser's
// preflight. Prints what it saw as JSON; the test asserts on it.
// Usage: node apollo.mjs http://127.0.0.1:PORT
import { readFileSync } from "node:fs";
import http from "node:http";
import { ApolloClient, HttpLink, gql } from "@apollo/client";
import { filmgraphCache } from "./filmgraph-cache.mjs";

const base = process.argv[2];
const example = (name) => gql(readFileSync(new URL(`../../examples/${name}`, import.meta.url), "utf8"));

// Counts the requests that reach the server: a read the cache answers sends none.
const sent = [];
const countingFetch = (url, init) => {
  sent.push(JSON.parse(init.body).operationName);
  return fetch(url, init);
};
const client = new ApolloClient({
  link: new HttpLink({ uri: `${base}/graphql`, fetch: countingFetch }),
  cache: filmgraphCache(),
  clientAwareness: { name: "filmgraph-tests", version: "1.0" },
});
const out = {};

// The film page: every person, genre and provider becomes an object of its own in the cache.
const page = await client.query({
  query: example("film-page.graphql"),
  variables: { slug: "refusenik-2007", region: "US" },
});
out.filmPage = page.data;
out.cacheKeys = Object.keys(client.cache.extract()).sort();
// A person page of the director reads the cache: no request.
const director = page.data.film.directors[0];
const person = await client.query({
  query: example("node.graphql"),
  variables: { id: director.id },
  fetchPolicy: "cache-only",
});
out.directorFromCache = person.data?.node ?? null;

// Three pages of films, merged into one list by relayStylePagination.
const FILMS = example("films-page.graphql");
const watched = client.watchQuery({ query: FILMS, variables: { first: 4 } });
// Each result the watched query emits, as a component rendering the list would get them.
const pages = [];
let arrived = () => {};
watched.subscribe({
  next: (r) => {
    if (!r.loading) pages.push(r);
    arrived();
  },
});
const emitted = (count) =>
  new Promise((resolve) => {
    arrived = () => pages.length >= count && resolve(pages[count - 1]);
    arrived();
  });
let latest = await emitted(1);
for (let more = 2; more <= 3; more += 1) {
  await watched.fetchMore({ variables: { after: latest.data.films.pageInfo.endCursor } });
  latest = await emitted(more);
}
const result = latest;
out.films = result.data.films;

// node(id:) and film(slug:) of a film from the third page: answered by the cache.
const third = result.data.films.edges[9].node;
const before = sent.length;
out.nodeFromCache = (
  await client.query({ query: example("node.graphql"), variables: { id: third.id }, fetchPolicy: "cache-first" })
).data.node;
out.filmBySlugFromCache = (
  await client.query({ query: example("film-by-slug.graphql"), variables: { slug: third.slug }, fetchPolicy: "cache-first" })
).data.film;
out.requestsForCachedReads = sent.length - before;

// Search: `... on Node { id }` kept for every kind of result (possibleTypes).
const SEARCH = example("search.graphql");
out.search = [];
for (const query of ["crime", "de niro"]) {
  out.search.push(...(await client.query({ query: SEARCH, variables: { query } })).data.search);
}
out.sent = sent;

// A browser page on a development server asks before it sends Apollo's headers.
out.preflight = await new Promise((resolve, reject) => {
  const request = http.request(`${base}/graphql`, {
    method: "OPTIONS",
    headers: {
      origin: "http://localhost:3000",
      "access-control-request-method": "POST",
      "access-control-request-headers":
        "content-type,authorization,x-api-key,apollographql-client-name,apollographql-client-version",
    },
  });
  request.on("response", (response) => {
    response.resume();
    resolve({ status: response.statusCode, headers: response.headers });
  });
  request.on("error", reject);
  request.end();
});

console.log(JSON.stringify(out));
