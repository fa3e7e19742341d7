import { useState } from "preact/hooks";
import { graphql } from "../gql";
import { request } from "../api";
import { useLoad } from "../hooks";
import { Load, Section, bytes, time } from "../widgets";

const HostedFiles = graphql(`
  query HostedFiles($token: String!) {
    hostedFiles(token: $token, first: 25) {
      edges {
        node {
          charged
          uploadedAt
          file {
            filehash
            name
            size
            cid
            ipfsPath
          }
        }
      }
    }
  }
`);

export function Hosted() {
  const [typed, setTyped] = useState("");
  const [token, setToken] = useState<string | null>(null);
  const files = useLoad(
    async () => (token ? (await request(HostedFiles, { token })).hostedFiles.edges : []),
    [token],
  );
  return (
    <Section title="Files of an access token">
      <p class="muted">
        Files uploaded to <code>/api/upload</code> (web-core / MetaDisk) with an access token. Their keys are only in
        the upload's answer: downloads here are of the ciphertext.
      </p>
      <form
        class="inline"
        onSubmit={(e) => {
          e.preventDefault();
          setToken(typed.trim() || null);
        }}
      >
        <label>
          Access token
          <input value={typed} onInput={(e) => setTyped(e.currentTarget.value)} autocomplete="off" />
        </label>
        <button type="submit">Show files</button>
      </form>
      {token && (
        <Load state={files} isEmpty={(f) => f.length === 0} empty="No files uploaded with this token.">
          {(edges) => (
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Size</th>
                  <th scope="col">Charged</th>
                  <th scope="col">Uploaded</th>
                  <th scope="col">Ciphertext</th>
                </tr>
              </thead>
              <tbody>
                {edges.map(({ node }) => (
                  <tr key={`${node.file.filehash}-${node.uploadedAt}`}>
                    <td>
                      <a href={`/api/find/${node.file.filehash}`}>{node.file.name}</a>
                    </td>
                    <td>{bytes(node.file.size)}</td>
                    <td>{bytes(node.charged)}</td>
                    <td>{time(node.uploadedAt)}</td>
                    <td>
                      <a href={node.file.ipfsPath} class="mono">
                        {node.file.cid.slice(0, 14)}…
                      </a>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Load>
      )}
    </Section>
  );
}
