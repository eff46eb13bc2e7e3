// PostGraphile v5 as it comes (the Amber preset): the tables of the public schema, relations
// inferred from their foreign keys. The one change: descending orders put NULLs last, as
// filmgraph's do (without it, `orderBy: IMDB_RATING_DESC` lists the unrated films first).
// The harness copies this file beside its npm install and sets DATABASE_URL, PORT.
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";

export default {
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({ connectionString: process.env.DATABASE_URL, schemas: ["public"] }),
  ],
  schema: { pgOrderByNullsLast: true },
  grafserv: { host: "127.0.0.1", port: Number(process.env.PORT), graphiql: false, watch: false },
  grafast: { explain: false },
};
