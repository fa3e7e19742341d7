// Sign-In with Ethereum: a browser wallet (EIP-1193) or, for development and tests, a key
// kept in this browser.
import { useState } from "preact/hooks";
import { createSiweMessage } from "viem/siwe";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { getAddress, toHex, type Hex } from "viem";
import { graphql } from "./gql";
import { ApiError, request, saveSession, type Session } from "./api";
import { useAction } from "./hooks";
import { ErrorNote } from "./widgets";

const Nonce = graphql(`
  query SiweNonce {
    siweNonce
  }
`);

const SignIn = graphql(`
  mutation SignIn($message: String!, $signature: String!) {
    signIn(message: $message, signature: $signature) {
      token
      address
      expiresAt
    }
  }
`);

const SignOut = graphql(`
  mutation SignOut($token: String!) {
    signOut(token: $token)
  }
`);

const DEV_KEY = "wharf.devKey";

type Eip1193 = { request: (args: { method: string; params?: unknown[] }) => Promise<unknown> };

function browserWallet(): Eip1193 | null {
  return (window as unknown as { ethereum?: Eip1193 }).ethereum ?? null;
}

/** Signs a SIWE message for `address` with `sign` and opens a session. */
async function signInWith(address: Hex, sign: (message: string) => Promise<Hex>): Promise<Session> {
  const { siweNonce } = await request(Nonce);
  const message = createSiweMessage({
    domain: location.host,
    address: getAddress(address),
    statement: "Sign in to wharf.",
    uri: location.origin,
    version: "1",
    chainId: 1,
    nonce: siweNonce,
    issuedAt: new Date(),
  });
  const signature = await sign(message);
  const { signIn } = await request(SignIn, { message, signature });
  const session = { token: signIn.token, address: signIn.address, expiresAt: signIn.expiresAt };
  saveSession(session);
  return session;
}

export function SignInPanel({ onSession }: { onSession: (s: Session) => void }) {
  const action = useAction();
  const wallet = browserWallet();
  const withWallet = () =>
    action.run(async () => {
      if (!wallet) throw new ApiError("no browser wallet found", "NO_WALLET");
      const accounts = (await wallet.request({ method: "eth_requestAccounts" })) as Hex[];
      const address = accounts[0];
      if (!address) throw new ApiError("the wallet shared no account", "NO_WALLET");
      const session = await signInWith(address, async (message) =>
        (await wallet.request({
          method: "personal_sign",
          params: [toHex(message), address],
        })) as Hex,
      );
      onSession(session);
    });
  const withDevKey = () =>
    action.run(async () => {
      let key = localStorage.getItem(DEV_KEY) as Hex | null;
      if (!key) {
        key = generatePrivateKey();
        localStorage.setItem(DEV_KEY, key);
      }
      const account = privateKeyToAccount(key);
      const session = await signInWith(account.address, (message) => account.signMessage({ message }));
      onSession(session);
    });
  return (
    <div class="signin">
      <button type="button" onClick={withWallet} disabled={action.pending || !wallet}>
        Sign in with a wallet
      </button>
      <button type="button" onClick={withDevKey} disabled={action.pending}>
        Sign in with a development key
      </button>
      {!wallet && <span class="muted">No browser wallet (EIP-1193) found.</span>}
      <ErrorNote error={action.error} />
    </div>
  );
}

export function SignOutButton({ session, onDone }: { session: Session; onDone: () => void }) {
  const [pending, setPending] = useState(false);
  return (
    <button
      type="button"
      disabled={pending}
      onClick={async () => {
        setPending(true);
        try {
          await request(SignOut, { token: session.token });
        } catch {
          // The session ends here whatever the server says.
        }
        saveSession(null);
        setPending(false);
        onDone();
      }}
    >
      Sign out
    </button>
  );
}
