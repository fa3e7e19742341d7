import { useEffect, useState } from "preact/hooks";
import { graphql } from "../gql";
import { request, subscribe, type Session } from "../api";
import { useAction, useLoad } from "../hooks";
import { ErrorNote, Load, Section, bytes, time } from "../widgets";

const Tokens = graphql(`
  query AccessTokens {
    accessTokens {
      token
      balance
      createdAt
    }
  }
`);

const Prices = graphql(`
  query Prices {
    prices {
      amount
      cost
    }
  }
`);

const CreateToken = graphql(`
  mutation CreateAccessToken {
    createAccessToken {
      token
    }
  }
`);

const LinkToken = graphql(`
  mutation LinkAccessToken($token: String!) {
    linkAccessToken(token: $token) {
      token
    }
  }
`);

const Ledger = graphql(`
  query Ledger($token: String!, $after: String) {
    balance(token: $token)
    ledger(token: $token, first: 50, after: $after) {
      edges {
        node {
          id
          kind
          amount
          balanceAfter
          reference
          createdAt
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`);

const Redeem = graphql(`
  mutation RedeemPromocode($token: String!, $code: String!) {
    redeemPromocode(token: $token, code: $code)
  }
`);

const BalanceUpdates = graphql(`
  subscription BalanceUpdates($token: String!) {
    balanceUpdates(token: $token)
  }
`);

export function Balances({ session }: { session: Session | null }) {
  const [selected, setSelected] = useState<string | null>(null);
  const [typed, setTyped] = useState("");
  const tokens = useLoad(async () => (session ? (await request(Tokens)).accessTokens : []), [session?.token]);
  const prices = useLoad(async () => (await request(Prices)).prices, []);
  const action = useAction();
  return (
    <>
      <Section title="Prices">
        <Load state={prices} isEmpty={(p) => p.length === 0} empty="No prices configured.">
          {(list) => (
            <ul>
              {list.map((p) => (
                <li key={p.amount}>
                  {bytes(p.amount)} for {p.cost}
                </li>
              ))}
            </ul>
          )}
        </Load>
      </Section>
      <Section title="Access tokens">
        {session ? (
          <>
            <Load state={tokens} isEmpty={(t) => t.length === 0} empty="No access token linked to this wallet yet.">
              {(list) => (
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Token</th>
                      <th scope="col">Balance</th>
                      <th scope="col">Created</th>
                    </tr>
                  </thead>
                  <tbody>
                    {list.map((t) => (
                      <tr key={t.token}>
                        <td>
                          <button type="button" class="link" onClick={() => setSelected(t.token)}>
                            {t.token}
                          </button>
                        </td>
                        <td>{bytes(t.balance)}</td>
                        <td>{time(t.createdAt)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </Load>
            <button
              type="button"
              disabled={action.pending}
              onClick={() =>
                action.run(async () => {
                  const { createAccessToken } = await request(CreateToken);
                  setSelected(createAccessToken.token);
                  tokens.reload();
                })
              }
            >
              New access token
            </button>
          </>
        ) : (
          <p class="muted">Sign in to see the access tokens linked to your wallet, or open one below.</p>
        )}
        <form
          class="inline"
          onSubmit={(e) => {
            e.preventDefault();
            const token = typed.trim();
            if (!token) return;
            if (session)
              action.run(async () => {
                await request(LinkToken, { token });
                tokens.reload();
                setSelected(token);
              });
            else setSelected(token);
          }}
        >
          <label>
            Access token
            <input value={typed} onInput={(e) => setTyped(e.currentTarget.value)} autocomplete="off" />
          </label>
          <button type="submit">{session ? "Link and open" : "Open"}</button>
        </form>
        <ErrorNote error={action.error} />
      </Section>
      {selected && <TokenDetail token={selected} onChange={tokens.reload} />}
    </>
  );
}

function TokenDetail({ token, onChange }: { token: string; onChange: () => void }) {
  const ledger = useLoad(() => request(Ledger, { token }), [token]);
  const [live, setLive] = useState<number | null>(null);
  const [code, setCode] = useState("");
  const redeem = useAction();
  useEffect(() => {
    setLive(null);
    return subscribe(BalanceUpdates, { token }, (d) => {
      setLive(d.balanceUpdates);
    });
  }, [token]);
  useEffect(() => {
    if (live !== null) {
      ledger.reload();
      onChange();
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [live]);
  const balance = live ?? ledger.data?.balance ?? null;
  return (
    <Section title={`Token ${token}`}>
      <p>
        Balance: <strong data-testid="balance">{balance === null ? "…" : bytes(balance)}</strong>{" "}
        <span class="muted">({balance ?? "…"} bytes)</span>
      </p>
      <form
        class="inline"
        onSubmit={(e) => {
          e.preventDefault();
          redeem.run(async () => {
            await request(Redeem, { token, code: code.trim() });
            setCode("");
            ledger.reload();
          });
        }}
      >
        <label>
          Promocode
          <input value={code} onInput={(e) => setCode(e.currentTarget.value)} required />
        </label>
        <button type="submit" disabled={redeem.pending}>
          Redeem
        </button>
      </form>
      <ErrorNote error={redeem.error} />
      <h3>Ledger</h3>
      <Load state={ledger} isEmpty={(l) => l.ledger.edges.length === 0} empty="No entries yet.">
        {(l) => (
          <table>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Kind</th>
                <th scope="col">Amount</th>
                <th scope="col">Balance after</th>
                <th scope="col">Reference</th>
              </tr>
            </thead>
            <tbody>
              {l.ledger.edges.map(({ node }) => (
                <tr key={node.id}>
                  <td>{time(node.createdAt)}</td>
                  <td>{node.kind}</td>
                  <td>{node.amount}</td>
                  <td>{node.balanceAfter}</td>
                  <td>{node.reference ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Load>
    </Section>
  );
}
