import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { graphql } from "./gql";
import { loadSession, request, type Session } from "./api";
import { SignInPanel, SignOutButton } from "./auth";
import { Balances } from "./pages/Balances";
import { Compute } from "./pages/Compute";
import { Filecoin } from "./pages/Filecoin";
import { Hosted } from "./pages/Hosted";
import { Storage } from "./pages/Storage";
import "./style.css";

const Me = graphql(`
  query Me {
    me {
      address
      operator
    }
  }
`);

const PAGES = [
  { path: "storage", title: "Storage" },
  { path: "balances", title: "Balances" },
  { path: "compute", title: "Compute" },
  { path: "hosted", title: "Hosted files" },
  { path: "filecoin", title: "Filecoin" },
] as const;

type Page = (typeof PAGES)[number]["path"];

function currentPage(): Page {
  const hash = location.hash.replace(/^#\/?/, "");
  return (PAGES.find((p) => p.path === hash)?.path ?? "storage") as Page;
}

function App() {
  const [page, setPage] = useState<Page>(currentPage());
  const [session, setSession] = useState<Session | null>(loadSession());
  useEffect(() => {
    const onHash = () => setPage(currentPage());
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);
  // A session the server no longer knows (expired, signed out elsewhere) is dropped.
  useEffect(() => {
    if (!session) return;
    request(Me)
      .then(({ me }) => {
        if (!me?.address) setSession(null);
      })
      .catch(() => {});
  }, [session?.token]);
  return (
    <>
      <header>
        <a class="brand" href="#/storage">
          wharf
        </a>
        <nav aria-label="Sections">
          {PAGES.map((p) => (
            <a key={p.path} href={`#/${p.path}`} aria-current={page === p.path ? "page" : undefined}>
              {p.title}
            </a>
          ))}
        </nav>
        <div class="who">
          {session ? (
            <>
              <span class="mono" data-testid="signed-in" title={session.address}>
                {session.address.slice(0, 6)}…{session.address.slice(-4)}
              </span>
              <SignOutButton session={session} onDone={() => setSession(null)} />
            </>
          ) : null}
        </div>
      </header>
      <main>
        {!session && <SignInPanel onSession={setSession} />}
        <h1>{PAGES.find((p) => p.path === page)?.title}</h1>
        {page === "storage" && <Storage session={session} />}
        {page === "balances" && <Balances session={session} />}
        {page === "compute" && <Compute session={session} />}
        {page === "hosted" && <Hosted />}
        {page === "filecoin" && <Filecoin />}
      </main>
    </>
  );
}

const root = document.getElementById("app");
if (root) render(<App />, root);
