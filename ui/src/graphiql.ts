// GraphiQL over wharf's own endpoint, bundled here so that `GET /graphql` needs no CDN.
import { createElement } from "react";
import { createRoot } from "react-dom/client";
import { GraphiQL } from "graphiql";
import { createGraphiQLFetcher } from "@graphiql/toolkit";
import "graphiql/graphiql.css";
import "./graphiql-page.css";

const scheme = location.protocol === "https:" ? "wss" : "ws";
const fetcher = createGraphiQLFetcher({
  url: "/graphql",
  subscriptionUrl: `${scheme}://${location.host}/graphql/ws`,
});
const root = document.getElementById("graphiql");
if (root) createRoot(root).render(createElement(GraphiQL, { fetcher }));
