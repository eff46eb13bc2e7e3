// filmgraph's GraphiQL page: GraphiQL with the explorer plugin, fetching from the URL the page
// was served at. A file of its own, not an inline script, so that the Content-Security-Policy
// can allow scripts from this server only.
"use strict";

(function () {
  const EXAMPLE_QUERY = `# Welcome to filmgraph's GraphiQL.
#
# Write a query here and run it with Ctrl-Enter (or the play button).
# Ctrl-Space completes field names; the Docs pane lists the schema.
#
# Try:
#
#     { film(slug: "refusenik-2007") { title year } }
#
`;

  // ?query=...&variables=...&headers=... share a query by link; the URL follows edits.
  const parameters = Object.fromEntries(new URLSearchParams(window.location.search));

  function updateURL(data) {
    Object.assign(parameters, data);
    const kept = Object.entries(parameters).filter(([, value]) => Boolean(value));
    history.replaceState(null, "", "?" + new URLSearchParams(kept).toString());
  }

  const fetcher = GraphiQL.createFetcher({ url: window.location.href.split("?")[0] });
  const explorer = GraphiQLPluginExplorer.explorerPlugin();

  function App() {
    const [query, setQuery] = React.useState(parameters.query || EXAMPLE_QUERY);
    const [variables, setVariables] = React.useState(parameters.variables);
    const [headers, setHeaders] = React.useState(parameters.headers);
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      plugins: [explorer],
      defaultEditorToolsVisibility: true,
      query: query,
      variables: variables,
      headers: headers,
      onEditQuery: (value) => {
        setQuery(value);
        updateURL({ query: value });
      },
      onEditVariables: (value) => {
        setVariables(value);
        updateURL({ variables: value });
      },
      onEditHeaders: setHeaders,
      inputValueDeprecation: true,
      isHeadersEditorEnabled: true,
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(App));
})();
